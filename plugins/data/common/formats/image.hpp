// Decoding one image file (PNG, JPEG, BMP, TGA) with stb_image, bounded: no LibTorch, so
// tests/fuzz/ fuzzes it alone. Call sites include <stb_image.h> from Debian's libstb.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <genlab/sdk/error.hpp>
#include <stb_image.h>

namespace genlab::data::formats {

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // HWC bytes
};

// Larger images are refused before decoding: a hostile 20-byte header (an RLE TGA, say)
// cannot make a dataset allocate and fill gigabytes. 4096 x 4096 is far above what a
// generative model on this CPU trains on.
constexpr int kMaxImageSide = 4096;

// Decodes `bytes` (from `path`) to `channels` channels, or to 1 or 3 when `channels` is 0
// (grey stays grey, colour or grey+alpha become RGB / grey).
inline Image decode_image(const std::string& bytes, const std::string& path, int channels) {
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  GENLAB_CHECK(bytes.size() < (1u << 30), GENLAB_ERROR_INVALID_ARGUMENT, path + ": larger than 1 GiB");
  int w = 0, h = 0, n = 0;
  GENLAB_CHECK(stbi_info_from_memory(data, size, &w, &h, &n), GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": not a readable image: " + stbi_failure_reason());
  GENLAB_CHECK(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": " + std::to_string(w) + "x" + std::to_string(h) + " pixels; expected sides of 1.." +
                   std::to_string(kMaxImageSide));
  Image out;
  out.channels = channels != 0 ? channels : (n >= 3 ? 3 : 1);
  unsigned char* decoded = stbi_load_from_memory(data, size, &out.width, &out.height, &n, out.channels);
  GENLAB_CHECK(decoded != nullptr, GENLAB_ERROR_INVALID_ARGUMENT, path + ": not a readable image: " + stbi_failure_reason());
  out.pixels.assign(decoded, decoded + static_cast<size_t>(out.width) * out.height * out.channels);
  stbi_image_free(decoded);
  return out;
}

}  // namespace genlab::data::formats
