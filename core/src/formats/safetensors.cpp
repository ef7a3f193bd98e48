#include "genlab/core/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/json.hpp"
#include "genlab/util/sha256.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace {

// The __metadata__ key of the tensor data's sha256 (hex), written and checked by genlab.
constexpr const char* kDataDigestKey = "genlab.data_sha256";

struct DtypeName {
  const char* name;
  uint8_t code;
  uint8_t bits;
};
constexpr DtypeName kDtypes[] = {
    {"F64", kDLFloat, 64}, {"F32", kDLFloat, 32}, {"F16", kDLFloat, 16}, {"BF16", kDLBfloat, 16},
    {"I64", kDLInt, 64},   {"I32", kDLInt, 32},   {"I16", kDLInt, 16},   {"I8", kDLInt, 8},
    {"U64", kDLUInt, 64},  {"U32", kDLUInt, 32},  {"U16", kDLUInt, 16},  {"U8", kDLUInt, 8},
};

const char* dtype_name(const DLDataType& t) {
  if (t.lanes != 1) return nullptr;
  for (const auto& d : kDtypes)
    if (d.code == t.code && d.bits == t.bits) return d.name;
  return nullptr;
}

// Copies a CPU tensor of any strides into `out`, row-major.
void append_compact(const DLTensor& t, size_t element, std::string& out) {
  const char* base = static_cast<const char*>(t.data) + t.byte_offset;
  const int64_t count = genlab_util_numel(&t);
  if (count == 0) return;
  if (t.strides == nullptr || genlab_util_is_cpu_compact(&t, t.dtype)) {
    out.append(base, static_cast<size_t>(count) * element);
    return;
  }
  std::vector<int64_t> index(static_cast<size_t>(t.ndim), 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t offset = 0;
    for (int32_t d = 0; d < t.ndim; ++d) offset += index[d] * t.strides[d];
    out.append(base + offset * static_cast<int64_t>(element), element);
    for (int32_t d = t.ndim - 1; d >= 0; --d) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
}

}  // namespace

std::string encode_safetensors(const genlab_tensor_map& map, const Metadata& metadata) {
  std::string data;
  std::string entries;
  for (size_t i = 0; i < map.count; ++i) {
    const std::string name = map.names[i];
    if (name == "__metadata__") throw HostError("a tensor may not be named __metadata__");
    const DLTensor& t = map.tensors[i]->dl_tensor;
    if (t.device.device_type != kDLCPU && t.device.device_type != kDLCUDAHost)
      throw HostError("tensor '" + name + "' is not in CPU memory: export CPU tensors to checkpoint them");
    const char* dtype = dtype_name(t.dtype);
    if (dtype == nullptr)
      throw HostError("tensor '" + name + "' has a dtype safetensors cannot hold (code " +
                      std::to_string(t.dtype.code) + ", " + std::to_string(t.dtype.bits) + " bits)");
    const size_t begin = data.size();
    append_compact(t, t.dtype.bits / 8, data);
    std::string shape;
    for (int32_t d = 0; d < t.ndim; ++d) shape += (d ? "," : "") + std::to_string(t.shape[d]);
    entries += "," + json_quote(name) + ":{\"dtype\":\"" + dtype + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
               std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  // The data's digest travels in the header: a tensor value changed by hand (or by a disk)
  // is refused when read back, not resumed or evaluated silently.
  Metadata with_digest = metadata;
  with_digest[kDataDigestKey] = sha256_hex(data);
  std::string header = "{\"__metadata__\":{";
  bool first = true;
  for (const auto& [k, v] : with_digest) {
    header += (first ? "" : ",") + json_quote(k) + ":" + json_quote(v);
    first = false;
  }
  header += "}" + entries + "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  const uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}

void write_safetensors(const std::filesystem::path& file, const genlab_tensor_map& map, const Metadata& metadata) {
  std::string bytes;
  try {
    bytes = encode_safetensors(map, metadata);
  } catch (const HostError& e) {
    throw HostError(file.string() + ": " + e.what());
  }
  write_file_atomic(file, bytes);
}

namespace {

[[noreturn]] void invalid(const std::string& what, const std::string& reason) {
  throw HostError(what + ": not a valid safetensors file: " + reason);
}

// One tensor of the header: its dtype, shape and byte range in the data.
struct Entry {
  std::string name;
  DLDataType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// A size or offset: an integer in [0, 2^63) (a float, a sign or more is refused).
bool is_count(const Json& v) {
  return v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max());
}

// Reads and checks one header entry against the size of the data that follows the header.
Entry read_entry(const std::string& name, const Json& value, uint64_t buffer_size, const std::string& what) {
  auto fail = [&](const std::string& reason) { invalid(what, "entry '" + name + "' " + reason); };
  if (!value.is_object()) fail("is not an object");
  const auto dtype = value.find("dtype"), shape = value.find("shape"), offsets = value.find("data_offsets");
  if (dtype == value.end() || !dtype->is_string() || shape == value.end() || !shape->is_array() ||
      offsets == value.end() || !offsets->is_array() || offsets->size() != 2)
    fail("lacks dtype, shape or data_offsets [begin, end]");
  Entry e{name, {}, {}, 0, 0};
  const std::string dtype_name = dtype->get<std::string>();
  const auto known =
      std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeName& d) { return dtype_name == d.name; });
  if (known == std::end(kDtypes)) fail("has unknown dtype '" + dtype_name + "'");
  e.dtype = DLDataType{known->code, known->bits, 1};
  uint64_t elements = 1;
  for (const auto& s : *shape) {
    if (!is_count(s)) fail("has a shape that is not non-negative integers");
    const uint64_t size = s.get<uint64_t>();
    if (size > 0 && elements > std::numeric_limits<uint64_t>::max() / size) fail("has a shape too large");
    elements *= size;
    e.shape.push_back(int64_t(size));
  }
  if (e.shape.size() > 8) fail("has more than 8 dimensions");
  for (const auto& o : *offsets)
    if (!is_count(o)) fail("has data_offsets that are not non-negative integers");
  e.begin = (*offsets)[0].get<uint64_t>();
  e.end = (*offsets)[1].get<uint64_t>();
  if (e.begin > e.end || e.end > buffer_size)
    fail("has data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] outside the " +
         std::to_string(buffer_size) + "-byte data");
  const uint64_t element = e.dtype.bits / 8;
  if (elements > std::numeric_limits<uint64_t>::max() / element || e.end - e.begin != elements * element)
    fail("spans " + std::to_string(e.end - e.begin) + " bytes, its shape and dtype need " +
         std::to_string(elements * element));
  return e;
}

// The ranges must tile the data exactly: no overlap, no gap, nothing left over.
void check_tiling(const std::vector<Entry>& entries, uint64_t buffer_size, const std::string& what) {
  std::vector<const Entry*> by_offset;
  for (const auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t cursor = 0;
  for (const Entry* e : by_offset) {
    if (e->begin != cursor)
      invalid(what, "entry '" + e->name + "' starts at byte " + std::to_string(e->begin) + ", expected " +
                        std::to_string(cursor) + (e->begin < cursor ? " (it overlaps another)" : " (a gap before it)"));
    cursor = e->end;
  }
  if (cursor != buffer_size)
    invalid(what, std::to_string(buffer_size - cursor) + " bytes after the last tensor belong to none");
}

// A recorded digest of the data must match (and is not returned as metadata).
void verify_digest(Metadata& metadata, const char* buffer, size_t buffer_size, const std::string& what) {
  auto digest = metadata.find(kDataDigestKey);
  if (digest == metadata.end()) return;
  Sha256 hash;
  hash.update(buffer, buffer_size);
  if (hash.hex() != digest->second)
    throw HostError(what + ": its tensor data differ from the sha256 recorded when it was written (" +
                    digest->second.substr(0, 16) + "...): the file was changed or damaged");
  metadata.erase(digest);
}

}  // namespace

SafetensorsContents decode_safetensors(const std::string& bytes, const std::string& what) {
  if (bytes.size() < 8) invalid(what, "shorter than its 8-byte header length");
  uint64_t header_length = 0;
  for (int i = 0; i < 8; ++i) header_length |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (header_length > bytes.size() - 8)
    invalid(what, "header length " + std::to_string(header_length) + " runs past the end of the file (" +
                      std::to_string(bytes.size()) + " bytes)");
  const Json header = parse_json(bytes.substr(8, header_length), what + " (header)");
  if (!header.is_object()) invalid(what, "the header is not a JSON object");
  const size_t buffer_size = bytes.size() - 8 - header_length;
  const char* buffer = bytes.data() + 8 + header_length;

  SafetensorsContents out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name != "__metadata__") {
      entries.push_back(read_entry(name, value, buffer_size, what));
      continue;
    }
    if (!value.is_object()) invalid(what, "__metadata__ is not an object");
    for (const auto& [k, v] : value.items()) {
      if (!v.is_string()) invalid(what, "__metadata__ value '" + k + "' is not a string");
      out.metadata[k] = v.get<std::string>();
    }
  }
  check_tiling(entries, buffer_size, what);
  verify_digest(out.metadata, buffer, buffer_size, what);

  out.tensors.reset(genlab_util_tensor_map_new(entries.size()));
  if (!out.tensors) throw HostError(what + ": out of memory");
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    DLManagedTensor* t = genlab_util_cpu_tensor_new(e.dtype, static_cast<int32_t>(e.shape.size()), e.shape.data());
    if (t == nullptr) throw HostError(what + ": out of memory for tensor '" + e.name + "'");
    if (e.end > e.begin) std::memcpy(t->dl_tensor.data, buffer + e.begin, e.end - e.begin);
    if (genlab_util_tensor_map_set(out.tensors.get(), i, e.name.c_str(), t) != 0)
      throw HostError(what + ": out of memory");
  }
  return out;
}

SafetensorsContents read_safetensors(const std::filesystem::path& file) {
  return decode_safetensors(read_file(file), file.string());
}

}  // namespace genlab
