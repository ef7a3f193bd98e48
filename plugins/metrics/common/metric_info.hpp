// The description every metric plugin of this folder shares: version 1.0.0, needs real and
// generated examples; `params` (a Params' describe(): data_params() or feature_params() and the
// metric's own).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "features.hpp"

namespace genlab::metrics {

inline sdk::Info metric_info(std::string name, std::string family, std::string summary,
                             std::vector<std::string> modalities, std::vector<sdk::Param> params) {
  sdk::Info i;
  i.name = std::move(name);
  i.version = "1.0.0";
  i.family = std::move(family);
  i.summary = std::move(summary);
  i.modalities = std::move(modalities);
  i.capabilities = GENLAB_CAPABILITY_NEEDS_REAL | GENLAB_CAPABILITY_NEEDS_GENERATED;
  // Feature-space metrics (those with the param features, from feature_params()) ask the host
  // for its feature network on image data.
  if (std::any_of(params.begin(), params.end(), [](const sdk::Param& p) { return p.name == "features"; }))
    i.capabilities |= GENLAB_CAPABILITY_READS_FEATURES;
  i.params = std::move(params);
  return i;
}

}  // namespace genlab::metrics
