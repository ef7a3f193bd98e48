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

// The bytes of an IDX header of `ndim` dimensions: the magic, then 4 bytes a dimension.
inline size_t idx_header_bytes(int ndim) { return 4 + 4 * static_cast<size_t>(ndim); }

// The bytes of data `dims` promise (their product), or UINT64_MAX past 2^64.
inline uint64_t idx_data_bytes(const std::vector<int64_t>& dims) {
  uint64_t count = 1;
  for (int64_t d : dims)  // each dim is < 2^32: check before multiplying
    if (d == 0) return 0;
  for (int64_t d : dims) {
    const auto v = static_cast<uint64_t>(d);
    if (count > UINT64_MAX / v) return UINT64_MAX;
    count *= v;
  }
  return count;
}

// The dims in the header of an IDX file of `ndim` unsigned-byte dimensions (`bytes` holds at
// least the header, not necessarily the data): checks the magic and that no dimension is 0,
// naming `path` and the byte offset of what is wrong. With 3 dims the file holds images
// (count, rows, columns); with 1, labels.
inline std::vector<int64_t> idx_header(const std::string& bytes, const std::string& path, int ndim) {
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
  const size_t header = idx_header_bytes(ndim);
  GENLAB_CHECK(bytes.size() >= header, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": truncated at byte offset " + std::to_string(bytes.size()) + ": the header needs " +
                   std::to_string(header) + " bytes");
  std::vector<int64_t> dims;
  for (int d = 0; d < ndim; ++d) {
    const unsigned char* p = b + 4 + 4 * d;
    dims.push_back(
        static_cast<int64_t>((uint64_t(p[0]) << 24) | (uint64_t(p[1]) << 16) | (uint64_t(p[2]) << 8) | p[3]));
  }
  // An empty file of examples is a mistake, not a dataset: say so here rather than let an
  // empty split or a 0x0 image fail later, far from the file.
  const char* items = ndim == 3 ? "images" : ndim == 1 ? "labels" : "items";
  GENLAB_CHECK(dims[0] > 0, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": the header says 0 " + items + " (dim 0, at byte offset 4); expected at least 1");
  if (ndim == 3)
    GENLAB_CHECK(dims[1] > 0 && dims[2] > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                 path + ": the header says images of " + std::to_string(dims[2]) + "x" + std::to_string(dims[1]) +
                     " pixels (" + std::to_string(dims[1]) + " rows at byte offset 8, " + std::to_string(dims[2]) +
                     " columns at byte offset 12); expected sides of at least 1");
  for (int d = 1; d < ndim; ++d)
    GENLAB_CHECK(dims[d] > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                 path + ": dim " + std::to_string(d) + " (at byte offset " + std::to_string(4 + 4 * d) +
                     ") is 0; expected at least 1");
  return dims;
}

// The dims of an IDX file of `ndim` unsigned-byte dimensions; checks the header
// (idx_header) and that the data is all there, naming `path` and the byte offset of what is
// wrong. Bytes after the data are ignored.
inline std::vector<int64_t> idx_dims(const std::string& bytes, const std::string& path, int ndim) {
  std::vector<int64_t> dims = idx_header(bytes, path, ndim);
  const size_t header = idx_header_bytes(ndim);
  const uint64_t available = bytes.size() - header;
  const uint64_t count = idx_data_bytes(dims);
  GENLAB_CHECK(count <= available, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": truncated at byte offset " + std::to_string(bytes.size()) + ": the header promises " +
                   (count == UINT64_MAX ? std::string("more than 2^64") : std::to_string(count)) +
                   " bytes of data after byte " + std::to_string(header));
  return dims;
}

}  // namespace genlab::data::formats
