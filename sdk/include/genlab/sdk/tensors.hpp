// genlab/sdk/tensors.hpp — DLPack tensor maps as at::Tensor and back without copying
// (inputs borrowed, outputs handed over), scalars, and backend ops. Part of
// genlab/sdk/plugin.hpp.
#pragma once

#include "genlab/sdk/host.hpp"

namespace genlab::sdk {

// ---------------------------------------------------------------------- tensors & maps

inline at::Device to_device(DLDevice device) {
  switch (device.device_type) {
    case kDLCPU: return at::Device(at::kCPU);
    case kDLCUDA:
    case kDLCUDAManaged: return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device.device_id));
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
    throw Error(GENLAB_ERROR_NOT_FOUND, "expected a tensor named '" + name + "', got [" + have + "]");
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

}  // namespace genlab::sdk
