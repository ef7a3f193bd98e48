// Fuzz target: image decoding of image-folder (PNG, JPEG, BMP, TGA through stb_image,
// compiled into this target so that it is instrumented too).
#define STB_IMAGE_IMPLEMENTATION
#include <cstdint>
#include <cstdlib>
#include <string>

#include "../../plugins/data/common/formats/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (int channels : {0, 1, 3}) {
    try {
      const auto image = genlab::data::formats::decode_image(bytes, "fuzz.png", channels);
      if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) std::abort();
    } catch (const genlab::sdk::Error&) {
    }
  }
  return 0;
}
