// genlab/sdk/plugin.hpp — write a genlab plugin as a C++ class with LibTorch tensors.
//
// Header-only. A plugin derives from genlab::sdk::Model, Dataset, Metric or Backend, gives
// its class a static `info()` and a constructor taking a Context, and ends its file with
// GENLAB_PLUGIN(ClassName). This layer:
//   - converts DLPack tensor maps to at::Tensor and back without copying (inputs are
//     borrowed views; outputs hand the tensor's storage over through at::toDLPack);
//   - catches every exception at the boundary and returns it as a genlab_error;
//   - seeds LibTorch from the run's seed and sizes its thread pool from the host's budget;
//   - for a run trained by several processes, averages the losses, agrees on stopping and
//     gives each process its own random stream per step (the gradients are averaged by
//     genlab/sdk/distributed.hpp, which genlab/sdk/adam.hpp includes);
//   - exports the one entry symbol with the static function tables.
// It includes ATen, not torch/torch.h: a plugin that needs torch::nn includes that itself.
#pragma once

#include <ATen/ATen.h>
#include <ATen/DLConvertor.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"
#include "genlab/sdk/error.hpp"

namespace genlab::sdk {

// Runs `body` and turns whatever it throws into a genlab_error (NULL on success).
template <class Body>
genlab_error* guard(Body&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const Error& e) {
    return genlab_util_error_new(e.code(), "%s", e.what());
  } catch (const c10::Error& e) {
    return genlab_util_error_new(GENLAB_ERROR_INTERNAL, "%s", e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return genlab_util_error_new(GENLAB_ERROR_INTERNAL, "%s", e.what());
  } catch (...) {
    return genlab_util_error_new(GENLAB_ERROR_UNKNOWN, "an exception of unknown type");
  }
}

// ------------------------------------------------------------------------ host services

// A non-owning view of the host table (cheap to copy). Wraps genlab_host_api's calls.
class Host {
 public:
  Host() = default;
  explicit Host(const genlab_host_api* api) : api_(api) {}

  const genlab_host_api* api() const { return api_; }
  // genlab_host_api::seed (0 without a host).
  uint64_t seed() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, seed) ? api_->seed : 0;
  }
  // genlab_host_api::num_threads (0 when the host did not say).
  int32_t num_threads() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, num_threads) ? api_->num_threads : 0;
  }
  // genlab_host_api::is_cancelled.
  bool cancelled() const {
    return api_ && api_->is_cancelled && api_->is_cancelled(api_->context) != 0;
  }
  // genlab_host_api::report_progress.
  void progress(double fraction, const std::string& message = {}) const {
    if (api_ && api_->report_progress)
      api_->report_progress(api_->context, fraction, message.empty() ? nullptr : message.c_str());
  }
  // genlab_host_api::log.
  void log(genlab_log_level level, const std::string& message) const {
    if (api_ && api_->log) api_->log(api_->context, level, message.c_str());
  }
  void info(const std::string& message) const { log(GENLAB_LOG_INFO, message); }
  void warn(const std::string& message) const { log(GENLAB_LOG_WARN, message); }
  // Whether the host runs named ops on backend plugins (genlab_host_api::run_op, ABI 1.3).
  bool can_run_ops() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, run_op) && api_->run_op != nullptr;
  }
  // Data-parallel training (ABI 1.4): this process's rank among world_size() processes that
  // train one run, and the file where they meet. A host older than 1.4 reads as one process.
  int32_t rank() const { return distributed() ? api_->rank : 0; }
  int32_t world_size() const { return distributed() ? api_->world_size : 1; }
  const char* rendezvous() const { return distributed() ? api_->rendezvous : nullptr; }
  // genlab_host_api::precision (ABI 1.5): what the model's forward passes compute in. FP32
  // from an older host.
  genlab_precision precision() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, precision)
               ? static_cast<genlab_precision>(api_->precision)
               : GENLAB_PRECISION_FP32;
  }

 private:
  bool distributed() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, rendezvous) && api_->world_size > 1;
  }

  const genlab_host_api* api_ = nullptr;
};

// A non-owning view of a config section, valid during the call that gave it.
// get(key, default) returns the default when the key is missing and throws
// Error(INVALID_ARGUMENT) naming the key when it has another type.
class Config {
 public:
  Config() = default;
  Config(Host host, const genlab_config* config) : host_(host), config_(config) {}

  int64_t get(const char* key, int64_t fallback) const {
    return lookup<int64_t>(key, fallback, host_.api() ? host_.api()->config_get_int64 : nullptr, "an integer");
  }
  int64_t get(const char* key, int fallback) const { return get(key, static_cast<int64_t>(fallback)); }
  double get(const char* key, double fallback) const {
    return lookup<double>(key, fallback, host_.api() ? host_.api()->config_get_double : nullptr, "a number");
  }
  bool get(const char* key, bool fallback) const {
    return lookup<int32_t>(key, fallback ? 1 : 0,
                           host_.api() ? host_.api()->config_get_bool : nullptr, "a boolean") != 0;
  }
  std::string get(const char* key, const char* fallback) const {
    const char* value = lookup<const char*>(key, fallback,
                                host_.api() ? host_.api()->config_get_string : nullptr, "a string");
    return value ? std::string(value) : std::string();
  }

  // Whether the section holds the key, of whatever type (for defaults that depend on other
  // values: a parameter's declared default applies only where the user gave none).
  bool has(const char* key) const {
    if (config_ == nullptr || host_.api() == nullptr || host_.api()->config_get_string == nullptr) return false;
    const char* ignored = nullptr;
    return host_.api()->config_get_string(host_.api()->context, config_, key, &ignored) != GENLAB_CONFIG_MISSING;
  }

  // Like get(), but with a check that names the key: "expected latent > 0, got -3".
  int64_t get_positive(const char* key, int64_t fallback) const {
    const int64_t value = get(key, fallback);
    GENLAB_CHECK(value > 0, GENLAB_ERROR_INVALID_ARGUMENT,
          std::string("expected ") + key + " > 0, got " + std::to_string(value));
    return value;
  }

 private:
  template <class T, class Fn>
  T lookup(const char* key, T fallback, Fn fn, const char* expected) const {
    if (config_ == nullptr || fn == nullptr) return fallback;
    T out = fallback;
    switch (fn(host_.api()->context, config_, key, &out)) {
      case GENLAB_CONFIG_FOUND:
        return out;
      case GENLAB_CONFIG_WRONG_TYPE:
        throw Error(GENLAB_ERROR_INVALID_ARGUMENT,
                    std::string("expected ") + expected + " for key '" + key + "'");
      default:
        return fallback;
    }
  }
  Host host_;
  const genlab_config* config_ = nullptr;
};

// ---------------------------------------------------------------------- tensors & maps

inline at::Device to_device(DLDevice device) {
  switch (device.device_type) {
    case kDLCPU:
      return at::Device(at::kCPU);
    case kDLCUDA:
    case kDLCUDAManaged:
      return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device.device_id));
    case kDLROCM:  // LibTorch's ROCm builds present HIP devices as CUDA
      return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device.device_id));
    default:
      throw Error(GENLAB_ERROR_UNSUPPORTED_DEVICE,
                  "DLPack device type " + std::to_string(device.device_type) + " is not served");
  }
}

inline DLDevice to_dl_device(const at::Device& device) {
  DLDevice out;
  out.device_type = device.is_cuda() ? kDLCUDA : kDLCPU;
  out.device_id = device.is_cuda() ? device.index() : 0;
  if (out.device_id < 0) out.device_id = 0;
  return out;
}

// A view of a borrowed DLPack tensor as an at::Tensor: same memory, no copy, no ownership.
// The view must not outlive the call that lent the tensor. (The overload of from_blob
// without a deleter allocates no deleter context: this is on every call's path.)
inline at::Tensor borrow(const DLTensor& t) {
  GENLAB_CHECK(t.ndim >= 0 && t.ndim <= 64, GENLAB_ERROR_INVALID_ARGUMENT,
        "tensor with ndim " + std::to_string(t.ndim));
  const at::IntArrayRef sizes(t.shape, static_cast<size_t>(t.ndim));
  auto options = at::TensorOptions().dtype(at::toScalarType(t.dtype)).device(to_device(t.device));
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  if (t.strides != nullptr)
    return at::from_blob(data, sizes, at::IntArrayRef(t.strides, static_cast<size_t>(t.ndim)), options);
  return at::from_blob(data, sizes, options);  // NULL strides mean compact row-major
}

// Named tensors, in order. Lookup by name is linear: maps hold a handful of entries.
class Tensors {
 public:
  using Entry = std::pair<std::string, at::Tensor>;

  void add(std::string name, at::Tensor tensor) { entries_.emplace_back(std::move(name), std::move(tensor)); }
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  // The tensor called `name`; Error(NOT_FOUND) listing what there is if absent.
  const at::Tensor& at(const std::string& name) const {
    if (const at::Tensor* t = find(name)) return *t;
    std::string have;
    for (const auto& e : entries_) have += (have.empty() ? "" : ", ") + e.first;
    throw Error(GENLAB_ERROR_NOT_FOUND,
                "expected a tensor named '" + name + "', got [" + have + "]");
  }
  const at::Tensor* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.first == name) return &e.second;
    return nullptr;
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Entry>& entries() { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// Views of every tensor of a borrowed map (NULL reads as empty).
inline Tensors borrow(const genlab_tensor_map* map) {
  Tensors out;
  if (map == nullptr) return out;
  out.entries().reserve(map->count);
  for (size_t i = 0; i < map->count; ++i) {
    GENLAB_CHECK(map->tensors[i] != nullptr, GENLAB_ERROR_INVALID_ARGUMENT,
          std::string("tensor map slot '") + map->names[i] + "' is empty");
    out.add(map->names[i], borrow(map->tensors[i]->dl_tensor));
  }
  return out;
}

// Hands the tensors over as an owned genlab_tensor_map; each DLManagedTensor keeps its
// at::Tensor's storage alive until the receiver calls its deleter. No data is copied.
inline genlab_tensor_map* release(const Tensors& tensors) {
  genlab_tensor_map* map = genlab_util_tensor_map_new(tensors.size());
  if (map == nullptr) throw std::bad_alloc();
  size_t index = 0;
  for (const auto& [name, tensor] : tensors.entries()) {
    DLManagedTensor* managed = at::toDLPack(tensor);
    if (genlab_util_tensor_map_set(map, index++, name.c_str(), managed) != 0) {
      genlab_tensor_map_destroy(map);
      throw std::bad_alloc();
    }
  }
  return map;
}

// Runs the named op on the backend plugin that serves the inputs' device (through
// genlab_host_api::run_op) and takes its outputs over as tensors. Throws Error with the
// backend's code; Error(UNIMPLEMENTED) when the host is older than ABI 1.3.
inline Tensors run_op(const Host& host, const std::string& op, const Tensors& inputs) {
  GENLAB_CHECK(host.can_run_ops(), GENLAB_ERROR_UNIMPLEMENTED,
               "the host offers no run_op (ABI older than 1.3): op '" + op + "' cannot run on a backend");
  genlab_tensor_map* in = release(inputs);  // views of the inputs' storage, no copy
  genlab_tensor_map* out = nullptr;
  genlab_error* error = host.api()->run_op(host.api()->context, op.c_str(), in, &out);
  genlab_tensor_map_destroy(in);
  if (error != nullptr) {
    Error e(error->code, error->message != nullptr ? error->message : "run_op failed");
    genlab_error_destroy(error);
    throw e;
  }
  GENLAB_CHECK(out != nullptr, GENLAB_ERROR_INTERNAL, "run_op '" + op + "' succeeded but returned no outputs");
  Tensors result;
  try {
    for (size_t i = 0; i < out->count; ++i) {
      GENLAB_CHECK(out->tensors[i] != nullptr, GENLAB_ERROR_INTERNAL, "run_op '" + op + "' returned an empty slot");
      at::Tensor tensor = at::fromDLPack(out->tensors[i]);
      out->tensors[i] = nullptr;  // taken: the at::Tensor calls its deleter
      result.add(out->names[i], std::move(tensor));
    }
  } catch (...) {
    genlab_tensor_map_destroy(out);
    throw;
  }
  genlab_tensor_map_destroy(out);
  return result;
}

// ------------------------------------------------------------------------------ scalars

struct Scalar {
  std::string name;
  double value = 0;
  genlab_direction direction = GENLAB_DIRECTION_LOWER;
};
using Scalars = std::vector<Scalar>;

inline genlab_scalar_list* release(const Scalars& scalars) {
  const char* stack_names[8];
  std::vector<const char*> heap_names;
  const char** names = stack_names;
  if (scalars.size() > 8) {
    heap_names.resize(scalars.size());
    names = heap_names.data();
  }
  for (size_t i = 0; i < scalars.size(); ++i) names[i] = scalars[i].name.c_str();
  genlab_scalar_list* list = genlab_util_scalar_list_new(scalars.size(), names);
  if (list == nullptr) throw std::bad_alloc();
  for (size_t i = 0; i < scalars.size(); ++i)
    genlab_util_scalar_list_set_value(list, i, scalars[i].value, scalars[i].direction);
  return list;
}

// --------------------------------------------------------------------------- description

// One configuration parameter (see genlab_param_spec): name, type, default, one-line doc.
struct Param {
  std::string name;
  genlab_param_type type = GENLAB_PARAM_DOUBLE;
  std::string default_value;  // TOML text; empty means required
  std::string doc;
};

// What PluginClass::info() returns; the SDK turns it into the static C description.
struct Info {
  std::string name;
  std::string version = "0.1.0";
  std::string family;
  std::string summary;
  std::vector<std::string> modalities;
  uint64_t capabilities = 0;
  std::vector<int32_t> device_types = {kDLCPU};
  std::vector<Param> params;
  // Models: the options generate reads (ABI 1.5); the host refuses any other.
  std::vector<Param> generate_params;
};

namespace detail {

// The host of the model whose train_step runs on this thread (null outside one), so that
// code deep in a step (an optimiser's step()) can ask how many processes train the run
// without every model passing its host down.
inline const Host*& current_host() {
  static thread_local const Host* host = nullptr;
  return host;
}
class CurrentHostScope {
 public:
  explicit CurrentHostScope(const Host& host) : previous_(current_host()) { current_host() = &host; }
  ~CurrentHostScope() { current_host() = previous_; }
  CurrentHostScope(const CurrentHostScope&) = delete;
  CurrentHostScope& operator=(const CurrentHostScope&) = delete;

 private:
  const Host* previous_;
};

// What a data-parallel step needs from c10d, behind a pointer so that this header includes
// none: genlab/sdk/distributed.hpp sets it when a plugin includes it. It averages the losses
// over the processes and returns the agreed stop (genlab_model_train_step_args::stop_agreed).
using DistributedStepEnd = int32_t (*)(const Host& host, Scalars& losses, int32_t stop);
inline DistributedStepEnd& distributed_step_end() {
  static DistributedStepEnd end = nullptr;
  return end;
}

// With several processes, each draws its own noise for its shard in a step (a VAE's
// epsilon, a GAN's z, dropout): same noise on every shard would make the global batch hold
// copies. Yet the state a process exports must be the same everywhere (rank 0 saves it and
// every rank resumes from it). So the shared stream advances by one draw per step, and
// that draw with the rank seeds the stream this process uses during the step; afterwards
// the shared stream is put back. One process: nothing changes.
class RankRandomStream {
 public:
  explicit RankRandomStream(const Host& host) {
    if (host.world_size() <= 1) return;
    at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle: shares the state
    uint64_t step_seed;
    {
      std::lock_guard<std::mutex> lock(generator.mutex());
      step_seed = generator.get<at::CPUGeneratorImpl>()->random64();
      shared_ = generator.get_state();
    }
    // splitmix64 of the draw and the rank: well-spread seeds for neighbouring ranks.
    uint64_t z = step_seed + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(host.rank() + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    at::manual_seed(z ^ (z >> 31));  // the CPU stream and, where there are GPUs, theirs
  }
  ~RankRandomStream() {
    if (!shared_.defined()) return;
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(shared_);
  }
  RankRandomStream(const RankRandomStream&) = delete;
  RankRandomStream& operator=(const RankRandomStream&) = delete;

 private:
  at::Tensor shared_;  // the shared stream's state after this step's draw
};

// LibTorch's autocast for the host's precision on `device`, while the object lives (a model's
// train_step, generate and score): matmuls and convolutions in bf16 / fp16, reductions and
// the weights in fp32. Nothing with FP32. LibTorch 2.4 made autocast's switches per device
// type; before, CPU and CUDA had a function each.
class AutocastScope {
 public:
  AutocastScope(const Host& host, const at::Device& device) {
    const genlab_precision precision = host.precision();
    if (precision == GENLAB_PRECISION_FP32) return;
    type_ = device.type();
    const at::ScalarType dtype = precision == GENLAB_PRECISION_BF16 ? at::kBFloat16 : at::kHalf;
    was_enabled_ = enabled(type_);
    was_dtype_ = autocast_dtype(type_);
    set(type_, true, dtype);
    at::autocast::increment_nesting();
    active_ = true;
  }
  ~AutocastScope() {
    if (!active_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(type_, was_enabled_, was_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  static bool enabled(at::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
  static at::ScalarType autocast_dtype(at::DeviceType type) { return at::autocast::get_autocast_dtype(type); }
  static void set(at::DeviceType type, bool on, at::ScalarType dtype) {
    at::autocast::set_autocast_enabled(type, on);
    at::autocast::set_autocast_dtype(type, dtype);
  }
#else
  static bool enabled(at::DeviceType type) {
    return type == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
  }
  static at::ScalarType autocast_dtype(at::DeviceType type) {
    return type == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
  }
  static void set(at::DeviceType type, bool on, at::ScalarType dtype) {
    if (type == at::kCPU) {
      at::autocast::set_cpu_enabled(on);
      at::autocast::set_autocast_cpu_dtype(dtype);
    } else {
      at::autocast::set_enabled(on);
      at::autocast::set_autocast_gpu_dtype(dtype);
    }
  }
#endif
  at::DeviceType type_ = at::kCPU;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
  bool active_ = false;
};

// A model's outputs cross as float32 whatever it computed in (genlab_host_api::precision).
inline Tensors float32_outputs(Tensors tensors) {
  for (auto& [name, t] : tensors.entries())
    if (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf) t = t.to(at::kFloat);
  return tensors;
}

// Owns the C strings and arrays a genlab_plugin_description points into.
class DescriptionStorage {
 public:
  DescriptionStorage(const Info& info, genlab_plugin_kind kind) : info_(info) {
    for (const auto& m : info_.modalities) modality_ptrs_.push_back(m.c_str());
    auto specs = [](const std::vector<Param>& params, std::vector<genlab_param_spec>& out) {
      for (const auto& p : params) {
        genlab_param_spec spec{};
        spec.struct_size = GENLAB_PARAM_SPEC_STRUCT_SIZE;
        spec.name = p.name.c_str();
        spec.type = p.type;
        spec.default_value = p.default_value.empty() ? nullptr : p.default_value.c_str();
        spec.doc = p.doc.c_str();
        out.push_back(spec);
      }
    };
    specs(info_.params, params_);
    specs(info_.generate_params, generate_params_);
    description_.struct_size = GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE;
    description_.kind = kind;
    description_.name = info_.name.c_str();
    description_.version = info_.version.c_str();
    description_.family = info_.family.c_str();
    description_.summary = info_.summary.c_str();
    description_.modalities = modality_ptrs_.data();
    description_.modality_count = modality_ptrs_.size();
    description_.capabilities = info_.capabilities;
    // A model trains over several processes when genlab/sdk/distributed.hpp is in its build
    // (its Adam includes it): that header registers the step's collective at load.
    if (kind == GENLAB_PLUGIN_KIND_MODEL && distributed_step_end() != nullptr)
      description_.capabilities |= GENLAB_CAPABILITY_DATA_PARALLEL;
    description_.device_types = info_.device_types.data();
    description_.device_type_count = info_.device_types.size();
    description_.params = params_.data();
    description_.param_count = params_.size();
    description_.generate_params = generate_params_.data();
    description_.generate_param_count = generate_params_.size();
  }
  const genlab_plugin_description* get() const { return &description_; }

 private:
  Info info_;
  std::vector<const char*> modality_ptrs_;
  std::vector<genlab_param_spec> params_, generate_params_;
  genlab_plugin_description description_{};
};

// Applies the host's seed and thread budget to LibTorch before a plugin object is built.
inline void apply_host_settings(const Host& host) {
  if (host.api() == nullptr) return;
  at::manual_seed(host.seed());
  if (host.num_threads() > 0) at::set_num_threads(host.num_threads());
}

}  // namespace detail

// -------------------------------------------------------------------- base classes

// What every plugin object's constructor receives.
struct Context {
  Host host;
  Config config;                                 // valid only during the constructor
  at::Device device = at::Device(at::kCPU);      // models: where the model lives
  const genlab_dataset_info* data_info = nullptr;  // models: the training data, may be null

  // The data's vocabulary (ABI 1.1; see genlab_dataset_info), or null: none, or a 1.0 host.
  const char* vocabulary() const {
    return data_info != nullptr && GENLAB_STRUCT_HAS(genlab_dataset_info, data_info->struct_size, vocabulary)
               ? data_info->vocabulary
               : nullptr;
  }
};

// What all four base classes share: the host the object was created with.
class Object {
 public:
  explicit Object(const Context& context) : host_(context.host) {}
  virtual ~Object() = default;
  const Host& host() const { return host_; }

 private:
  Host host_;
};

// A generative model. train_step, generate, export_state and import_state are required;
// score is optional (declare it in Info::capabilities as GENLAB_CAPABILITY_SCORE).
class Model : public Object {
 public:
  static constexpr genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_MODEL;
  explicit Model(const Context& context) : Object(context), device_(context.device) {}
  const at::Device& device() const { return device_; }

  virtual Scalars train_step(const Tensors& batch, int64_t step) = 0;
  virtual Tensors generate(int64_t count, const Config& options, const Tensors& inputs) = 0;
  virtual Tensors score(const Tensors& /*batch*/) {
    throw Error(GENLAB_ERROR_UNIMPLEMENTED, "this model offers no score");
  }
  // What score's values measure (genlab_model_score_args::convention): a static string such
  // as "bernoulli", "discrete-8bit", "dequantized", "continuous", "tokens"; null: unstated.
  virtual const char* score_convention() const { return nullptr; }
  virtual Tensors export_state() = 0;
  virtual void import_state(const Tensors& state) = 0;
  // How many scalar values training updates (genlab_model_export_state_args::
  // trainable_parameters, the run's cost.parameters); -1: not stated. A model that trains
  // with the SDK's Adam returns its parameter_count().
  virtual int64_t trainable_parameters() const { return -1; }

 private:
  at::Device device_;
};

// A dataset. data_info() must return a struct that lives as long as the object. (Not
// info(): that static name is the plugin's description.)
class Dataset : public Object {
 public:
  static constexpr genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_DATASET;
  using Object::Object;
  virtual const genlab_dataset_info& data_info() const = 0;
  virtual Tensors get_batch(const std::string& split, const std::vector<int64_t>& indices,
                            uint64_t seed) = 0;
};

// A metric: update() over batches, compute() at the end, reset() to start again.
class Metric : public Object {
 public:
  static constexpr genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_METRIC;
  using Object::Object;
  virtual void update(const Tensors& real, const Tensors& generated, const Tensors& scores) = 0;
  virtual Scalars compute() = 0;
  virtual void reset() = 0;
};

// A backend: the device types it serves now and its named ops.
class Backend : public Object {
 public:
  static constexpr genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_BACKEND;
  using Object::Object;
  virtual const std::vector<int32_t>& device_types() const = 0;
  virtual const std::vector<const char*>& op_names() const = 0;
  virtual Tensors run_op(const std::string& op, const Tensors& inputs, const Config& options) = 0;
};

// ------------------------------------------------------------------ the C tables

namespace detail {

constexpr const char* kRngStateName = "genlab.rng.cpu";

template <class T, class Handle>
T* self(Handle* handle) {
  GENLAB_CHECK(handle != nullptr, GENLAB_ERROR_INVALID_ARGUMENT, "null object handle");
  return reinterpret_cast<T*>(handle);
}

template <class T>
struct ModelTable {
  static genlab_error* create(genlab_model_create_args* args) {
    return guard([&] {
      Host host(args->host);
      apply_host_settings(host);
      Context context{host, Config(host, args->config), to_device(args->device), args->data_info};
      args->model = reinterpret_cast<genlab_model*>(new T(context));
    });
  }
  static void destroy(genlab_model* model) { delete reinterpret_cast<T*>(model); }
  static genlab_error* train_step(genlab_model_train_step_args* args) {
    return guard([&] {
      T* model = self<T>(args->model);
      const Host& host = model->host();
      const bool has_stop = GENLAB_STRUCT_HAS(genlab_model_train_step_args, args->struct_size, stop_agreed);
      const int32_t stop = has_stop ? args->stop : 0;
      Scalars losses;
      {
        CurrentHostScope current(host);
        RankRandomStream stream(host);
        AutocastScope autocast(host, model->device());
        losses = model->train_step(borrow(args->batch), args->step);
      }
      int32_t agreed = stop;
      if (host.world_size() > 1) {
        GENLAB_CHECK(distributed_step_end() != nullptr, GENLAB_ERROR_FAILED_PRECONDITION,
                     "this model was built without genlab/sdk/distributed.hpp and cannot train over " +
                         std::to_string(host.world_size()) + " processes");
        agreed = distributed_step_end()(host, losses, stop);
      }
      args->losses = release(losses);
      if (has_stop) args->stop_agreed = agreed;
    });
  }
  static genlab_error* generate(genlab_model_generate_args* args) {
    return guard([&] {
      T* model = self<T>(args->model);
      Config options(model->host(), args->options);
      Tensors outputs;
      {
        AutocastScope autocast(model->host(), model->device());
        outputs = model->generate(args->count, options, borrow(args->inputs));
      }
      args->outputs = release(float32_outputs(std::move(outputs)));
    });
  }
  static genlab_error* score(genlab_model_score_args* args) {
    return guard([&] {
      T* model = self<T>(args->model);
      Tensors scores;
      {
        AutocastScope autocast(model->host(), model->device());
        scores = model->score(borrow(args->batch));
      }
      args->scores = release(float32_outputs(std::move(scores)));
      if (GENLAB_STRUCT_HAS(genlab_model_score_args, args->struct_size, convention))
        args->convention = model->score_convention();
    });
  }
  // The SDK adds LibTorch's CPU generator state to every exported state and restores it on
  // import, so a run resumed from a checkpoint draws the same random numbers (dropout,
  // noise, sampling) as one that never stopped.
  static genlab_error* export_state(genlab_model_export_state_args* args) {
    return guard([&] {
      T* model = self<T>(args->model);
      CurrentHostScope current(model->host());  // what the state holds may depend on it (a loss scale)
      // Checkpoints hold host memory: a model on a device exports through a copy to the CPU
      // (a no-op for CPU tensors), and import_state copies back onto whatever device the
      // model is on, so a checkpoint resumes on either.
      Tensors state = model->export_state();
      for (auto& entry : state.entries()) entry.second = entry.second.to(at::kCPU);
      at::Generator generator = at::detail::getDefaultCPUGenerator();  // a handle: shares the state
      std::lock_guard<std::mutex> lock(generator.mutex());
      state.add(kRngStateName, generator.get_state());
      args->state = release(state);
      if (GENLAB_STRUCT_HAS(genlab_model_export_state_args, args->struct_size, trainable_parameters))
        args->trainable_parameters = model->trainable_parameters();
    });
  }
  static genlab_error* import_state(genlab_model_import_state_args* args) {
    return guard([&] {
      Tensors all = borrow(args->state), state;
      const at::Tensor* rng = nullptr;
      for (const auto& [name, tensor] : all.entries()) {
        if (name == kRngStateName) rng = &tensor;
        else state.add(name, tensor);
      }
      T* model = self<T>(args->model);
      CurrentHostScope current(model->host());
      model->import_state(state);
      if (rng != nullptr) {
        at::Generator generator = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_state(rng->clone());
      }
    });
  }
  static const genlab_model_api* table() {
    static const genlab_model_api api = {
        GENLAB_MODEL_API_STRUCT_SIZE, create, destroy, train_step, generate,
        (T::info().capabilities & GENLAB_CAPABILITY_SCORE) ? score : nullptr,
        export_state, import_state};
    return &api;
  }
};

template <class T>
struct DatasetTable {
  static genlab_error* create(genlab_dataset_create_args* args) {
    return guard([&] {
      Host host(args->host);
      apply_host_settings(host);
      Context context{host, Config(host, args->config)};
      args->dataset = reinterpret_cast<genlab_dataset*>(new T(context));
    });
  }
  static void destroy(genlab_dataset* dataset) { delete reinterpret_cast<T*>(dataset); }
  static genlab_error* info(genlab_dataset_info_args* args) {
    return guard([&] { args->info = &self<T>(args->dataset)->data_info(); });
  }
  static genlab_error* get_batch(genlab_dataset_get_batch_args* args) {
    return guard([&] {
      GENLAB_CHECK(args->split != nullptr, GENLAB_ERROR_INVALID_ARGUMENT, "split is null");
      std::vector<int64_t> indices(args->indices, args->indices + args->count);
      args->batch = release(self<T>(args->dataset)->get_batch(args->split, indices, args->seed));
    });
  }
  static const genlab_dataset_api* table() {
    static const genlab_dataset_api api = {GENLAB_DATASET_API_STRUCT_SIZE, create, destroy, info,
                                           get_batch};
    return &api;
  }
};

template <class T>
struct MetricTable {
  static genlab_error* create(genlab_metric_create_args* args) {
    return guard([&] {
      Host host(args->host);
      apply_host_settings(host);
      Context context{host, Config(host, args->config)};
      args->metric = reinterpret_cast<genlab_metric*>(new T(context));
    });
  }
  static void destroy(genlab_metric* metric) { delete reinterpret_cast<T*>(metric); }
  static genlab_error* update(genlab_metric_update_args* args) {
    return guard([&] {
      self<T>(args->metric)->update(borrow(args->real), borrow(args->generated),
                                    borrow(args->scores));
    });
  }
  static genlab_error* compute(genlab_metric_compute_args* args) {
    return guard([&] { args->results = release(self<T>(args->metric)->compute()); });
  }
  static genlab_error* reset(genlab_metric* metric) {
    return guard([&] { self<T>(metric)->reset(); });
  }
  static const genlab_metric_api* table() {
    static const genlab_metric_api api = {GENLAB_METRIC_API_STRUCT_SIZE, create, destroy, update,
                                          compute, reset};
    return &api;
  }
};

template <class T>
struct BackendTable {
  static genlab_error* create(genlab_backend_create_args* args) {
    return guard([&] {
      Host host(args->host);
      Context context{host, Config(host, args->config)};
      args->backend = reinterpret_cast<genlab_backend*>(new T(context));
    });
  }
  static void destroy(genlab_backend* backend) { delete reinterpret_cast<T*>(backend); }
  static genlab_error* info(genlab_backend_info_args* args) {
    return guard([&] {
      T* backend = self<T>(args->backend);
      args->device_types = backend->device_types().data();
      args->device_type_count = backend->device_types().size();
      args->op_names = backend->op_names().data();
      args->op_count = backend->op_names().size();
    });
  }
  static genlab_error* run_op(genlab_backend_run_op_args* args) {
    return guard([&] {
      T* backend = self<T>(args->backend);
      GENLAB_CHECK(args->op != nullptr, GENLAB_ERROR_INVALID_ARGUMENT, "op name is null");
      Config options(backend->host(), args->options);
      args->outputs = release(backend->run_op(args->op, borrow(args->inputs), options));
    });
  }
  static const genlab_backend_api* table() {
    static const genlab_backend_api api = {GENLAB_BACKEND_API_STRUCT_SIZE, create, destroy, info,
                                           run_op};
    return &api;
  }
};

template <class T>
genlab_error* describe(genlab_describe_args* args) {
  return guard([&] {
    static const DescriptionStorage storage(T::info(), T::kind);
    args->description = storage.get();
  });
}

// The plugin table of class T (one of the four kinds), or NULL for a host of another major.
template <class T>
const genlab_plugin_api* plugin_api(uint32_t host_major, uint32_t /*host_minor*/) noexcept {
  if (host_major != GENLAB_ABI_VERSION_MAJOR) return nullptr;
  static const genlab_plugin_api api = [] {
    genlab_plugin_api a{};
    a.struct_size = GENLAB_PLUGIN_API_STRUCT_SIZE;
    a.abi_major = GENLAB_ABI_VERSION_MAJOR;
    a.abi_minor = GENLAB_ABI_VERSION_MINOR;
    a.kind = T::kind;
    a.describe = describe<T>;
    if constexpr (std::is_base_of_v<Model, T>) a.model = ModelTable<T>::table();
    if constexpr (std::is_base_of_v<Dataset, T>) a.dataset = DatasetTable<T>::table();
    if constexpr (std::is_base_of_v<Metric, T>) a.metric = MetricTable<T>::table();
    if constexpr (std::is_base_of_v<Backend, T>) a.backend = BackendTable<T>::table();
    return a;
  }();
  return &api;
}

}  // namespace detail

}  // namespace genlab::sdk

#include "genlab/sdk/params.hpp"  // Params<Options>: each parameter declared once

// Exports the entry symbol for PluginClass. Use once per library, at namespace scope.
#define GENLAB_PLUGIN(PluginClass)                                                     \
  extern "C" GENLAB_EXPORT const genlab_plugin_api* genlab_plugin_entry(uint32_t major, \
                                                                       uint32_t minor) { \
    return ::genlab::sdk::detail::plugin_api<PluginClass>(major, minor);                \
  }
