// genlab/sdk/detail/tables.hpp — the static C function tables of genlab.h for a plugin
// class T, each entry guarded, and the plugin table GENLAB_PLUGIN exports. Part of
// genlab/sdk/plugin.hpp.
#pragma once

#include <memory>

#include "genlab/sdk/objects.hpp"

namespace genlab::sdk {

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
        model->restart_random_calls();
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
        CallRandomStream stream(model->device(), model->next_random_call());
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
        CallRandomStream stream(model->device(), model->next_random_call());
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
      model->restart_random_calls();
    });
  }
  static const genlab_model_api* table() {
    static const genlab_model_api api = {GENLAB_MODEL_API_STRUCT_SIZE,
                                         create,
                                         destroy,
                                         train_step,
                                         generate,
                                         (T::info().capabilities & GENLAB_CAPABILITY_SCORE) ? score : nullptr,
                                         export_state,
                                         import_state};
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
    static const genlab_dataset_api api = {GENLAB_DATASET_API_STRUCT_SIZE, create, destroy, info, get_batch};
    return &api;
  }
};

template <class T>
struct MetricTable {
  static genlab_error* create(genlab_metric_create_args* args) {
    return guard([&] {
      Host host(args->host);
      Context context{host, Config(host, args->config)};
      at::Tensor stream;
      std::unique_ptr<T> metric;
      {
        OwnRandomStream own(stream);  // seeded from the host's seed, apart from the process's stream
        apply_host_settings(host);
        metric = std::make_unique<T>(context);
      }
      metric->random_state() = stream;
      args->metric = reinterpret_cast<genlab_metric*>(metric.release());
    });
  }
  static void destroy(genlab_metric* metric) { delete reinterpret_cast<T*>(metric); }
  static genlab_error* update(genlab_metric_update_args* args) {
    return guard([&] {
      T* metric = self<T>(args->metric);
      OwnRandomStream own(metric->random_state());
      metric->update(borrow(args->real), borrow(args->generated), borrow(args->scores));
    });
  }
  static genlab_error* compute(genlab_metric_compute_args* args) {
    return guard([&] {
      T* metric = self<T>(args->metric);
      OwnRandomStream own(metric->random_state());
      args->results = release(metric->compute());
    });
  }
  static genlab_error* reset(genlab_metric* metric) {
    return guard([&] { self<T>(metric)->reset(); });
  }
  static const genlab_metric_api* table() {
    static const genlab_metric_api api = {GENLAB_METRIC_API_STRUCT_SIZE, create, destroy, update, compute, reset};
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
    static const genlab_backend_api api = {GENLAB_BACKEND_API_STRUCT_SIZE, create, destroy, info, run_op};
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
