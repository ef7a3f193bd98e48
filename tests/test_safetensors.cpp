// Checkpoints as safetensors: a bit-identical round trip, the bytes as the format
// specifies them, and every malformed file refused with the reason.
#include "catch.hpp"

#include <cstring>

#include "genlab/util/error.hpp"
#include "genlab/core/safetensors.hpp"
#include "genlab/genlab_util.h"

using namespace genlab;
using genlab::test::Contains;

namespace {

TensorMapPtr sample_map() {
  TensorMapPtr map(genlab_util_tensor_map_new(2));
  const int64_t shape[2] = {2, 3};
  DLManagedTensor* w = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, shape);
  for (int i = 0; i < 6; ++i) static_cast<float*>(w->dl_tensor.data)[i] = 0.5f * i - 1;
  const int64_t one = 1;
  DLManagedTensor* step = genlab_util_cpu_tensor_new(genlab_util_dtype_int64(), 1, &one);
  static_cast<int64_t*>(step->dl_tensor.data)[0] = 1234567890123;
  genlab_util_tensor_map_set(map.get(), 0, "weight", w);
  genlab_util_tensor_map_set(map.get(), 1, "adam.step", step);
  return map;
}

std::string with_header(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string refusal(const std::string& bytes) {
  try {
    decode_safetensors(bytes, "test.safetensors");
  } catch (const HostError& e) {
    return e.what();
  }
  FAIL("the malformed file was accepted");
  return {};
}

}  // namespace

TEST_CASE("tensors and metadata round-trip through safetensors bit for bit", "[safetensors]") {
  TensorMapPtr original = sample_map();
  const std::string bytes = encode_safetensors(*original, {{"step", "42"}, {"plugin", "vae"}});
  SafetensorsContents back = decode_safetensors(bytes, "memory");
  CHECK(back.metadata.at("step") == "42");
  CHECK(back.metadata.at("plugin") == "vae");
  REQUIRE(back.tensors->count == 2);
  for (size_t i = 0; i < 2; ++i) {
    const DLTensor& a = original->tensors[i]->dl_tensor;
    const DLTensor& b = back.tensors->tensors[i]->dl_tensor;
    CHECK(std::string(back.tensors->names[i]) == original->names[i]);
    CHECK(a.ndim == b.ndim);
    CHECK(a.dtype.code == b.dtype.code);
    CHECK(std::memcmp(a.data, b.data, static_cast<size_t>(genlab_util_numel(&a)) * a.dtype.bits / 8) == 0);
  }
  // Encoding what was decoded gives the same bytes.
  CHECK(encode_safetensors(*back.tensors, back.metadata) == bytes);
}

TEST_CASE("the bytes follow the safetensors layout", "[safetensors]") {
  const std::string bytes = encode_safetensors(*sample_map(), {});
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  CHECK((8 + n) % 8 == 0);  // the data starts aligned
  const std::string header = bytes.substr(8, n);
  CHECK_THAT(header, Contains("\"weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"));
  CHECK_THAT(header, Contains("\"adam.step\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[24,32]}"));
  CHECK(bytes.size() == 8 + n + 32);
  float first;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  CHECK(first == -1.0f);  // little-endian float32 of weight[0, 0]
}

TEST_CASE("a strided tensor is written compact, in row-major order", "[safetensors]") {
  float data[6] = {0, 1, 2, 3, 4, 5};  // a [2, 3] matrix viewed transposed as [3, 2]
  int64_t shape[2] = {3, 2}, strides[2] = {1, 3};
  DLManagedTensor t{};
  t.dl_tensor = DLTensor{data, {kDLCPU, 0}, 2, genlab_util_dtype_float32(), shape, strides, 0};
  const char* names[] = {"t"};
  DLManagedTensor* tensors[] = {&t};
  const genlab_tensor_map map{GENLAB_TENSOR_MAP_STRUCT_SIZE, 1, names, tensors, nullptr};
  SafetensorsContents back = decode_safetensors(encode_safetensors(map, {}), "memory");
  const float* out = static_cast<const float*>(back.tensors->tensors[0]->dl_tensor.data);
  CHECK(std::vector<float>(out, out + 6) == std::vector<float>{0, 3, 1, 4, 2, 5});
}

TEST_CASE("malformed safetensors files are refused with the reason", "[safetensors][bad-input]") {
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK_NOTHROW(decode_safetensors(with_header(good, std::string(8, '\0')), "ok"));
  SECTION("shorter than the length prefix") {
    CHECK_THAT(refusal("abc"), Contains("shorter than its 8-byte header length"));
  }
  SECTION("a header length past the end") {
    std::string bytes = with_header(good, std::string(8, '\0'));
    bytes[0] = static_cast<char>(0xff);
    bytes[5] = 1;
    CHECK_THAT(refusal(bytes), Contains("runs past the end of the file"));
  }
  SECTION("truncated data") {
    CHECK_THAT(refusal(with_header(good, std::string(4, '\0'))), Contains("outside the 4-byte data"));
  }
  SECTION("offsets out of range") {
    CHECK_THAT(refusal(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", std::string(8, '\0'))),
               Contains("outside the 8-byte data"));
  }
  SECTION("overlapping tensors") {
    const std::string h =
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    CHECK_THAT(refusal(with_header(h, std::string(8, '\0'))), Contains("it overlaps another"));
  }
  SECTION("a gap between tensors") {
    const std::string h =
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
    CHECK_THAT(refusal(with_header(h, std::string(12, '\0'))), Contains("a gap before it"));
  }
  SECTION("a size that disagrees with shape and dtype") {
    CHECK_THAT(refusal(with_header(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'))),
               Contains("spans 8 bytes, its shape and dtype need 16"));
  }
  SECTION("a shape too large") {
    CHECK_THAT(refusal(with_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                                   std::string(8, '\0'))),
               Contains("shape too large"));
  }
  SECTION("an unknown dtype") {
    CHECK_THAT(
        refusal(with_header(R"({"a":{"dtype":"F128","shape":[],"data_offsets":[0,16]}})", std::string(16, '\0'))),
        Contains("unknown dtype 'F128'"));
  }
  SECTION("a header that is not JSON") { CHECK_THAT(refusal(with_header("{\"a\":", "")), Contains("(header): byte")); }
  SECTION("a duplicate name") {
    const std::string h =
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    CHECK_THAT(refusal(with_header(h, std::string(8, '\0'))), Contains("duplicate key 'a'"));
  }
  SECTION("bytes that belong to no tensor") {
    CHECK_THAT(refusal(with_header(good, std::string(12, '\0'))),
               Contains("4 bytes after the last tensor belong to none"));
  }
}
