// cuda — the CUDA backend of the ops that models call through the host: the NeRF
// volume-rendering composite, forward and backward, one GPU thread per ray running the same
// per-ray arithmetic as the CPU reference (../common/volume_composite.hpp). Torch-free.
//
// With no usable GPU (no device, no driver) the backend still creates: info() then serves no
// device, says why once in the host's log, and run_op answers UNSUPPORTED_DEVICE.
//
// Streams: LibTorch's current stream does not cross the C ABI, so the op cannot order its
// kernels after the producer's work on that stream nor hand its results to the consumer's.
// It synchronises the device before its kernels and after them, and runs on the legacy
// default stream: correct whatever stream the caller uses, if not the fastest.
#include <cuda_runtime.h>

#include <cstring>
#include <new>
#include <string>

#include "../common/volume_composite.hpp"
#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

namespace {

using namespace genlab::backends;

constexpr const char* kName = "cuda";
constexpr int kThreadsPerBlock = 128;

const int32_t kDevices[] = {kDLCUDA};
const char* const kOps[] = {kVolumeCompositeOp, kVolumeCompositeBackwardOp};
const char* const kModalities[] = {"rays"};

const genlab_plugin_description kDescription = {
    GENLAB_PLUGIN_DESCRIPTION_STRUCT_SIZE,
    GENLAB_PLUGIN_KIND_BACKEND,
    kName,
    "1.0.0",
    "cuda",
    "CUDA backend: the NeRF volume-rendering composite, forward and backward (one thread per ray)",
    kModalities,
    1,
    0,
    kDevices,
    1,
    nullptr,
    0,
    nullptr,
    0};

struct CudaBackend {
  const genlab_host_api* host;
  int device_count;  // 0 when there is no usable device: then it serves none
  std::string no_device_reason;
};

#define RETURN_ERROR(code, ...) return genlab_util_error_new(code, __VA_ARGS__)

// The error for a failed CUDA call: names the op, the call and CUDA's own words. Clears
// CUDA's last error so that the next call does not see this one.
genlab_error* cuda_error(const char* op, const char* call, cudaError_t status) {
  (void)cudaGetLastError();
  genlab_error_code code = GENLAB_ERROR_UNKNOWN;
  if (status == cudaErrorMemoryAllocation) code = GENLAB_ERROR_OUT_OF_MEMORY;
  if (status == cudaErrorInvalidDevice || status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver)
    code = GENLAB_ERROR_UNSUPPORTED_DEVICE;
  return genlab_util_error_new(code, "%s: %s: %s failed: %s (%s)", kName, op, call, cudaGetErrorString(status),
                               cudaGetErrorName(status));
}

#define RETURN_IF_CUDA_ERROR(op, call)                                 \
  do {                                                                 \
    const cudaError_t status_ = (call);                                \
    if (status_ != cudaSuccess) return cuda_error(op, #call, status_); \
  } while (0)

// ------------------------------------------------------------------ CUDA DLPack tensors

// A compact float32 tensor in device memory, freed by its deleter (cudaFree finds the
// allocation's device itself through unified addressing, whatever device is current).
struct CudaTensor {
  DLManagedTensor managed;
  int64_t shape[3];
};

void cuda_tensor_delete(DLManagedTensor* managed) {
  if (managed == nullptr) return;
  cudaFree(managed->dl_tensor.data);  // a deleter cannot report; the runtime keeps the error
  delete reinterpret_cast<CudaTensor*>(managed);
}

// A new uninitialised tensor of `output`'s shape on the current device, which is `device`.
genlab_error* cuda_tensor_new(const char* op, const CompositeOutput& output, DLDevice device, DLManagedTensor** out) {
  auto* self = new (std::nothrow) CudaTensor{};
  if (self == nullptr) RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "%s: %s: out of host memory", kName, op);
  int64_t count = 1;
  for (int32_t i = 0; i < output.ndim; ++i) {
    self->shape[i] = output.shape[i];
    count *= output.shape[i];
  }
  // An empty tensor still gets an allocation, as genlab_util_cpu_tensor_new gives one.
  const size_t bytes = static_cast<size_t>(count > 0 ? count : 1) * sizeof(float);
  void* data = nullptr;
  const cudaError_t status = cudaMalloc(&data, bytes);
  if (status != cudaSuccess) {
    delete self;
    (void)cudaGetLastError();
    return genlab_util_error_new(
        status == cudaErrorMemoryAllocation ? GENLAB_ERROR_OUT_OF_MEMORY : GENLAB_ERROR_UNKNOWN,
        "%s: %s: cudaMalloc of %zu bytes for output '%s' on CUDA:%d failed: %s (%s)", kName, op, bytes, output.name,
        device.device_id, cudaGetErrorString(status), cudaGetErrorName(status));
  }
  DLTensor& t = self->managed.dl_tensor;
  t.data = data;
  t.device = device;
  t.ndim = output.ndim;
  t.dtype = genlab_util_dtype_float32();
  t.shape = self->shape;
  t.strides = nullptr;
  t.byte_offset = 0;
  self->managed.manager_ctx = nullptr;
  self->managed.deleter = cuda_tensor_delete;
  *out = &self->managed;
  return nullptr;
}

// Restores the caller's current device when the op returns (best effort: a destructor
// cannot report, and the op's own calls are checked).
class DeviceGuard {
 public:
  DeviceGuard() {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
  }
  ~DeviceGuard() {
    if (previous_ >= 0) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// ------------------------------------------------------------------------------ kernels

__global__ void forward_kernel(CompositeInputs in, float* color, float* depth, float* opacity, float* weights) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= in.rays) return;
  const int64_t row = r * in.samples;
  composite_ray_forward(in.samples, in.sigmas + row, in.rgbs + 3 * row, in.deltas + row, in.ts + row, color + 3 * r,
                        depth + r, opacity + r, weights + row);
}

__global__ void backward_kernel(CompositeInputs in, float* grad_sigmas, float* grad_rgbs) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= in.rays) return;
  const int64_t row = r * in.samples;
  composite_ray_backward(in.samples, in.sigmas + row, in.rgbs + 3 * row, in.deltas + row, in.ts + row, in.color + 3 * r,
                         in.depth[r], in.opacity[r], in.grad_color + 3 * r, in.grad_depth[r], in.grad_opacity[r],
                         grad_sigmas + row, grad_rgbs + 3 * row);
}

float* data_of(genlab_tensor_map* map, size_t index) {
  return static_cast<float*>(map->tensors[index]->dl_tensor.data);
}

// --------------------------------------------------------------------------- the plugin

genlab_error* describe(genlab_describe_args* args) {
  args->description = &kDescription;
  return nullptr;
}

genlab_error* create(genlab_backend_create_args* args) {
  auto* self = new (std::nothrow) CudaBackend{args->host, 0, {}};
  if (self == nullptr) RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "%s: out of memory", kName);
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    self->no_device_reason =
        std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")";
    count = 0;  // the runtime may leave it unset on failure
  } else if (count == 0) {
    self->no_device_reason = "cudaGetDeviceCount found no CUDA device";
  }
  self->device_count = count;
  if (count == 0 && self->host != nullptr && self->host->log != nullptr) {
    const std::string line = std::string(kName) + " backend serves no device: " + self->no_device_reason;
    self->host->log(self->host->context, GENLAB_LOG_INFO, line.c_str());
  }
  args->backend = reinterpret_cast<genlab_backend*>(self);
  return nullptr;
}

void destroy(genlab_backend* backend) { delete reinterpret_cast<CudaBackend*>(backend); }

genlab_error* info(genlab_backend_info_args* args) {
  const auto* self = reinterpret_cast<const CudaBackend*>(args->backend);
  args->device_types = kDevices;
  args->device_type_count = self != nullptr && self->device_count > 0 ? 1 : 0;
  args->op_names = kOps;
  args->op_count = 2;
  return nullptr;
}

genlab_error* run_op(genlab_backend_run_op_args* args) {
  const auto* self = reinterpret_cast<const CudaBackend*>(args->backend);
  const char* op = args->op;
  if (self == nullptr || op == nullptr) RETURN_ERROR(GENLAB_ERROR_INVALID_ARGUMENT, "%s: null backend or op", kName);
  if (!is_composite_op(op))
    RETURN_ERROR(GENLAB_ERROR_NOT_FOUND, "%s: no op '%s' (this backend serves: %s, %s)", kName, op, kOps[0], kOps[1]);
  CompositeInputs in;
  if (genlab_error* error = parse_composite_inputs(op, kName, args->inputs, kDLCUDA, &in)) return error;
  if (self->device_count == 0)
    RETURN_ERROR(GENLAB_ERROR_UNSUPPORTED_DEVICE,
                 "%s: %s: the inputs are on CUDA:%d but this process has no CUDA device (%s)", kName, op,
                 in.device.device_id, self->no_device_reason.c_str());
  if (in.device.device_id < 0 || in.device.device_id >= self->device_count)
    RETURN_ERROR(GENLAB_ERROR_UNSUPPORTED_DEVICE, "%s: %s: the inputs are on CUDA:%d but there are %d CUDA devices",
                 kName, op, in.device.device_id, self->device_count);
  const int64_t blocks = (in.rays + kThreadsPerBlock - 1) / kThreadsPerBlock;
  if (blocks > 2147483647)
    RETURN_ERROR(GENLAB_ERROR_INVALID_ARGUMENT, "%s: %s: %lld rays are more than one launch can take", kName, op,
                 static_cast<long long>(in.rays));

  DeviceGuard guard;
  RETURN_IF_CUDA_ERROR(op, cudaSetDevice(in.device.device_id));
  // The inputs may still be being written by work queued on another stream.
  RETURN_IF_CUDA_ERROR(op, cudaDeviceSynchronize());

  CompositeOutput specs[4];
  const size_t count = composite_outputs(op, in.rays, in.samples, specs);
  genlab_tensor_map* outputs = genlab_util_tensor_map_new(count);
  if (outputs == nullptr) RETURN_ERROR(GENLAB_ERROR_OUT_OF_MEMORY, "%s: %s: out of host memory", kName, op);
  for (size_t i = 0; i < count; ++i) {
    DLManagedTensor* tensor = nullptr;
    genlab_error* error = cuda_tensor_new(op, specs[i], in.device, &tensor);
    // (A failed set has deleted the tensor; the map frees those already set.)
    if (error == nullptr && genlab_util_tensor_map_set(outputs, i, specs[i].name, tensor) != 0)
      error = genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "%s: %s: out of host memory", kName, op);
    if (error != nullptr) {
      genlab_tensor_map_destroy(outputs);
      return error;
    }
  }
  if (in.rays > 0) {
    (void)cudaGetLastError();  // so that the error read after the launch is the launch's own
    const bool is_forward = std::strcmp(op, kVolumeCompositeOp) == 0;
    if (is_forward)
      forward_kernel<<<static_cast<unsigned>(blocks), kThreadsPerBlock>>>(in, data_of(outputs, 0), data_of(outputs, 1),
                                                                          data_of(outputs, 2), data_of(outputs, 3));
    else
      backward_kernel<<<static_cast<unsigned>(blocks), kThreadsPerBlock>>>(in, data_of(outputs, 0),
                                                                           data_of(outputs, 1));
    cudaError_t status = cudaGetLastError();
    const char* call = is_forward ? "launching forward_kernel" : "launching backward_kernel";
    if (status == cudaSuccess) {
      status = cudaDeviceSynchronize();
      call = is_forward ? "cudaDeviceSynchronize after forward_kernel" : "cudaDeviceSynchronize after backward_kernel";
    }
    if (status != cudaSuccess) {
      genlab_tensor_map_destroy(outputs);
      return cuda_error(op, call, status);
    }
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
