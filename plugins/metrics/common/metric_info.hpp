// The description every metric plugin of this folder shares: version 1.0.0, needs real and
// generated examples, and the data params (with the features switch for feature-space ones).
#pragma once

#include <string>
#include <vector>

#include "features.hpp"

namespace genlab::metrics {

inline sdk::Info metric_info(std::string name, std::string family, std::string summary,
                             std::vector<std::string> modalities, bool features,
                             std::vector<sdk::Param> extra_params = {}) {
  sdk::Info i;
  i.name = std::move(name);
  i.version = "1.0.0";
  i.family = std::move(family);
  i.summary = std::move(summary);
  i.modalities = std::move(modalities);
  i.capabilities = GENLAB_CAPABILITY_NEEDS_REAL | GENLAB_CAPABILITY_NEEDS_GENERATED;
  // Feature-space metrics ask the host for its feature network on image data.
  if (features) i.capabilities |= GENLAB_CAPABILITY_READS_FEATURES;
  i.params = data_params(features);
  i.params.insert(i.params.end(), extra_params.begin(), extra_params.end());
  return i;
}

}  // namespace genlab::metrics
