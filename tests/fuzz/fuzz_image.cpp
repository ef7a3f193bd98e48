// Fuzz target: image decoding of image-folder (PNG, JPEG, BMP, TGA through stb_image, which
// image.hpp compiles into this target, so that it is instrumented too), with the PNG check and
// the decode's memory budget. scripts/fuzz.sh runs it with -rss_limit_mb=2048 (the malloc
// limit too): a decode that allocates past the caps is a crash.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <genlab/formats/image.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // One decode per input, the channel count chosen by the input's length: decoding each input
  // three times made this the slowest target (3,800 executions/s); the corpus covers all three.
  static constexpr int kChannelChoices[] = {0, 1, 3};
  {
    const int channels = kChannelChoices[size % 3];
    try {
      const auto image = genlab::data::formats::decode_image(bytes, "fuzz.png", channels);
      if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) std::abort();
      // The caps hold for whatever was decoded.
      using genlab::data::formats::kMaxImageSide;
      if (image.width < 1 || image.height < 1 || image.width > kMaxImageSide || image.height > kMaxImageSide)
        std::abort();
    } catch (const genlab::sdk::Error&) {
    }
  }
  return 0;
}
