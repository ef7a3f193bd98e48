#include "genlab/core/instances.hpp"

#include <cmath>
#include <cstring>

#include "genlab/util/error.hpp"

namespace genlab {
namespace {

template <class Args>
Args make_args(size_t size) {
  Args args{};
  args.struct_size = size;
  return args;
}

// Calls plugin code that must not throw across the C boundary; if it does anyway (a
// hand-written C++ plugin without the SDK), the exception becomes a HostError.
template <class Fn>
genlab_error* call_plugin(const Plugin& plugin, const char* call, Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    throw HostError(plugin.label() + ": " + call + " threw an exception across the C ABI: " + e.what());
  } catch (...) {
    throw HostError(plugin.label() + ": " + call + " threw an exception across the C ABI");
  }
}

const genlab_config* handle_or_null(const toml::table* table, std::unique_ptr<ConfigHandle>& holder) {
  if (table == nullptr) return nullptr;
  holder = std::make_unique<ConfigHandle>(*table);
  return holder->get();
}

// ---------------------------------------------------------------- contract checks
//
// What a call returned, against what the ABI promises (genlab.h); a breach throws
// "<plugin>: <call> returned <what>; expected <what the ABI promises>".

std::string shape_text(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

std::vector<int64_t> dims_of(const DLTensor& t) {
  if (t.ndim <= 0 || t.shape == nullptr) return {};
  return std::vector<int64_t>(t.shape, t.shape + t.ndim);
}

std::string dtype_text(DLDataType d) {
  std::string code;
  switch (d.code) {
    case kDLInt: code = "int"; break;
    case kDLUInt: code = "uint"; break;
    case kDLFloat: code = "float"; break;
    case kDLBfloat: code = "bfloat"; break;
    default: code = "dtype-code-" + std::to_string(d.code) + "-"; break;
  }
  std::string out = code + std::to_string(d.bits);
  if (d.lanes != 1) out += "x" + std::to_string(d.lanes);
  return out;
}

bool is_floating(DLDataType d) { return (d.code == kDLFloat || d.code == kDLBfloat) && d.lanes == 1; }

// "'samples' of shape [2, 3]"
std::string described(const genlab_tensor_map& map, size_t i) {
  return "'" + std::string(map.names[i]) + "' of shape " + shape_text(dims_of(map.tensors[i]->dl_tensor));
}

[[noreturn]] void breach(const Plugin& plugin, const char* call, const std::string& returned,
                         const std::string& expected) {
  throw ContractError(plugin.label() + ": " + call + " returned " + returned + "; expected " + expected);
}

std::string rows_text(int64_t rows) { return std::to_string(rows) + (rows == 1 ? " row" : " rows"); }

}  // namespace

bool is_rays(const genlab_dataset_info& info) {
  return info.modality != nullptr && std::string(info.modality) == "rays";
}

bool split_holds(const genlab_dataset_info& info, const std::string& split, const std::string& element) {
  if (!is_rays(info)) return true;
  const bool ray_element = element == "origins" || element == "directions" || element == "colors";
  return (split == "train") == ray_element;
}

long find_tensor(const genlab_tensor_map& map, const std::string& name) {
  for (size_t i = 0; i < map.count; ++i)
    if (map.names[i] != nullptr && name == map.names[i]) return static_cast<long>(i);
  return -1;
}

std::vector<NamedScalar> take_scalars(const Plugin& plugin, genlab_scalar_list* list, const char* call) {
  if (list == nullptr) throw HostError(plugin.label() + ": " + call + " succeeded but returned no scalar list");
  struct Guard {
    genlab_scalar_list* list;
    ~Guard() { genlab_scalar_list_destroy(list); }
  } guard{list};
  if (list->struct_size < min_size::scalar_list)
    throw HostError(plugin.label() + ": " + call + " returned a scalar list with struct_size " +
                    std::to_string(list->struct_size) + " < " + std::to_string(min_size::scalar_list));
  std::vector<NamedScalar> out;
  out.reserve(list->count);
  for (size_t i = 0; i < list->count; ++i) {
    if (list->names == nullptr || list->names[i] == nullptr || list->values == nullptr)
      throw HostError(plugin.label() + ": " + call + " returned a scalar list with a NULL entry at " +
                      std::to_string(i));
    NamedScalar s;
    s.name = list->names[i];
    s.value = list->values[i];
    s.direction = list->directions ? static_cast<genlab_direction>(list->directions[i]) : GENLAB_DIRECTION_NONE;
    out.push_back(std::move(s));
  }
  return out;
}

TensorMapPtr take_tensor_map(const Plugin& plugin, genlab_tensor_map* map, const char* call) {
  if (map == nullptr) throw HostError(plugin.label() + ": " + call + " succeeded but returned no tensor map");
  if (map->struct_size < min_size::tensor_map || map->destroy == nullptr) {
    // Without a trustworthy destroy we cannot free it; leaking beats calling garbage.
    throw HostError(plugin.label() + ": " + call + " returned a tensor map with struct_size " +
                    std::to_string(map->struct_size) + " or no destroy function");
  }
  TensorMapPtr owned(map);
  for (size_t i = 0; i < map->count; ++i) {
    if (map->names == nullptr || map->names[i] == nullptr)
      throw HostError(plugin.label() + ": " + call + " returned a tensor map with an unnamed slot " +
                      std::to_string(i));
    if (map->tensors == nullptr || map->tensors[i] == nullptr)
      throw HostError(plugin.label() + ": " + call + " returned tensor '" + map->names[i] + "' as NULL");
    for (size_t j = 0; j < i; ++j)
      if (std::strcmp(map->names[i], map->names[j]) == 0)
        throw HostError(plugin.label() + ": " + call + " returned two tensors named '" + map->names[i] + "'");
  }
  return owned;
}

// ------------------------------------------------------------------------------- model

ModelInstance::ModelInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config,
                             DLDevice device, const genlab_dataset_info* data_info)
    : plugin_(std::move(plugin)), host_(std::make_unique<HostServices>(std::move(settings))) {
  ConfigHandle handle(config);
  auto args = make_args<genlab_model_create_args>(GENLAB_MODEL_CREATE_ARGS_STRUCT_SIZE);
  args.host = host_->api();
  args.config = handle.get();
  args.device = device;
  args.data_info = data_info;
  plugin_->check(call_plugin(*plugin_, "create", [&] { return plugin_->model().create(&args); }), "create");
  if (args.model == nullptr) throw HostError(plugin_->label() + ": create succeeded but returned no model");
  model_ = args.model;
  // Keep what generate's outputs are checked against: the info is borrowed for create only.
  if (data_info != nullptr && data_info->modality != nullptr) {
    has_data_ = true;
    modality_ = data_info->modality;
    if (data_info->element_count > 0 && data_info->elements != nullptr) {
      const genlab_element_spec& first = data_info->elements[0];
      element_name_ = first.name != nullptr ? first.name : "";
      if (first.ndim > 0 && first.shape != nullptr) element_shape_.assign(first.shape, first.shape + first.ndim);
    } else {
      has_data_ = false;  // nothing to compare a sample with
    }
  }
}

ModelInstance::~ModelInstance() {
  if (model_ != nullptr) plugin_->model().destroy(model_);
}

std::vector<NamedScalar> ModelInstance::train_step(const genlab_tensor_map& batch, int64_t step) {
  return train_step(batch, step, 0, nullptr);
}

std::vector<NamedScalar> ModelInstance::train_step(const genlab_tensor_map& batch, int64_t step, int32_t stop,
                                                   int32_t* stop_agreed) {
  auto args = make_args<genlab_model_train_step_args>(GENLAB_MODEL_TRAIN_STEP_ARGS_STRUCT_SIZE);
  args.model = model_;
  args.batch = &batch;
  args.step = step;
  args.stop = stop;
  args.stop_agreed = stop;  // what a plugin that ignores the field leaves: this process's own wish
  plugin_->check(call_plugin(*plugin_, "train_step", [&] { return plugin_->model().train_step(&args); }), "train_step");
  if (stop_agreed != nullptr) *stop_agreed = args.stop_agreed;
  return take_scalars(*plugin_, args.losses, "train_step");
}

TensorMapPtr ModelInstance::generate(int64_t count, const toml::table* options, const genlab_tensor_map* inputs) {
  std::unique_ptr<ConfigHandle> holder;
  auto args = make_args<genlab_model_generate_args>(GENLAB_MODEL_GENERATE_ARGS_STRUCT_SIZE);
  args.model = model_;
  args.count = count;
  args.options = handle_or_null(options, holder);
  args.inputs = inputs;
  plugin_->check(call_plugin(*plugin_, "generate", [&] { return plugin_->model().generate(&args); }), "generate");
  TensorMapPtr out = take_tensor_map(*plugin_, args.outputs, "generate");

  // genlab_model_generate_args: `count` samples (views rendered, inputs mapped), the first
  // output being them, batch dimension first.
  if (out->count == 0)
    breach(*plugin_, "generate", "no outputs", "the first output to hold the " + rows_text(count) + " asked for");
  const DLTensor& first = out->tensors[0]->dl_tensor;
  const std::vector<int64_t> dims = dims_of(first);
  if (dims.empty() || dims[0] != count)
    breach(*plugin_, "generate", described(*out, 0) + " for a count of " + std::to_string(count),
           "its first dimension to be the " + rows_text(count) + " asked for");
  // A model that maps inputs to outputs (a classifier) answers in its own terms: rows only.
  if (!has_data_ || plugin_->has(GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS)) return out;
  if (modality_ == "points" || modality_ == "image") {
    std::vector<int64_t> want{count};
    want.insert(want.end(), element_shape_.begin(), element_shape_.end());
    if (dims != want)
      breach(*plugin_, "generate", described(*out, 0),
             shape_text(want) + ": " + rows_text(count) + " of the dataset's " + modality_ + " element '" +
                 element_name_ + "' " + shape_text(element_shape_));
  } else if (modality_ == "tokens") {
    if (dims.size() != 2)
      breach(*plugin_, "generate", described(*out, 0),
             "[" + std::to_string(count) + ", L]: " + rows_text(count) + " of tokens");
  } else if (modality_ == "rays") {
    if (dims.size() != 4)
      breach(*plugin_, "generate", described(*out, 0),
             "[" + std::to_string(count) + ", C, H, W]: " + std::to_string(count) + " rendered view(s)");
  }
  return out;
}

bool ModelInstance::can_score() const {
  return plugin_->model().score != nullptr && plugin_->has(GENLAB_CAPABILITY_SCORE);
}

TensorMapPtr ModelInstance::score(const genlab_tensor_map& batch) {
  if (!can_score())
    throw HostError(plugin_->label() + " offers no score (no likelihood): pick a metric that does not need one");
  auto args = make_args<genlab_model_score_args>(GENLAB_MODEL_SCORE_ARGS_STRUCT_SIZE);
  args.model = model_;
  args.batch = &batch;
  plugin_->check(call_plugin(*plugin_, "score", [&] { return plugin_->model().score(&args); }), "score");
  // A bounded copy: the plugin's string is only promised to live as long as the model.
  score_convention_ =
      args.convention != nullptr ? std::string(args.convention, strnlen(args.convention, 64)) : std::string();
  TensorMapPtr scores = take_tensor_map(*plugin_, args.scores, "score");

  // genlab_model_score_args: per-example scores, e.g. "nll" [N]. N is the batch's rows (of its
  // first tensor; unknown for an empty batch). Other tensors may have more dimensions (a
  // transformer's "nll_per_token" [N, T]) but one row per example too.
  int64_t rows = -1;
  if (batch.count > 0 && batch.tensors != nullptr && batch.tensors[0] != nullptr &&
      batch.tensors[0]->dl_tensor.ndim > 0)
    rows = batch.tensors[0]->dl_tensor.shape[0];
  const std::string n = rows >= 0 ? std::to_string(rows) : "N";
  const std::string of_batch = rows >= 0 ? " for a batch of " + rows_text(rows) : "";
  if (scores->count == 0)
    breach(*plugin_, "score", "no scores" + of_batch, "per-example scores, the first [" + n + "]");
  for (size_t i = 0; i < scores->count; ++i) {
    const DLTensor& t = scores->tensors[i]->dl_tensor;
    const std::vector<int64_t> dims = dims_of(t);
    if (i == 0 && (dims.size() != 1 || (rows >= 0 && dims[0] != rows)))
      breach(*plugin_, "score", described(*scores, i) + of_batch, "[" + n + "]: one score per example");
    if (dims.empty() || (rows >= 0 && dims[0] != rows))
      breach(*plugin_, "score", described(*scores, i) + of_batch,
             "[" + n + ", ...]: per-example scores, one row per example");
    if (!is_floating(t.dtype))
      breach(*plugin_, "score", "'" + std::string(scores->names[i]) + "' of dtype " + dtype_text(t.dtype),
             "floating-point scores (e.g. float32 nats)");
  }
  return scores;
}

TensorMapPtr ModelInstance::export_state() {
  auto args = make_args<genlab_model_export_state_args>(GENLAB_MODEL_EXPORT_STATE_ARGS_STRUCT_SIZE);
  args.model = model_;
  args.trainable_parameters = -1;  // a plugin older than 1.6 leaves it so
  plugin_->check(call_plugin(*plugin_, "export_state", [&] { return plugin_->model().export_state(&args); }),
                 "export_state");
  TensorMapPtr state = take_tensor_map(*plugin_, args.state, "export_state");
  if (args.trainable_parameters < -1)
    breach(*plugin_, "export_state", "trainable_parameters " + std::to_string(args.trainable_parameters),
           "a count >= 0, or -1 for none stated");
  trainable_parameters_ = args.trainable_parameters;
  return state;
}

void ModelInstance::import_state(const genlab_tensor_map& state) {
  auto args = make_args<genlab_model_import_state_args>(GENLAB_MODEL_IMPORT_STATE_ARGS_STRUCT_SIZE);
  args.model = model_;
  args.state = &state;
  plugin_->check(call_plugin(*plugin_, "import_state", [&] { return plugin_->model().import_state(&args); }),
                 "import_state");
}

// ----------------------------------------------------------------------------- dataset

DatasetInstance::DatasetInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config)
    : plugin_(std::move(plugin)), host_(std::make_unique<HostServices>(std::move(settings))) {
  ConfigHandle handle(config);
  auto args = make_args<genlab_dataset_create_args>(GENLAB_DATASET_CREATE_ARGS_STRUCT_SIZE);
  args.host = host_->api();
  args.config = handle.get();
  plugin_->check(call_plugin(*plugin_, "create", [&] { return plugin_->dataset().create(&args); }), "create");
  if (args.dataset == nullptr) throw HostError(plugin_->label() + ": create succeeded but returned no dataset");
  dataset_ = args.dataset;

  auto info_args = make_args<genlab_dataset_info_args>(GENLAB_DATASET_INFO_ARGS_STRUCT_SIZE);
  info_args.dataset = dataset_;
  plugin_->check(call_plugin(*plugin_, "info", [&] { return plugin_->dataset().info(&info_args); }), "info");
  const genlab_dataset_info* info = info_args.info;
  if (info == nullptr) throw HostError(plugin_->label() + ": info returned no description of the data");
  if (info->struct_size < min_size::dataset_info)
    throw HostError(plugin_->label() + ": genlab_dataset_info.struct_size is " + std::to_string(info->struct_size) +
                    ", smaller than the " + std::to_string(min_size::dataset_info) + " bytes of ABI 1.0");
  // Read only what the plugin's struct covers; the rest stays zero (an older minor).
  std::memcpy(&info_copy_, info, std::min(info->struct_size, sizeof(info_copy_)));
  info_copy_.struct_size = sizeof(info_copy_);
  if (info_copy_.modality == nullptr || info_copy_.split_count == 0 || info_copy_.split_names == nullptr ||
      info_copy_.split_sizes == nullptr)
    throw HostError(plugin_->label() + ": info must give a modality and at least one split");
  for (size_t i = 0; i < info_copy_.element_count; ++i)
    if (info_copy_.elements[i].struct_size < min_size::element_spec || info_copy_.elements[i].name == nullptr)
      throw HostError(plugin_->label() + ": info's element " + std::to_string(i) + " is malformed");
  info_ = &info_copy_;
}

DatasetInstance::~DatasetInstance() {
  if (dataset_ != nullptr) plugin_->dataset().destroy(dataset_);
}

int64_t DatasetInstance::split_size(const std::string& split) const {
  std::string names;
  for (size_t i = 0; i < info_->split_count; ++i) {
    if (split == info_->split_names[i]) return info_->split_sizes[i];
    names += (names.empty() ? "" : ", ") + std::string(info_->split_names[i]);
  }
  throw HostError(plugin_->label() + " has no split '" + split + "' (it has: " + names + ")");
}

TensorMapPtr DatasetInstance::get_batch(const std::string& split, const std::vector<int64_t>& indices, uint64_t seed) {
  auto args = make_args<genlab_dataset_get_batch_args>(GENLAB_DATASET_GET_BATCH_ARGS_STRUCT_SIZE);
  args.dataset = dataset_;
  args.split = split.c_str();
  args.indices = indices.data();
  args.count = indices.size();
  args.seed = seed;
  plugin_->check(call_plugin(*plugin_, "get_batch", [&] { return plugin_->dataset().get_batch(&args); }), "get_batch");
  return take_tensor_map(*plugin_, args.batch, "get_batch");
}

// ------------------------------------------------------------------------------ metric

MetricInstance::MetricInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config)
    : plugin_(std::move(plugin)), host_(std::make_unique<HostServices>(std::move(settings))) {
  ConfigHandle handle(config);
  auto args = make_args<genlab_metric_create_args>(GENLAB_METRIC_CREATE_ARGS_STRUCT_SIZE);
  args.host = host_->api();
  args.config = handle.get();
  plugin_->check(call_plugin(*plugin_, "create", [&] { return plugin_->metric().create(&args); }), "create");
  if (args.metric == nullptr) throw HostError(plugin_->label() + ": create succeeded but returned no metric");
  metric_ = args.metric;
}

MetricInstance::~MetricInstance() {
  if (metric_ != nullptr) plugin_->metric().destroy(metric_);
}

void MetricInstance::update(const genlab_tensor_map* real, const genlab_tensor_map* generated,
                            const genlab_tensor_map* scores) {
  auto args = make_args<genlab_metric_update_args>(GENLAB_METRIC_UPDATE_ARGS_STRUCT_SIZE);
  args.metric = metric_;
  args.real = real;
  args.generated = generated;
  args.scores = scores;
  plugin_->check(call_plugin(*plugin_, "update", [&] { return plugin_->metric().update(&args); }), "update");
}

std::vector<NamedScalar> MetricInstance::compute() {
  auto args = make_args<genlab_metric_compute_args>(GENLAB_METRIC_COMPUTE_ARGS_STRUCT_SIZE);
  args.metric = metric_;
  plugin_->check(call_plugin(*plugin_, "compute", [&] { return plugin_->metric().compute(&args); }), "compute");
  std::vector<NamedScalar> values = take_scalars(*plugin_, args.results, "compute");
  // genlab_scalar_list: named numbers, NaN allowed ("not a number"); an infinity is not one
  // of them, and a name must say which value it is.
  for (size_t i = 0; i < values.size(); ++i) {
    const NamedScalar& v = values[i];
    if (v.name.empty())
      breach(*plugin_, "compute", "an empty name for value " + std::to_string(i), "every value named");
    for (size_t j = 0; j < i; ++j)
      if (values[j].name == v.name) breach(*plugin_, "compute", "two values named '" + v.name + "'", "unique names");
    if (std::isinf(v.value))
      breach(*plugin_, "compute", "value '" + v.name + "' = " + (v.value > 0 ? "+inf" : "-inf"),
             "a finite number, or NaN for one that cannot be computed");
  }
  return values;
}

std::vector<std::string> MetricInstance::nan_names(const std::vector<NamedScalar>& values) {
  std::vector<std::string> out;
  for (const auto& v : values)
    if (std::isnan(v.value)) out.push_back(v.name);
  return out;
}

void MetricInstance::reset() {
  plugin_->check(call_plugin(*plugin_, "reset", [&] { return plugin_->metric().reset(metric_); }), "reset");
}

// ----------------------------------------------------------------------------- backend

BackendInstance::BackendInstance(std::shared_ptr<const Plugin> plugin, HostSettings settings, const toml::table& config)
    : plugin_(std::move(plugin)), host_(std::make_unique<HostServices>(std::move(settings))) {
  ConfigHandle handle(config);
  auto args = make_args<genlab_backend_create_args>(GENLAB_BACKEND_CREATE_ARGS_STRUCT_SIZE);
  args.host = host_->api();
  args.config = handle.get();
  plugin_->check(call_plugin(*plugin_, "create", [&] { return plugin_->backend().create(&args); }), "create");
  if (args.backend == nullptr) throw HostError(plugin_->label() + ": create succeeded but returned no backend");
  backend_ = args.backend;

  auto info = make_args<genlab_backend_info_args>(GENLAB_BACKEND_INFO_ARGS_STRUCT_SIZE);
  info.backend = backend_;
  plugin_->check(call_plugin(*plugin_, "info", [&] { return plugin_->backend().info(&info); }), "info");
  if (info.device_types) device_types_.assign(info.device_types, info.device_types + info.device_type_count);
  for (size_t i = 0; i < info.op_count; ++i)
    if (info.op_names && info.op_names[i]) op_names_.emplace_back(info.op_names[i]);
}

BackendInstance::~BackendInstance() {
  if (backend_ != nullptr) plugin_->backend().destroy(backend_);
}

TensorMapPtr BackendInstance::run_op(const std::string& op, const genlab_tensor_map& inputs,
                                     const toml::table* options) {
  std::unique_ptr<ConfigHandle> holder;
  auto args = make_args<genlab_backend_run_op_args>(GENLAB_BACKEND_RUN_OP_ARGS_STRUCT_SIZE);
  args.backend = backend_;
  args.op = op.c_str();
  args.inputs = &inputs;
  args.options = handle_or_null(options, holder);
  plugin_->check(call_plugin(*plugin_, "run_op", [&] { return plugin_->backend().run_op(&args); }), "run_op");
  return take_tensor_map(*plugin_, args.outputs, ("run_op '" + op + "'").c_str());
}

}  // namespace genlab
