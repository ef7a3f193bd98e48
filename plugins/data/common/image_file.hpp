// Reading one image file, gzipped or not, for the image datasets. Reading stops at the most
// the image can need: its header (in the first 64 KiB) gives its size, and a file of w x h
// pixels needs at most twice its raw samples at 16-bit RGBA plus 16 MiB of metadata; without
// a header stb_image can read there, at formats::kMaxImageFileBytes (256 MiB). The size is
// then checked again, and the decode bounded, by formats::decode_image.
#pragma once

#include <string>

#include <genlab/formats/files.hpp>
#include <genlab/formats/image.hpp>

namespace genlab::data {

inline formats::Image read_image_file(const std::string& path, int channels) {
  MaybeGzipped file(path);
  std::string bytes;
  file.read(bytes, 64 << 10);
  uint64_t cap = formats::kMaxImageFileBytes;
  const std::string side = std::to_string(formats::kMaxImageSide);
  std::string why = "the most an image file of at most " + side + "x" + side + " pixels needs";
  int w = 0, h = 0, n = 0;
  if (bytes.size() == (64 << 10) && formats::image_detail::stb_info(bytes, path, &w, &h, &n)) {
    formats::image_detail::check_sides(static_cast<uint64_t>(w < 0 ? 0 : w), static_cast<uint64_t>(h < 0 ? 0 : h), path,
                                       "the image's header");
    const uint64_t mib = uint64_t{1} << 20, samples = 2 * uint64_t(w) * uint64_t(h) * 8;
    const uint64_t need = (samples + mib - 1) / mib * mib + 16 * mib;
    if (need < cap) {
      cap = need;
      why = "the most a file of an image of " + std::to_string(w) + "x" + std::to_string(h) +
            " pixels needs (twice its samples at 16-bit RGBA, plus 16 MiB of metadata)";
    }
  }
  file.read(bytes, cap - bytes.size());
  GENLAB_CHECK(bytes.size() < cap || !file.more(), GENLAB_ERROR_INVALID_ARGUMENT,
               path + (file.gzipped() ? ": decompresses to more than " : ": holds more than ") + format_bytes(cap) +
                   " (reading stopped there): expected at most that, " + why);
  return formats::decode_image(bytes, path, channels);
}

}  // namespace genlab::data
