// Fuzz target: the IDX header reader of idx-images (MNIST, Fashion-MNIST).
#include <cstdint>
#include <cstdlib>
#include <string>

#include <genlab/formats/idx.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (int ndim : {1, 3}) {
    try {
      const auto dims = genlab::data::formats::idx_dims(bytes, "fuzz.idx", ndim);
      // What the plugin then reads (the product of the dims, after the header) must lie
      // inside the file.
      uint64_t count = 1;
      for (int64_t d : dims) {
        if (d < 1) std::abort();  // no empty dimension gets through (0 images, 0x0 images)
        count *= static_cast<uint64_t>(d);
      }
      if (4 + 4 * static_cast<uint64_t>(ndim) + count > size) std::abort();
    } catch (const genlab::sdk::Error&) {
    }
  }
  return 0;
}
