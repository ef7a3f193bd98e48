// example-cpu-ops — a backend plugin in C++ without LibTorch: the CPU reference of one
// named op, "axpy" (out = alpha * x + y), on DLPack float32 tensors. It shows the shape a
// vendor backend takes: info() says which devices and ops it serves, run_op() checks its
// inputs and computes on their device. Built on genlab_util.h only.
#include <cstring>
#include <string>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

namespace {

struct CpuOps {
  const genlab_host_api* host;
};

const int32_t kDevices[] = {kDLCPU};
const char* const kOps[] = {"axpy"};
const char* const kModalities[] = {"points", "image", "tokens", "rays"};
const genlab_param_spec kParams[] = {};

#define RETURN_ERROR(code, ...) return genlab_util_error_new(code, __VA_ARGS__)

const genlab_plugin_description kDescription = {
    GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE,
    GENLAB_PLUGIN_KIND_BACKEND,
    "example-cpu-ops",
    "1.0.0",
    "reference",
    "CPU reference backend for the op 'axpy' (example backend, no LibTorch)",
    kModalities,
    4,
    0,
    kDevices,
    1,
    kParams,
    0,
    nullptr,
    0};

// Required.
genlab_error* describe(genlab_describe_args* args) {
  args->description = &kDescription;
  return nullptr;
}

// Required.
genlab_error* create(genlab_backend_create_args* args) {
  auto* self = new (std::nothrow) CpuOps{args->host};
  if (self == nullptr) RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  args->backend = reinterpret_cast<genlab_backend*>(self);
  return nullptr;
}

// Required. Accepts NULL.
void destroy(genlab_backend* backend) { delete reinterpret_cast<CpuOps*>(backend); }

// Required.
genlab_error* info(genlab_backend_info_args* args) {
  args->device_types = kDevices;
  args->device_type_count = 1;
  args->op_names = kOps;
  args->op_count = 1;
  return nullptr;
}

// Required. axpy: inputs "x", "y" (float32, same shape, CPU, compact); option alpha (1.0).
genlab_error* run_op(genlab_backend_run_op_args* args) {
  const auto* self = reinterpret_cast<const CpuOps*>(args->backend);
  if (self == nullptr || args->op == nullptr) RETURN_ERROR(GENLAB_ERROR_INVALID_ARGUMENT, "null backend or op");
  if (std::strcmp(args->op, "axpy") != 0)
    RETURN_ERROR(GENLAB_ERROR_NOT_FOUND, "no op '%s' (this backend serves: axpy)", args->op);
  const long xi = genlab_util_tensor_map_find(args->inputs, "x");
  const long yi = genlab_util_tensor_map_find(args->inputs, "y");
  if (xi < 0 || yi < 0) RETURN_ERROR(GENLAB_ERROR_INVALID_ARGUMENT, "axpy expects inputs 'x' and 'y'");
  const DLTensor& x = args->inputs->tensors[xi]->dl_tensor;
  const DLTensor& y = args->inputs->tensors[yi]->dl_tensor;
  const DLDataType f32 = genlab_util_dtype_float32();
  if (!genlab_util_is_cpu_compact(&x, f32) || !genlab_util_is_cpu_compact(&y, f32))
    RETURN_ERROR(GENLAB_ERROR_UNSUPPORTED_DEVICE, "axpy expects compact float32 CPU tensors");
  if (x.ndim != y.ndim || std::memcmp(x.shape, y.shape, sizeof(int64_t) * static_cast<size_t>(x.ndim)) != 0)
    RETURN_ERROR(GENLAB_ERROR_INVALID_ARGUMENT, "axpy expects 'x' and 'y' of the same shape");
  double alpha = 1.0;
  if (args->options != nullptr &&
      self->host->config_get_double(self->host->context, args->options, "alpha", &alpha) == GENLAB_CONFIG_WRONG_TYPE)
    RETURN_ERROR(GENLAB_ERROR_INVALID_ARGUMENT, "expected a number for option 'alpha'");

  DLManagedTensor* out = genlab_util_cpu_tensor_new(f32, x.ndim, x.shape);
  genlab_tensor_map* outputs = genlab_util_tensor_map_new(1);
  if (out == nullptr || outputs == nullptr) {
    if (out) out->deleter(out);
    genlab_tensor_map_destroy(outputs);
    RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  }
  const auto* xs = reinterpret_cast<const float*>(static_cast<const char*>(x.data) + x.byte_offset);
  const auto* ys = reinterpret_cast<const float*>(static_cast<const char*>(y.data) + y.byte_offset);
  auto* o = static_cast<float*>(out->dl_tensor.data);
  const int64_t n = genlab_util_numel(&x);
  for (int64_t i = 0; i < n; ++i) o[i] = static_cast<float>(alpha) * xs[i] + ys[i];
  if (genlab_util_tensor_map_set(outputs, 0, "out", out) != 0) {
    genlab_tensor_map_destroy(outputs);
    RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  }
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
