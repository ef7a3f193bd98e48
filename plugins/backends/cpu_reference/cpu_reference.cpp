// cpu-reference — the CPU reference backend of the ops that models call through the host:
// the volume-rendering composite of NeRF, forward and backward (contract and arithmetic in
// ../common/volume_composite.hpp). Torch-free, on genlab_util.h; rays are independent, so
// they are split across the run's threads with OpenMP.
#include <cstring>
#include <new>

#include "../common/volume_composite.hpp"
#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

namespace {

using namespace genlab::backends;

constexpr const char* kName = "cpu-reference";

struct CpuReference {
  const genlab_host_api* host;
  int threads;  // the host's num_threads
};

const int32_t kDevices[] = {kDLCPU};
const char* const kOps[] = {kVolumeCompositeOp, kVolumeCompositeBackwardOp};
const char* const kModalities[] = {"rays"};

// Below this many samples in all, one thread is faster than waking the others.
constexpr int64_t kMinSamplesPerThread = 16384;

#define RETURN_ERROR(code, ...) return genlab_util_error_new(code, __VA_ARGS__)

const genlab_plugin_description kDescription = {
    GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE,
    GENLAB_PLUGIN_KIND_BACKEND,
    kName,
    "1.0.0",
    "reference",
    "CPU reference backend: the NeRF volume-rendering composite, forward and backward (OpenMP, no LibTorch)",
    kModalities,
    1,
    0,
    kDevices,
    1,
    nullptr,
    0,
    nullptr,
    0};

genlab_error* describe(genlab_describe_args* args) {
  args->description = &kDescription;
  return nullptr;
}

genlab_error* create(genlab_backend_create_args* args) {
  const genlab_host_api* host = args->host;
  int threads = 1;
  if (host != nullptr && GENLAB_STRUCT_HAS(genlab_host_api, host->struct_size, num_threads) && host->num_threads > 0)
    threads = host->num_threads;
  auto* self = new (std::nothrow) CpuReference{host, threads};
  if (self == nullptr) RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "%s: out of memory", kName);
  args->backend = reinterpret_cast<genlab_backend*>(self);
  return nullptr;
}

void destroy(genlab_backend* backend) { delete reinterpret_cast<CpuReference*>(backend); }

genlab_error* info(genlab_backend_info_args* args) {
  args->device_types = kDevices;
  args->device_type_count = 1;
  args->op_names = kOps;
  args->op_count = 2;
  return nullptr;
}

float* data_of(genlab_tensor_map* map, size_t index) {
  return static_cast<float*>(map->tensors[index]->dl_tensor.data);
}

void forward(const CompositeInputs& in, genlab_tensor_map* out, int threads) {
  float* color = data_of(out, 0);
  float* depth = data_of(out, 1);
  float* opacity = data_of(out, 2);
  float* weights = data_of(out, 3);
  const int64_t rays = in.rays, samples = in.samples;
  const bool parallel = threads > 1 && rays * samples >= 2 * kMinSamplesPerThread;
  (void)parallel;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
#endif
  for (int64_t r = 0; r < rays; ++r) {
    const int64_t row = r * samples;
    composite_ray_forward(samples, in.sigmas + row, in.rgbs + 3 * row, in.deltas + row, in.ts + row, color + 3 * r,
                          depth + r, opacity + r, weights + row);
  }
}

void backward(const CompositeInputs& in, genlab_tensor_map* out, int threads) {
  float* grad_sigmas = data_of(out, 0);
  float* grad_rgbs = data_of(out, 1);
  const int64_t rays = in.rays, samples = in.samples;
  const bool parallel = threads > 1 && rays * samples >= 2 * kMinSamplesPerThread;
  (void)parallel;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
#endif
  for (int64_t r = 0; r < rays; ++r) {
    const int64_t row = r * samples;
    composite_ray_backward(samples, in.sigmas + row, in.rgbs + 3 * row, in.deltas + row, in.ts + row, in.color + 3 * r,
                           in.depth[r], in.opacity[r], in.grad_color + 3 * r, in.grad_depth[r], in.grad_opacity[r],
                           grad_sigmas + row, grad_rgbs + 3 * row);
  }
}

genlab_error* run_op(genlab_backend_run_op_args* args) {
  const auto* self = reinterpret_cast<const CpuReference*>(args->backend);
  if (self == nullptr || args->op == nullptr)
    RETURN_ERROR(GENLAB_ERROR_INVALID_ARGUMENT, "%s: null backend or op", kName);
  if (!is_composite_op(args->op))
    RETURN_ERROR(GENLAB_ERROR_NOT_FOUND, "%s: no op '%s' (this backend serves: %s, %s)", kName, args->op, kOps[0],
                 kOps[1]);
  CompositeInputs in;
  if (genlab_error* error = parse_composite_inputs(args->op, kName, args->inputs, kDLCPU, &in)) return error;

  CompositeOutput specs[4];
  const size_t count = composite_outputs(args->op, in.rays, in.samples, specs);
  genlab_tensor_map* outputs = genlab_util_tensor_map_new(count);
  if (outputs == nullptr) RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "%s: %s: out of memory", kName, args->op);
  for (size_t i = 0; i < count; ++i) {
    DLManagedTensor* tensor = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), specs[i].ndim, specs[i].shape);
    // (A failed set has deleted the tensor; the map frees those already set.)
    if (tensor == nullptr || genlab_util_tensor_map_set(outputs, i, specs[i].name, tensor) != 0) {
      genlab_tensor_map_destroy(outputs);
      RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "%s: %s: out of memory for output '%s'", kName, args->op, specs[i].name);
    }
  }
  if (std::strcmp(args->op, kVolumeCompositeOp) == 0) forward(in, outputs, self->threads);
  else backward(in, outputs, self->threads);
  args->outputs = outputs;
  return nullptr;
}

const genlab_backend_api kBackendApi = {GENLAB_BACKEND_API_STRUCT_SIZE, create, destroy, info, run_op};

const genlab_plugin_api kPluginApi = {GENLAB_PLUGIN_API_STRUCT_SIZE,
                                      GENLAB_ABI_VERSION_MAJOR,
                                      GENLAB_ABI_VERSION_MINOR,
                                      GENLAB_PLUGIN_KIND_BACKEND,
                                      describe,
                                      nullptr,
                                      nullptr,
                                      nullptr,
                                      &kBackendApi};

}  // namespace

extern "C" GENLAB_EXPORT const genlab_plugin_api* genlab_plugin_entry(uint32_t host_major, uint32_t /*host_minor*/) {
  return host_major == GENLAB_ABI_VERSION_MAJOR ? &kPluginApi : nullptr;
}
