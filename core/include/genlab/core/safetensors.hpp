// Checkpoints as safetensors (https://github.com/huggingface/safetensors, format v1): an
// 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
// byte range, optional "__metadata__" (string to string), then the raw little-endian bytes.
// Python users open our files with the `safetensors` package unchanged; nothing in them can
// execute code when read.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "genlab/core/instances.hpp"
#include "genlab/genlab.h"

namespace genlab {

using Metadata = std::map<std::string, std::string>;

// Serialises the CPU tensors of `map` (any strides) with `metadata`. Throws HostError naming
// the tensor for a device or dtype it cannot write.
std::string encode_safetensors(const genlab_tensor_map& map, const Metadata& metadata);

// encode_safetensors, written atomically to `file` (the previous file stays on failure).
void write_safetensors(const std::filesystem::path& file, const genlab_tensor_map& map, const Metadata& metadata);

struct SafetensorsContents {
  Metadata metadata;
  TensorMapPtr tensors;  // compact CPU tensors, in file order, owned
};

// Parses and validates every offset, size and dtype; `what` names the source in errors.
SafetensorsContents decode_safetensors(const std::string& bytes, const std::string& what);
SafetensorsContents read_safetensors(const std::filesystem::path& file);

}  // namespace genlab
