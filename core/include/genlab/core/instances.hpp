// Host-side owners of plugin objects. Each wraps one genlab_*_api, calls it with a filled
// argument struct, checks what comes back (struct sizes, NULL outputs), and turns a
// returned error into a HostError naming the plugin and the call. Move-only RAII.
#pragma once

#include <memory>
#include <string>
#include <vector>
#include <toml++/toml.h>

#include "genlab/core/host_services.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/genlab.h"

namespace genlab {

struct TensorMapDeleter {
  void operator()(genlab_tensor_map* map) const { genlab_tensor_map_destroy(map); }
};
// An owned tensor map, freed through its own destroy (which calls every tensor's deleter).
using TensorMapPtr = std::unique_ptr<genlab_tensor_map, TensorMapDeleter>;

// A plugin call that succeeded but returned what the ABI does not allow (a score per example
// missing, samples of another shape than the data's, an infinite metric value): the host's
// check after the call, naming the plugin, the call, what came and what was expected. A
// HostError, so every caller that reports plugin failures reports these too.
class ContractError : public HostError {
 public:
  using HostError::HostError;
};

struct NamedScalar {
  std::string name;
  double value = 0;
  genlab_direction direction = GENLAB_DIRECTION_NONE;
};

// "lower", "higher" or "none": a direction as results files write it.
inline const char* direction_name(genlab_direction direction) {
  return direction == GENLAB_DIRECTION_LOWER ? "lower" : direction == GENLAB_DIRECTION_HIGHER ? "higher" : "none";
}

// Copies and frees a returned scalar list; a malformed one throws naming the plugin.
std::vector<NamedScalar> take_scalars(const Plugin& plugin, genlab_scalar_list* list, const char* call);
// Checks a returned tensor map's struct and names; throws naming the plugin and call.
TensorMapPtr take_tensor_map(const Plugin& plugin, genlab_tensor_map* map, const char* call);

// The `rays` modality's two kinds of batch (genlab.h, before genlab_dataset_info): the split
// "train" holds rays ("origins", "directions", "colors"), every other split whole views
// ("image", "pose", "focal"). Whether a batch of `split` holds `element`: for other
// modalities, every element of the info.
bool is_rays(const genlab_dataset_info& info);
bool split_holds(const genlab_dataset_info& info, const std::string& split, const std::string& element);

// The index of `name` in a map, or -1.
long find_tensor(const genlab_tensor_map& map, const std::string& name);

class ModelInstance {
 public:
  ModelInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config, DLDevice device,
                const genlab_dataset_info* data_info);
  ~ModelInstance();
  ModelInstance(const ModelInstance&) = delete;
  ModelInstance& operator=(const ModelInstance&) = delete;

  std::vector<NamedScalar> train_step(const genlab_tensor_map& batch, int64_t step);  // train_step
  // The same, for a run trained by several processes: `stop` is this process's wish to stop
  // after the step and `*stop_agreed` what all of them agreed (genlab_model_train_step_args).
  std::vector<NamedScalar> train_step(const genlab_tensor_map& batch, int64_t step, int32_t stop,
                                      int32_t* stop_agreed);  // train_step
  // Checked after the call (ContractError): the first output has `count` rows; unless the
  // model declares GENERATE_NEEDS_INPUTS, for data of modality "points" or "image" it is
  // [count, <the shape of the dataset's first element>], for "tokens" [count, L], for "rays"
  // rendered views [count, C, H, W].
  TensorMapPtr generate(int64_t count, const toml::table* options,
                        const genlab_tensor_map* inputs);  // generate
  bool can_score() const;
  // Checked after the call (ContractError): per-example scores, each tensor floating point
  // with one row per example of `batch` (the rows of its first tensor), the first [N].
  TensorMapPtr score(const genlab_tensor_map& batch);  // score
  // What the last score's values measure (genlab_model_score_args::convention); empty when
  // the plugin did not say (an older plugin, or one that leaves it NULL).
  const std::string& score_convention() const { return score_convention_; }
  TensorMapPtr export_state();  // export_state
  // How many scalar values training updates, as the model stated at its last export_state
  // (ABI 1.6); -1 when it did not (an older plugin, or one that leaves it unset).
  int64_t trainable_parameters() const { return trainable_parameters_; }
  void import_state(const genlab_tensor_map& state);  // import_state
  const Plugin& plugin() const { return *plugin_; }

 private:
  std::string score_convention_;
  int64_t trainable_parameters_ = -1;
  std::shared_ptr<const Plugin> plugin_;
  std::unique_ptr<HostServices> host_;
  genlab_model* model_ = nullptr;
  // What generate's outputs are checked against, copied from the data_info given to create.
  bool has_data_ = false;
  std::string modality_;
  std::string element_name_;            // the dataset's first element: the data
  std::vector<int64_t> element_shape_;  // its shape without the batch dimension
};

class DatasetInstance {
 public:
  DatasetInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config);
  ~DatasetInstance();
  DatasetInstance(const DatasetInstance&) = delete;
  DatasetInstance& operator=(const DatasetInstance&) = delete;

  // info; checked once at creation (struct size, splits, elements) and kept.
  const genlab_dataset_info& info() const { return *info_; }
  int64_t split_size(const std::string& split) const;  // throws naming the splits there are
  TensorMapPtr get_batch(const std::string& split, const std::vector<int64_t>& indices,
                         uint64_t seed);  // get_batch
  const Plugin& plugin() const { return *plugin_; }

 private:
  std::shared_ptr<const Plugin> plugin_;
  std::unique_ptr<HostServices> host_;
  genlab_dataset* dataset_ = nullptr;
  const genlab_dataset_info* info_ = nullptr;
  genlab_dataset_info info_copy_{};  // zero-filled tail for an older plugin's smaller struct
};

class MetricInstance {
 public:
  MetricInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config);
  ~MetricInstance();
  MetricInstance(const MetricInstance&) = delete;
  MetricInstance& operator=(const MetricInstance&) = delete;

  void update(const genlab_tensor_map* real, const genlab_tensor_map* generated,
              const genlab_tensor_map* scores);  // update
  // Checked after the call (ContractError): every name non-empty and unique, no value
  // infinite. NaN is allowed (genlab_scalar_list: "not a number") and returned as it is;
  // nan_names() lists the values of a result that are NaN.
  std::vector<NamedScalar> compute();  // compute
  static std::vector<std::string> nan_names(const std::vector<NamedScalar>& values);
  void reset();  // reset
  const Plugin& plugin() const { return *plugin_; }

 private:
  std::shared_ptr<const Plugin> plugin_;
  std::unique_ptr<HostServices> host_;
  genlab_metric* metric_ = nullptr;
};

class BackendInstance {
 public:
  BackendInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config);
  ~BackendInstance();
  BackendInstance(const BackendInstance&) = delete;
  BackendInstance& operator=(const BackendInstance&) = delete;

  const std::vector<int32_t>& device_types() const { return device_types_; }  // info
  const std::vector<std::string>& op_names() const { return op_names_; }      // info
  TensorMapPtr run_op(const std::string& op, const genlab_tensor_map& inputs,
                      const toml::table* options);  // run_op
  const Plugin& plugin() const { return *plugin_; }

 private:
  std::shared_ptr<const Plugin> plugin_;
  std::unique_ptr<HostServices> host_;
  genlab_backend* backend_ = nullptr;
  std::vector<int32_t> device_types_;
  std::vector<std::string> op_names_;
};

}  // namespace genlab
