// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a 4-byte magic (two zero bytes,
// the type 0x08 for unsigned bytes, the number of dimensions), the dimensions as big-endian
// int32, then the data. No LibTorch: tests/fuzz/ fuzzes this reader alone.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <genlab/sdk/error.hpp>

namespace genlab::data::formats {

// The dims of an IDX file of `ndim` unsigned-byte dimensions; checks the magic and that the
// data is all there, naming `path` and the byte offset of what is wrong.
inline std::vector<int64_t> idx_dims(const std::string& bytes, const std::string& path, int ndim) {
  GENLAB_CHECK(bytes.size() >= 4, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": truncated at byte offset " + std::to_string(bytes.size()) + ": expected a 4-byte IDX magic");
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint32_t magic = (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  char expected[16], got[16];
  std::snprintf(expected, sizeof expected, "0x%08x", 0x800u | unsigned(ndim));
  std::snprintf(got, sizeof got, "0x%08x", magic);
  GENLAB_CHECK(magic == (0x800u | unsigned(ndim)), GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": bad magic at byte offset 0: expected " + expected + " (IDX, unsigned bytes, " +
                   std::to_string(ndim) + " dims), got " + got + " (is it an IDX file of the right kind?)");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  GENLAB_CHECK(bytes.size() >= header, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": truncated at byte offset " + std::to_string(bytes.size()) + ": the header needs " +
                   std::to_string(header) + " bytes");
  const uint64_t available = bytes.size() - header;
  std::vector<int64_t> dims;
  uint64_t count = 1;
  bool overflow = false;  // the product passed 2^64; each dim is < 2^32, so check before multiplying
  for (int d = 0; d < ndim; ++d) {
    const unsigned char* p = b + 4 + 4 * d;
    const uint64_t v = (uint64_t(p[0]) << 24) | (uint64_t(p[1]) << 16) | (uint64_t(p[2]) << 8) | p[3];
    dims.push_back(static_cast<int64_t>(v));
    if (v != 0 && count > UINT64_MAX / v) overflow = true;
    else count *= v;
  }
  if (count == 0) overflow = false;  // a zero dim: no data, whatever the others say
  GENLAB_CHECK(!overflow && count <= available, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": truncated at byte offset " + std::to_string(bytes.size()) + ": the header promises " +
                   (overflow ? std::string("more than 2^64") : std::to_string(count)) + " bytes of data after byte " +
                   std::to_string(header));
  return dims;
}

}  // namespace genlab::data::formats
