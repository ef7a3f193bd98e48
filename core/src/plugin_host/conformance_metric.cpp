// `genlab plugins check` of a metric: create (and refuse wrongly typed parameters), update
// and compute on real data standing in for a model's samples, refuse an update with no data,
// and survive a reset.
#include <tuple>

#include "conformance_checker.hpp"
#include "genlab/genlab_util.h"

namespace genlab::conformance {
namespace {

// What a metric under test is fed: real data; real data standing in for generated outputs
// (a borrowed view of a second batch whose first tensor is named "samples", the name models
// give their main output); one score per example, as a model's score() gives; and, for a
// metric that reads a feature network's outputs, stand-ins of their shapes, "features"
// [N, 16] and "logits" [N, 10], appended as the host appends them to image data.
class MetricInputs {
 public:
  MetricInputs(DatasetInstance& data, bool reads_features) : reads_features_(reads_features) {
    const int64_t n = std::min<int64_t>(64, data.split_size("train"));
    real_batch_ = data.get_batch("train", range(n), 1);
    generated_batch_ = data.get_batch("train", range(n / 2, n), 2);
    generated_names_.assign(generated_batch_->names, generated_batch_->names + generated_batch_->count);
    if (!generated_names_.empty()) generated_names_[0] = "samples";
    generated_view_ = {GENLAB_TENSOR_MAP_STRUCT_SIZE, generated_batch_->count, generated_names_.data(),
                       generated_batch_->tensors, nullptr};
    scores_.reset(genlab_util_tensor_map_new(1));
    const int64_t count = real_batch_->tensors[0]->dl_tensor.shape[0];
    DLManagedTensor* nll = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 1, &count);
    for (int64_t i = 0; i < count; ++i)
      static_cast<float*>(nll->dl_tensor.data)[i] = 1.0f + 0.01f * static_cast<float>(i);
    genlab_util_tensor_map_set(scores_.get(), 0, "nll", nll);
    view_names_.reserve(2);
    view_tensors_.reserve(2);
    real_ = with_features(*real_batch_, 7);
    generated_ = with_features(generated_view_, 8);
  }
  MetricInputs(const MetricInputs&) = delete;
  MetricInputs& operator=(const MetricInputs&) = delete;

  const genlab_tensor_map& real() const { return real_; }
  const genlab_tensor_map& generated() const { return generated_; }
  const genlab_tensor_map* scores() const { return scores_.get(); }

 private:
  genlab_tensor_map with_features(const genlab_tensor_map& map, uint32_t seed) {
    if (!reads_features_) return map;
    const int64_t rows = map.tensors[0]->dl_tensor.shape[0];
    TensorMapPtr extra(genlab_util_tensor_map_new(2));
    uint32_t state = seed;
    auto uniform = [&] { return static_cast<float>((state = state * 1664525u + 1013904223u) >> 8) / 16777216.0f; };
    for (auto [index, name, width] : {std::tuple{0, "features", int64_t{16}}, std::tuple{1, "logits", int64_t{10}}}) {
      const int64_t shape[] = {rows, width};
      DLManagedTensor* t = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, shape);
      for (int64_t i = 0; i < rows * width; ++i) static_cast<float*>(t->dl_tensor.data)[i] = uniform();
      genlab_util_tensor_map_set(extra.get(), static_cast<size_t>(index), name, t);
    }
    view_names_.emplace_back(map.names, map.names + map.count);
    view_tensors_.emplace_back(map.tensors, map.tensors + map.count);
    for (size_t i = 0; i < extra->count; ++i) {
      view_names_.back().push_back(extra->names[i]);
      view_tensors_.back().push_back(extra->tensors[i]);
    }
    stand_ins_.push_back(std::move(extra));
    return genlab_tensor_map{GENLAB_TENSOR_MAP_STRUCT_SIZE, view_names_.back().size(), view_names_.back().data(),
                             view_tensors_.back().data(), nullptr};
  }

  bool reads_features_;
  TensorMapPtr real_batch_, generated_batch_, scores_;
  std::vector<const char*> generated_names_;
  genlab_tensor_map generated_view_{};
  std::vector<TensorMapPtr> stand_ins_;
  std::vector<std::vector<const char*>> view_names_;
  std::vector<std::vector<DLManagedTensor*>> view_tensors_;
  genlab_tensor_map real_{}, generated_{};
};

}  // namespace

void check_metric(Reporter& r, const std::shared_ptr<const Plugin>& plugin, const CheckOptions& options) {
  std::shared_ptr<const Plugin> data_plugin;
  if (!attempt(r, "metric: a dataset to feed it", [&] {
        data_plugin = find_dataset_for(*plugin, options, r);
        return "'" + data_plugin->name() + "'";
      }))
    return;
  DatasetInstance data(data_plugin, settings(data_plugin->name()), toml::table{});
  auto metric = create_checked<MetricInstance>(r, "metric", *plugin, [&](const toml::table& config) {
    return std::make_unique<MetricInstance>(plugin, settings(plugin->name()), config);
  });
  if (!metric) return;
  const MetricInputs in(data, plugin->has(GENLAB_CAPABILITY_READS_FEATURES));
  const bool needs_scores = plugin->has(GENLAB_CAPABILITY_NEEDS_SCORES);
  // The host checks the values' names (non-empty, unique) and that none is infinite
  // (MetricInstance::compute); a NaN is allowed and named here.
  attempt(r, "metric: update and compute give named finite scalars (or NaN) with directions", [&] {
    metric->update(&in.real(), &in.generated(), needs_scores ? in.scores() : nullptr);
    const auto values = metric->compute();
    std::string detail;
    for (const auto& s : values) detail += s.name + "=" + std::to_string(s.value) + " ";
    if (detail.empty()) throw HostError("compute returned no scalars");
    std::string nans;
    for (const auto& name : MetricInstance::nan_names(values)) nans += (nans.empty() ? "" : ", ") + name;
    if (!nans.empty()) detail += "(NaN: " + nans + ")";
    return detail;
  });
  expect_error(r, "metric: update with no data at all is an error", [&] { metric->update(nullptr, nullptr, nullptr); });
  attempt(r, "metric: reset then compute does not crash", [&] {
    metric->reset();
    try {
      metric->compute();
      return std::string("computed on no data");
    } catch (const ContractError&) {
      throw;  // an answer the ABI does not allow (an infinity) is not an error returned
    } catch (const HostError& e) {
      return std::string("returned an error: ") + e.what();
    }
  });
}

}  // namespace genlab::conformance
