// genlab/sdk/objects.hpp — what a plugin class declares (Info, Param) and derives from
// (Model, Dataset, Metric, Backend, constructed from a Context), with the per-thread state
// the SDK keeps for them (detail::). Part of genlab/sdk/plugin.hpp.
#pragma once

#include "genlab/sdk/tensors.hpp"

namespace genlab::sdk {

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

// generate and score draw from a stream of their own: LibTorch's default generators (the
// CPU's and the model's GPU's) are saved before the call and put back after it, so that
// sampling between training steps (evaluation during training) leaves the training exactly
// as it would be without it. The call's stream is seeded from a draw of the training
// stream (which the model's state holds) and the model's count of calls since its last
// train_step or import_state: the same state gives the same samples, and calls in a row
// differ from each other.
class CallRandomStream {
 public:
  CallRandomStream(const at::Device& device, uint64_t call) {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();  // a handle: shares the state
    uint64_t z;
    {
      std::lock_guard<std::mutex> lock(cpu.mutex());
      cpu_state_ = cpu.get_state();
      z = cpu.get<at::CPUGeneratorImpl>()->random64();  // undone by the restore
    }
    if (device.is_cuda()) {
      cuda_ = at::globalContext().defaultGenerator(device);
      cuda_state_ = state_of(cuda_);
    }
    z += 0xD1B54A32D192ED03ULL * (call + 1);  // splitmix64, as above
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    at::manual_seed(z ^ (z >> 31));
  }
  ~CallRandomStream() {
    restore(at::detail::getDefaultCPUGenerator(), cpu_state_);
    if (cuda_.defined()) restore(cuda_, cuda_state_);
  }
  CallRandomStream(const CallRandomStream&) = delete;
  CallRandomStream& operator=(const CallRandomStream&) = delete;

 private:
  static at::Tensor state_of(at::Generator generator) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    return generator.get_state();
  }
  static void restore(at::Generator generator, const at::Tensor& state) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
  at::Tensor cpu_state_, cuda_state_;
  at::Generator cuda_;
};

// A metric draws from a stream of its own (its `random_state`, seeded from the host's seed
// when it is made): while the scope lives, LibTorch's CPU generator holds the metric's
// state, and after it the state it had before. So a metric made and computed in a training
// process (evaluation during training) moves nothing of the training's stream, and its
// values do not depend on what else ran in the process.
class OwnRandomStream {
 public:
  explicit OwnRandomStream(at::Tensor& own) : own_(own) {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(cpu.mutex());
    outer_ = cpu.get_state();
    if (own_.defined()) cpu.set_state(own_);
  }
  ~OwnRandomStream() {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(cpu.mutex());
    own_ = cpu.get_state();
    cpu.set_state(outer_);
  }
  OwnRandomStream(const OwnRandomStream&) = delete;
  OwnRandomStream& operator=(const OwnRandomStream&) = delete;

 private:
  at::Tensor& own_;
  at::Tensor outer_;
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
  Config config;                                   // valid only during the constructor
  at::Device device = at::Device(at::kCPU);        // models: where the model lives
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
  // The SDK's count of this model's generate and score calls since its last train_step or
  // import_state (CallRandomStream).
  uint64_t next_random_call() { return random_calls_++; }
  void restart_random_calls() { random_calls_ = 0; }

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
  uint64_t random_calls_ = 0;
};

// A dataset. data_info() must return a struct that lives as long as the object. (Not
// info(): that static name is the plugin's description.)
class Dataset : public Object {
 public:
  static constexpr genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_DATASET;
  using Object::Object;
  virtual const genlab_dataset_info& data_info() const = 0;
  virtual Tensors get_batch(const std::string& split, const std::vector<int64_t>& indices, uint64_t seed) = 0;
};

// A metric: update() over batches, compute() at the end, reset() to start again.
class Metric : public Object {
 public:
  static constexpr genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_METRIC;
  using Object::Object;
  virtual void update(const Tensors& real, const Tensors& generated, const Tensors& scores) = 0;
  virtual Scalars compute() = 0;
  virtual void reset() = 0;
  // The SDK's: the metric's own random stream (OwnRandomStream).
  at::Tensor& random_state() { return random_state_; }

 private:
  at::Tensor random_state_;
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

}  // namespace genlab::sdk
