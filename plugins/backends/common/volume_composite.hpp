// The volume-rendering composite op of the backend plugins (cpu-reference, cuda): its
// contract, the validation of its inputs, and the per-ray arithmetic. Torch-free (genlab.h,
// genlab_util.h). The per-ray functions compile for the host and, under nvcc, for the device
// too, so every backend runs the same arithmetic and differs only in how it walks the rays.
//
// ------------------------------------------------------------------------------------------
// The contract (fixed: the NeRF model plugin calls these ops through the host)
//
// Every tensor is float32, compact (strides NULL or row-major), and all are on one device.
// R rays of S samples each; R = 0 is valid and gives empty outputs, so is S = 0 (nothing to
// composite: zero colour, depth and opacity). Inputs the op does not read are ignored.
//
// "volume_composite" (forward)
//   inputs   sigmas [R, S]     densities, >= 0, already activated (not checked: the op only
//                              computes; a negative density just makes alpha negative)
//            rgbs   [R, S, 3]  colours
//            deltas [R, S]     interval lengths along the ray
//            ts     [R, S]     sample distances along the ray (for depth)
//   outputs  color   [R, 3] = sum_i w_i c_i
//            depth   [R]    = sum_i w_i t_i
//            opacity [R]    = sum_i w_i
//            weights [R, S] = w_i
//   where alpha_i = 1 - exp(-sigma_i delta_i), T_i = exp(-sum_{j<i} sigma_j delta_j) and
//   w_i = T_i alpha_i. Every sample is composited (no early termination), so the values are
//   those of the autograd composite.
//
// "volume_composite_backward"
//   inputs   the four forward inputs; the forward's outputs color [R, 3], depth [R],
//            opacity [R]; the incoming gradients grad_color [R, 3], grad_depth [R],
//            grad_opacity [R]
//   outputs  grad_sigmas [R, S], grad_rgbs [R, S, 3]
//   No gradient flows to deltas or ts, nor through the weights output (the NeRF detaches the
//   weights: it uses them only to place its importance samples).
//
// The gradient, O(S) per ray without storing T. With v_i = g_C . c_i + g_D t_i + g_A (the
// loss's derivative by w_i), since w_i depends on sigma_k only for i >= k:
//   dw_k/dsigma_k = delta_k T_k exp(-sigma_k delta_k) = delta_k T_{k+1}
//   dw_i/dsigma_k = -delta_k w_i                       (i > k: T_i holds exp(-sigma_k delta_k))
// so dL/dsigma_k = delta_k (T_{k+1} v_k - sum_{i>k} w_i v_i) and dL/dc_i = w_i g_C. The
// suffix sum is the whole ray's sum_i w_i v_i = g_C . C + g_D D + g_A A (the forward's
// outputs) less the prefix sum_{i<=k} w_i v_i, which one forward sweep accumulates. Its
// rounding is absolute, about eps * |g_C . C + g_D D + g_A A|, so behind an opaque sample
// the gradient is that close to zero rather than exactly zero.
//
// Transmittance. T_{i+1} = T_i * exp(-sigma_i delta_i), with that exp also giving
// alpha_i = 1 - exp(-sigma_i delta_i): one exp per sample. This is the product form, but of
// exp(-sigma delta) itself, never of (1 - alpha): once a sample is opaque alpha rounds to 1
// (exp(-20) is 2e-9) and 1 - alpha to exactly 0, so the naive product loses all relative
// precision of T. Against the other choice, exp of the running sum: the product's relative
// error is one rounding per factor, ~i eps after i samples, whereas each addition of the
// running sum rounds by eps times the partial sum, and exp turns that absolute error into
// relative error of T: ~optical depth times worse (10x at an optical depth of 10, where
// T = 4.5e-5 still weighs). For a thin sample 1 - exp(-x) is off by ~eps absolutely (expm1
// would be exact relatively, at a second exp per sample); the sums only see w's absolute
// error, eps T, as in the autograd composite.
// ------------------------------------------------------------------------------------------
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"

// Per-ray functions are callable from CUDA kernels when nvcc compiles the including file.
#if defined(__CUDACC__)
#define GENLAB_HD __host__ __device__
#else
#define GENLAB_HD
#endif

namespace genlab::backends {

inline constexpr const char* kVolumeCompositeOp = "volume_composite";
inline constexpr const char* kVolumeCompositeBackwardOp = "volume_composite_backward";

// ------------------------------------------------------------------- per-ray arithmetic

// Composites one ray of `samples` samples. Pointers are the ray's rows: sigmas, deltas, ts
// and weights hold `samples` floats, rgbs 3 * samples; color receives 3 floats.
GENLAB_HD inline void composite_ray_forward(int64_t samples, const float* sigmas, const float* rgbs,
                                            const float* deltas, const float* ts, float* color, float* depth,
                                            float* opacity, float* weights) {
  float transmittance = 1.0f;  // T_i
  float red = 0.0f, green = 0.0f, blue = 0.0f, distance = 0.0f, total_weight = 0.0f;
  for (int64_t i = 0; i < samples; ++i) {
    const float survival = expf(-sigmas[i] * deltas[i]);  // 1 - alpha_i
    const float weight = transmittance * (1.0f - survival);
    weights[i] = weight;
    red += weight * rgbs[3 * i];
    green += weight * rgbs[3 * i + 1];
    blue += weight * rgbs[3 * i + 2];
    distance += weight * ts[i];
    total_weight += weight;
    transmittance *= survival;
  }
  color[0] = red;
  color[1] = green;
  color[2] = blue;
  *depth = distance;
  *opacity = total_weight;
}

// The gradients of one ray (see the contract above): `color`, `depth`, `opacity` are the
// forward's outputs for the ray, grad_* the incoming gradients. Writes `samples` floats to
// grad_sigmas and 3 * samples to grad_rgbs.
GENLAB_HD inline void composite_ray_backward(int64_t samples, const float* sigmas, const float* rgbs,
                                             const float* deltas, const float* ts, const float* color, float depth,
                                             float opacity, const float* grad_color, float grad_depth,
                                             float grad_opacity, float* grad_sigmas, float* grad_rgbs) {
  const float g_red = grad_color[0], g_green = grad_color[1], g_blue = grad_color[2];
  // sum_i w_i v_i over the whole ray.
  const float total =
      g_red * color[0] + g_green * color[1] + g_blue * color[2] + grad_depth * depth + grad_opacity * opacity;
  float transmittance = 1.0f;  // T_i before the update, T_{i+1} after
  float prefix = 0.0f;         // sum_{j<=i} w_j v_j
  for (int64_t i = 0; i < samples; ++i) {
    const float survival = expf(-sigmas[i] * deltas[i]);
    const float weight = transmittance * (1.0f - survival);
    const float r = rgbs[3 * i], g = rgbs[3 * i + 1], b = rgbs[3 * i + 2];
    const float dloss_dweight = g_red * r + g_green * g + g_blue * b + grad_depth * ts[i] + grad_opacity;
    prefix += weight * dloss_dweight;
    transmittance *= survival;
    // The suffix sum after the last sample is 0 exactly; total - prefix leaves a rounding
    // residue there, which a long last segment (the paper's 1e10) would blow up.
    const float suffix = i + 1 < samples ? total - prefix : 0.0f;
    grad_sigmas[i] = deltas[i] * (transmittance * dloss_dweight - suffix);
    grad_rgbs[3 * i] = weight * g_red;
    grad_rgbs[3 * i + 1] = weight * g_green;
    grad_rgbs[3 * i + 2] = weight * g_blue;
  }
}

// ----------------------------------------------------------------- validation (host only)

// The inputs of either op after validation: float pointers to compact data on `device`.
// The backward-only pointers stay NULL for the forward.
struct CompositeInputs {
  int64_t rays = 0;
  int64_t samples = 0;
  DLDevice device{kDLCPU, 0};
  const float* sigmas = nullptr;
  const float* rgbs = nullptr;
  const float* deltas = nullptr;
  const float* ts = nullptr;
  const float* color = nullptr;
  const float* depth = nullptr;
  const float* opacity = nullptr;
  const float* grad_color = nullptr;
  const float* grad_depth = nullptr;
  const float* grad_opacity = nullptr;
};

// One output of an op for given R and S: what a backend allocates, in the order it returns.
struct CompositeOutput {
  const char* name;
  int32_t ndim;
  int64_t shape[3];
};

namespace detail {

inline std::string device_type_name(int32_t type) {
  switch (type) {
    case kDLCPU: return "CPU";
    case kDLCUDA: return "CUDA";
    case kDLCUDAHost: return "CUDA host";
    case kDLCUDAManaged: return "CUDA managed";
    case kDLROCM: return "ROCm";
    case kDLMetal: return "Metal";
    case kDLVulkan: return "Vulkan";
    case kDLOpenCL: return "OpenCL";
    default: return "device type " + std::to_string(type);
  }
}

inline std::string device_name(DLDevice device) {
  return device_type_name(device.device_type) + ":" + std::to_string(device.device_id);
}

inline std::string dtype_name(DLDataType dtype) {
  const char* code = "type";
  switch (dtype.code) {
    case kDLFloat: code = "float"; break;
    case kDLInt: code = "int"; break;
    case kDLUInt: code = "uint"; break;
    case kDLBfloat: code = "bfloat"; break;
    default: break;
  }
  std::string name = code + std::to_string(dtype.bits);
  if (dtype.lanes != 1) name += "x" + std::to_string(dtype.lanes);
  return name;
}

inline std::string shape_text(int32_t ndim, const int64_t* shape) {
  std::string text = "[";
  for (int32_t i = 0; i < ndim; ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Whether a tensor is laid out row-major without gaps (the device-agnostic part of
// genlab_util_is_cpu_compact; a dimension of size 1 may have any stride).
inline bool is_compact(const DLTensor& t) {
  if (t.strides == nullptr) return true;
  int64_t expected = 1;
  for (int32_t i = t.ndim - 1; i >= 0; --i) {
    if (t.shape[i] != 1 && t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

// One expected input: its name, its shape with kRays / kSamples standing for R / S, the
// field of CompositeInputs it fills, and the shape as the contract writes it.
inline constexpr int64_t kRays = -1, kSamples = -2;
using FloatField = const float* CompositeInputs::*;
struct InputSpec {
  const char* name;
  int32_t ndim;
  int64_t dims[3];
  FloatField field;
  const char* shape_doc;
};

// sigmas comes first in both: it sets R and S for the rest.
inline constexpr InputSpec kForwardInputs[] = {
    {"sigmas", 2, {kRays, kSamples, 0}, &CompositeInputs::sigmas, "[R, S]"},
    {"rgbs", 3, {kRays, kSamples, 3}, &CompositeInputs::rgbs, "[R, S, 3]"},
    {"deltas", 2, {kRays, kSamples, 0}, &CompositeInputs::deltas, "[R, S]"},
    {"ts", 2, {kRays, kSamples, 0}, &CompositeInputs::ts, "[R, S]"},
};
inline constexpr InputSpec kBackwardInputs[] = {
    {"sigmas", 2, {kRays, kSamples, 0}, &CompositeInputs::sigmas, "[R, S]"},
    {"rgbs", 3, {kRays, kSamples, 3}, &CompositeInputs::rgbs, "[R, S, 3]"},
    {"deltas", 2, {kRays, kSamples, 0}, &CompositeInputs::deltas, "[R, S]"},
    {"ts", 2, {kRays, kSamples, 0}, &CompositeInputs::ts, "[R, S]"},
    {"color", 2, {kRays, 3, 0}, &CompositeInputs::color, "[R, 3]"},
    {"depth", 1, {kRays, 0, 0}, &CompositeInputs::depth, "[R]"},
    {"opacity", 1, {kRays, 0, 0}, &CompositeInputs::opacity, "[R]"},
    {"grad_color", 2, {kRays, 3, 0}, &CompositeInputs::grad_color, "[R, 3]"},
    {"grad_depth", 1, {kRays, 0, 0}, &CompositeInputs::grad_depth, "[R]"},
    {"grad_opacity", 1, {kRays, 0, 0}, &CompositeInputs::grad_opacity, "[R]"},
};

template <size_t N>
std::string input_list(const InputSpec (&specs)[N]) {
  std::string text;
  for (const InputSpec& spec : specs) text += std::string(text.empty() ? "" : ", ") + spec.name + " " + spec.shape_doc;
  return text;
}

template <size_t N>
genlab_error* parse(const char* op, const char* backend, const InputSpec (&specs)[N], const genlab_tensor_map* inputs,
                    DLDeviceType served, CompositeInputs* out) {
  CompositeInputs parsed;
  const DLDataType f32 = genlab_util_dtype_float32();
  for (const InputSpec& spec : specs) {
    const bool first = &spec == &specs[0];
    const long index = genlab_util_tensor_map_find(inputs, spec.name);
    if (index < 0 || inputs->tensors == nullptr || inputs->tensors[index] == nullptr)
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "%s: missing input '%s' (expects float32 %s)", op,
                                   spec.name, input_list(specs).c_str());
    const DLTensor& t = inputs->tensors[index]->dl_tensor;
    if (t.device.device_type != served)
      return genlab_util_error_new(GENLAB_ERROR_UNSUPPORTED_DEVICE,
                                   "%s: input '%s' is on %s, but the %s backend serves %s tensors only", op, spec.name,
                                   device_name(t.device).c_str(), backend, device_type_name(served).c_str());
    if (first) parsed.device = t.device;
    if (t.device.device_id != parsed.device.device_id)
      return genlab_util_error_new(
          GENLAB_ERROR_INVALID_ARGUMENT, "%s: input '%s' is on %s but '%s' is on %s: all inputs must be on one device",
          op, spec.name, device_name(t.device).c_str(), specs[0].name, device_name(parsed.device).c_str());
    if (t.dtype.code != f32.code || t.dtype.bits != f32.bits || t.dtype.lanes != 1)
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "%s: input '%s' must be float32, got %s", op,
                                   spec.name, dtype_name(t.dtype).c_str());
    if (t.ndim < 0 || t.ndim > 8 || (t.ndim > 0 && t.shape == nullptr))
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "%s: input '%s' has no valid shape (ndim %d)", op,
                                   spec.name, static_cast<int>(t.ndim));
    if (first) {
      if (t.ndim != 2 || t.shape[0] < 0 || t.shape[1] < 0)
        return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT,
                                     "%s: input '%s' must be %s (R rays of S samples), got %s", op, spec.name,
                                     spec.shape_doc, shape_text(t.ndim, t.shape).c_str());
      parsed.rays = t.shape[0];
      parsed.samples = t.shape[1];
    }
    int64_t expected[3] = {0, 0, 0};
    bool matches = t.ndim == spec.ndim;
    for (int32_t d = 0; d < spec.ndim; ++d) {
      expected[d] = spec.dims[d] == kRays ? parsed.rays : spec.dims[d] == kSamples ? parsed.samples : spec.dims[d];
      if (matches && t.shape[d] != expected[d]) matches = false;
    }
    if (!matches)
      return genlab_util_error_new(
          GENLAB_ERROR_INVALID_ARGUMENT, "%s: input '%s' must be %s = %s (R = %lld, S = %lld from '%s'), got %s", op,
          spec.name, spec.shape_doc, shape_text(spec.ndim, expected).c_str(), static_cast<long long>(parsed.rays),
          static_cast<long long>(parsed.samples), specs[0].name, shape_text(t.ndim, t.shape).c_str());
    if (!is_compact(t))
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT,
                                   "%s: input '%s' %s is not compact: expected row-major strides without gaps", op,
                                   spec.name, shape_text(t.ndim, t.shape).c_str());
    const char* data = static_cast<const char*>(t.data);
    if (data == nullptr && genlab_util_numel(&t) > 0)
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "%s: input '%s' %s has no data (NULL)", op, spec.name,
                                   shape_text(t.ndim, t.shape).c_str());
    if (data != nullptr && (reinterpret_cast<uintptr_t>(data) + t.byte_offset) % alignof(float) != 0)
      return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT,
                                   "%s: input '%s' is not aligned for float32 (data + byte_offset %% 4 != 0)", op,
                                   spec.name);
    parsed.*spec.field = data == nullptr ? nullptr : reinterpret_cast<const float*>(data + t.byte_offset);
  }
  *out = parsed;
  return nullptr;
}

}  // namespace detail

// Whether `op` is one of the two composite ops.
inline bool is_composite_op(const char* op) {
  return op != nullptr &&
         (std::strcmp(op, kVolumeCompositeOp) == 0 || std::strcmp(op, kVolumeCompositeBackwardOp) == 0);
}

// Checks the inputs of `op` (one of the two composite ops) against the contract: presence,
// device type `served`, one device for all, dtype, shapes, compactness. Returns NULL and
// fills `out`, or an error naming the op, the tensor and what was expected. `backend` is the
// plugin's name, for the messages.
inline genlab_error* parse_composite_inputs(const char* op, const char* backend, const genlab_tensor_map* inputs,
                                            DLDeviceType served, CompositeInputs* out) {
  if (std::strcmp(op, kVolumeCompositeBackwardOp) == 0)
    return detail::parse(op, backend, detail::kBackwardInputs, inputs, served, out);
  return detail::parse(op, backend, detail::kForwardInputs, inputs, served, out);
}

// The outputs of `op` for R rays of S samples, in the order run_op returns them; `outputs`
// receives up to 4, the count is returned.
inline size_t composite_outputs(const char* op, int64_t rays, int64_t samples, CompositeOutput outputs[4]) {
  if (std::strcmp(op, kVolumeCompositeBackwardOp) == 0) {
    outputs[0] = {"grad_sigmas", 2, {rays, samples, 0}};
    outputs[1] = {"grad_rgbs", 3, {rays, samples, 3}};
    return 2;
  }
  outputs[0] = {"color", 2, {rays, 3, 0}};
  outputs[1] = {"depth", 1, {rays, 0, 0}};
  outputs[2] = {"opacity", 1, {rays, 0, 0}};
  outputs[3] = {"weights", 2, {rays, samples, 0}};
  return 4;
}

}  // namespace genlab::backends
