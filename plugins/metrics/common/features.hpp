// What the metrics compare: each side's raw data tensor (params real_key / generated_key;
// empty: the map's first tensor) or the host's feature-network "features" (param features),
// kept as float64 rows [N, D] on the CPU and gathered over update() calls.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <genlab/sdk/plugin.hpp>

namespace genlab::metrics {

using sdk::Tensors;

constexpr int64_t kAll = std::numeric_limits<int64_t>::max();

// The params every metric of this folder has: which tensor of each side's map it reads.
struct DataKeys {
  std::string real_key;
  std::string generated_key;
};

// Those of a feature-space metric: the data keys and the switch between features and data.
struct FeatureOptions {
  DataKeys keys;
  std::string features = "auto";
};

// Appends real_key and generated_key, the members of the DataKeys that `keys(options)` returns.
template <class Options, class Access>
sdk::Params<Options>& add_data_keys(sdk::Params<Options>& params, Access keys) {
  return params
      .add(
          "real_key", [keys](Options& o) -> std::string& { return keys(o).real_key; },
          "name of the real data tensor; empty: the first")
      .add(
          "generated_key", [keys](Options& o) -> std::string& { return keys(o).generated_key; },
          "name of the generated tensor; empty: the first");
}

// The params of a metric that reads data tensors, declared by `data`, its DataKeys member;
// the metric's own params follow with .add().
template <class Options>
sdk::Params<Options> data_params(DataKeys Options::*data) {
  sdk::Params<Options> params;
  add_data_keys(params, [data](Options& o) -> DataKeys& { return o.*data; });
  return params;
}

// The params of a feature-space metric, declared by `data`, its FeatureOptions member; the
// metric's own params follow with .add().
template <class Options>
sdk::Params<Options> feature_params(FeatureOptions Options::*data) {
  sdk::Params<Options> params;
  add_data_keys(params, [data](Options& o) -> DataKeys& { return (o.*data).keys; });
  params
      .add(
          "features", [data](Options& o) -> std::string& { return (o.*data).features; },
          "auto: the feature network's 'features' when both sides have them, else the flattened data; "
          "network: require them; pixels: always the flattened data")
      .one_of({"auto", "network", "pixels"});
  return params;
}

// "a, b, c": the names of a map's tensors, for errors.
inline std::string names(const Tensors& map) {
  std::string out;
  for (const auto& e : map.entries()) out += (out.empty() ? "" : ", ") + e.first;
  return out;
}

// The entry `key` of the `side` map ("real" or "generated"), or its first when key is empty.
inline const Tensors::Entry& data_entry(const Tensors& map, const std::string& key, const std::string& side) {
  GENLAB_CHECK(!map.empty(), GENLAB_ERROR_INVALID_ARGUMENT, "expected " + side + " tensors, got an empty map");
  if (key.empty()) return map.entries().front();
  for (const auto& e : map.entries())
    if (e.first == key) return e;
  throw sdk::Error(GENLAB_ERROR_INVALID_ARGUMENT, "expected a tensor '" + key + "' in the " + side + " map (param " +
                                                      side + "_key), got [" + names(map) + "]");
}

// Examples as rows [N, D] (float64 unless told), copied to the CPU and gathered over updates.
class Rows {
 public:
  explicit Rows(at::ScalarType dtype = at::kDouble) : dtype_(dtype) {}

  // Adds t [N, ...] as N rows; `what` ("real 'features'") names it in errors.
  void add(const at::Tensor& t, const std::string& what) {
    GENLAB_CHECK(t.dim() >= 1, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected " + what + " to have a batch dimension, got a scalar");
    if (t.size(0) == 0) return;
    at::Tensor rows = t.detach().to(at::kCPU, dtype_, false, true).reshape({t.size(0), -1});
    GENLAB_CHECK(parts_.empty() || rows.size(1) == parts_.front().size(1), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected " + what + " with " + std::to_string(parts_.front().size(1)) +
                     " values per example as in earlier updates, got shape " + c10::str(t.sizes()));
    parts_.push_back(std::move(rows));
  }
  int64_t count() const {
    int64_t n = 0;
    for (const auto& p : parts_) n += p.size(0);
    return n;
  }
  // The first `max` rows (all by default); needs at least one.
  at::Tensor all(int64_t max = kAll) const {
    const at::Tensor x = parts_.size() == 1 ? parts_.front() : at::cat(parts_);
    return x.narrow(0, 0, std::min(max, x.size(0)));
  }
  void clear() { parts_.clear(); }

 private:
  at::ScalarType dtype_;
  std::vector<at::Tensor> parts_;
};

// The real and generated rows of a feature-space metric (its FeatureOptions), gathered over
// update() calls.
class FeaturePairs {
 public:
  explicit FeaturePairs(const FeatureOptions& options)
      : real_key_(options.keys.real_key), generated_key_(options.keys.generated_key), requested_(options.features) {
    reset();
  }

  void update(const Tensors& real, const Tensors& generated) {
    GENLAB_CHECK(!real.empty() || !generated.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected real or generated examples, got neither");
    if (source_ == "auto")  // decided at the first update, then kept
      source_ = (real.empty() || real.contains("features")) && (generated.empty() || generated.contains("features"))
                    ? "network"
                    : "pixels";
    if (!real.empty()) add(real_, real, real_key_, "real");
    if (!generated.empty()) add(generated_, generated, generated_key_, "generated");
  }

  // The first `max_examples` rows of each side, each side with at least `min_rows`, same width.
  std::pair<at::Tensor, at::Tensor> both(int64_t max_examples, int64_t min_rows) const {
    const int64_t n = real_.count(), m = generated_.count();
    GENLAB_CHECK(
        n > 0 && m > 0, GENLAB_ERROR_FAILED_PRECONDITION,
        "expected real and generated examples before compute, got " + std::to_string(n) + " and " + std::to_string(m));
    GENLAB_CHECK(std::min({n, m, max_examples}) >= min_rows, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected at least " + std::to_string(min_rows) + " real and generated examples, got " +
                     std::to_string(n) + " and " + std::to_string(m) + " (max_examples " +
                     std::to_string(max_examples) + ")");
    at::Tensor x = real_.all(max_examples), y = generated_.all(max_examples);
    GENLAB_CHECK(x.size(1) == y.size(1), GENLAB_ERROR_INVALID_ARGUMENT,
                 "real and generated " + what() + " differ in size: D = " + std::to_string(x.size(1)) + " vs " +
                     std::to_string(y.size(1)));
    return {x, y};
  }

  const Rows& real() const { return real_; }
  const Rows& generated() const { return generated_; }
  // "network features" or "flattened data": what the rows are, for messages.
  std::string what() const { return source_ == "network" ? "network features" : "flattened data"; }

  void reset() {
    real_.clear();
    generated_.clear();
    source_ = requested_;
  }

 private:
  void add(Rows& rows, const Tensors& map, const std::string& key, const std::string& side) {
    if (source_ == "pixels") {
      const auto& [name, tensor] = data_entry(map, key, side);
      rows.add(tensor, side + " '" + name + "'");
      return;
    }
    GENLAB_CHECK(map.contains("features"), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected a 'features' tensor in the " + side + " map, got [" + names(map) + "]: features = \"" +
                     requested_ + "\"" + (requested_ == "auto" ? " (chosen at the first update)" : "") +
                     " needs them, so the experiment needs a feature network; or set features = \"pixels\"");
    rows.add(map.at("features"), side + " 'features'");
  }

  std::string real_key_, generated_key_, requested_, source_;
  Rows real_, generated_;
};

}  // namespace genlab::metrics
