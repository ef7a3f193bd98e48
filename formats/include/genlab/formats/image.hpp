// Decoding one image file (PNG, JPEG, BMP, TGA) with stb_image, bounded: no LibTorch, so
// tests/fuzz/ fuzzes it alone. stb_image (the header of Debian's libstb) is compiled into each
// file that includes this one, as static functions, with its allocations counted: a decode is
// held to a memory budget that the image's header size sets, so that no file can make the
// decoder allocate more than its pixels need (stb_image by itself grows a PNG's inflate buffer
// as far as the compressed stream goes: a 1 MB PNG of 1x1 pixels could take 2 GB).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <genlab/sdk/error.hpp>

namespace genlab::data::formats::image_detail {

// The memory budget of the decode running on this thread (none: nullptr). stb_image's
// allocations go through the functions below, each block led by its size; past the budget an
// allocation fails, stb_image gives up ("outofmem") and decode_image says why.
struct Budget {
  uint64_t limit = 0, used = 0, peak = 0;
  bool exceeded = false;
};
inline thread_local Budget* budget = nullptr;

inline bool budget_take(uint64_t n) {
  if (budget == nullptr) return true;
  if (n > budget->limit - budget->used) {
    budget->exceeded = true;
    return false;
  }
  budget->used += n;
  if (budget->used > budget->peak) budget->peak = budget->used;
  return true;
}

inline void budget_give(uint64_t n) {
  if (budget != nullptr) budget->used -= n < budget->used ? n : budget->used;
}

inline void* budget_malloc(size_t n) {
  if (!budget_take(n)) return nullptr;
  auto* block = static_cast<uint64_t*>(std::malloc(n + 16));
  if (block == nullptr) {
    budget_give(n);
    return nullptr;
  }
  block[0] = n;
  return block + 2;
}

inline void budget_free(void* p) {
  if (p == nullptr) return;
  uint64_t* block = static_cast<uint64_t*>(p) - 2;
  budget_give(block[0]);
  std::free(block);
}

inline void* budget_realloc(void* p, size_t n) {
  if (p == nullptr) return budget_malloc(n);
  uint64_t* block = static_cast<uint64_t*>(p) - 2;
  const uint64_t old = block[0];
  if (n > old && !budget_take(n - old)) return nullptr;
  auto* moved = static_cast<uint64_t*>(std::realloc(block, n + 16));
  if (moved == nullptr) {
    if (n > old) budget_give(n - old);
    return nullptr;
  }
  if (n < old) budget_give(old - n);
  moved[0] = n;
  return moved + 2;
}

}  // namespace genlab::data::formats::image_detail

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
// The four formats genlab reads; stb_image's others (PSD, GIF, HDR, PIC, PNM) are left out:
// code no dataset needs is code a hostile file can reach (a 1.5 KB PSD declaring 3855x3855
// pixels took 16 s in the fuzzer).
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_MALLOC(n) ::genlab::data::formats::image_detail::budget_malloc(n)
#define STBI_REALLOC(p, n) ::genlab::data::formats::image_detail::budget_realloc(p, n)
#define STBI_FREE(p) ::genlab::data::formats::image_detail::budget_free(p)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wshadow"
#include <stb_image.h>
#pragma GCC diagnostic pop
#undef STB_IMAGE_IMPLEMENTATION  // a later #include <stb_image.h> declares only (include this header first)

namespace genlab::data::formats {

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // HWC bytes
};

// Larger images are refused before decoding: a hostile 20-byte header (an RLE TGA, say)
// cannot make a dataset allocate and fill gigabytes. 4096 x 4096 is far above what a
// generative model on this CPU trains on.
constexpr int kMaxImageSide = 4096;
// The total, checked as well (so that raising the side's cap does not lift it): 16 Mi pixels,
// so at most 64 MiB of decoded bytes (4 channels), 128 MiB inside stb_image for 16-bit PNGs.
constexpr uint64_t kMaxImagePixels = uint64_t{kMaxImageSide} * kMaxImageSide;
// The most an image file may hold (decompressed, when it is gzipped): twice the raw samples
// of the largest image accepted (16 Mi pixels of 4 channels of 16 bits: 128 MiB), so that
// any encoding of it fits, uncompressed ones included. 256 MiB.
constexpr uint64_t kMaxImageFileBytes = 2 * kMaxImagePixels * 4 * 2;

namespace image_detail {

inline uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// stb_image's reason for its last failure ("unknown" if it gave none).
inline std::string stb_reason() {
  const char* reason = stbi_failure_reason();
  return reason && *reason ? reason : "unknown";
}

inline std::string sides(uint64_t w, uint64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

inline void check_sides(uint64_t w, uint64_t h, const std::string& path, const char* source) {
  GENLAB_CHECK(
      w >= 1 && h >= 1 && w <= uint64_t(kMaxImageSide) && h <= uint64_t(kMaxImageSide) && w * h <= kMaxImagePixels,
      GENLAB_ERROR_INVALID_ARGUMENT,
      path + ": " + sides(w, h) + " pixels (" + source + "); expected sides of 1.." + std::to_string(kMaxImageSide) +
          " (images are refused before decoding above " + sides(kMaxImageSide, kMaxImageSide) + ")");
}

// A chunk type as messages show it: 'IDAT', or its bytes in hex when they are not letters.
inline std::string chunk_name(const unsigned char* t) {
  bool letters = true;
  for (int i = 0; i < 4; ++i) letters = letters && ((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'));
  if (letters) return "'" + std::string(reinterpret_cast<const char*>(t), 4) + "'";
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%02x%02x%02x%02x", t[0], t[1], t[2], t[3]);
  return std::string("of type ") + hex;
}

// Checks a PNG's structure before stb_image sees it, so that errors name the cause and the
// byte offset: every chunk inside the file up to IEND (stb_image needs it too), IHDR first
// with sides 1..4096, a valid bit depth and colour type, and image data (IDAT). Walks the
// chunks only; the decode's memory budget bounds what the image data inflates to.
inline void check_png(const std::string& bytes, const std::string& path) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  const auto truncated = [&](size_t chunk, const std::string& inside) {
    return path + ": truncated PNG: the file ends at byte offset " + std::to_string(size) +
           ", inside the chunk at byte offset " + std::to_string(chunk) + " (" + inside +
           "); expected the whole file (was it cut short by a download or a copy?)";
  };
  bool header = false, data = false;
  for (size_t at = 8;;) {
    GENLAB_CHECK(at < size, GENLAB_ERROR_INVALID_ARGUMENT,
                 path + ": truncated PNG: the file ends at byte offset " + std::to_string(size) +
                     (header ? ", before the IEND chunk" : ", before the IHDR chunk") +
                     "; expected the whole file (was it cut short by a download or a copy?)");
    GENLAB_CHECK(size - at >= 8, GENLAB_ERROR_INVALID_ARGUMENT,
                 truncated(at, "its 8 bytes of length and type are cut"));
    const uint32_t length = be32(b + at);
    const unsigned char* type = b + at + 4;
    const std::string name = chunk_name(type);
    GENLAB_CHECK(length <= 0x7fffffffu, GENLAB_ERROR_INVALID_ARGUMENT,
                 path + ": the PNG chunk " + name + " at byte offset " + std::to_string(at) + " declares " +
                     std::to_string(length) + " bytes; PNG allows at most 2^31 - 1");
    GENLAB_CHECK(
        uint64_t(size - at) >= 12 + uint64_t(length), GENLAB_ERROR_INVALID_ARGUMENT,
        truncated(at, name + ", which declares " + std::to_string(length) + " bytes of data and a 4-byte CRC"));
    const unsigned char* content = b + at + 8;
    if (!header && std::memcmp(type, "CgBI", 4) != 0) {  // CgBI: Apple's variant, before IHDR (stb reads it)
      GENLAB_CHECK(std::memcmp(type, "IHDR", 4) == 0, GENLAB_ERROR_INVALID_ARGUMENT,
                   path + ": the first PNG chunk (byte offset " + std::to_string(at) + ") is " + name +
                       ", expected 'IHDR' (the image header)");
      GENLAB_CHECK(length == 13, GENLAB_ERROR_INVALID_ARGUMENT,
                   path + ": the PNG's IHDR chunk holds " + std::to_string(length) + " bytes, expected 13");
      check_sides(be32(content), be32(content + 4), path, "PNG header");
      const int depth = content[8], colour = content[9];
      const bool valid = (colour == 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) ||
                         (colour == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
                         ((colour == 2 || colour == 4 || colour == 6) && (depth == 8 || depth == 16));
      GENLAB_CHECK(valid, GENLAB_ERROR_INVALID_ARGUMENT,
                   path + ": the PNG header's bit depth " + std::to_string(depth) + " and colour type " +
                       std::to_string(colour) +
                       " are no valid pair (expected colour type 0, 2, 3, 4 or 6 and a depth it allows)");
      header = true;
    } else if (std::memcmp(type, "IDAT", 4) == 0) {
      data = true;
    } else if (std::memcmp(type, "IEND", 4) == 0) {
      break;
    }
    at += 12 + size_t(length);
  }
  GENLAB_CHECK(data, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": the PNG has no IDAT chunk (no image data) before its IEND chunk");
}

// The memory budget of decoding a w x h image from a file of `file_bytes`: what stb_image
// needs at most, with room to spare. Per pixel 48 bytes: a 16-bit RGBA PNG holds its inflated
// rows (8 bytes, twice while its buffer grows), the decoded image (8) and its 8-bit conversion
// (4); a progressive JPEG its coefficients (2 bytes a component) and planes. Plus twice the
// file (stb copies a PNG's image data into a growing buffer) and 1 MiB for tables.
inline uint64_t decode_budget(uint64_t w, uint64_t h, uint64_t file_bytes) {
  return 48 * w * h + 2 * file_bytes + (uint64_t{1} << 20);
}

inline uint32_t le16(const unsigned char* p) { return p[0] | (uint32_t(p[1]) << 8); }
inline uint32_t le32(const unsigned char* p) { return le16(p) | (le16(p + 2) << 16); }
inline uint32_t be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }

inline void check_data_fits(uint64_t need, uint64_t have, const std::string& path, const std::string& declared,
                            const std::string& holds) {
  GENLAB_CHECK(have >= need, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": its header declares " + declared + ", which takes at least " + std::to_string(need) +
                   " bytes; the file holds " + std::to_string(have) + holds +
                   ": refused before decoding (a file cut short, or a header that does not match its data)");
}

// A JPEG's 8x8 blocks: those of each component of its frame header (SOF0, SOF1 or SOF2, the
// ones stb_image decodes), found by walking the markers before it as stb_image does; 0 if the
// walk finds no frame header of a w x h image (stb_image then fails on its own).
inline uint64_t jpeg_blocks(const unsigned char* b, size_t size, uint64_t w, uint64_t h) {
  for (size_t at = 2; at + 1 < size;) {
    if (b[at] != 0xff) {  // stb_image skips padding between segments
      ++at;
      continue;
    }
    while (at < size && b[at] == 0xff) ++at;
    if (at + 3 > size) return 0;
    const unsigned marker = b[at];
    const size_t length = be16(b + at + 1), body = at + 3;
    if (marker >= 0xc0 && marker <= 0xc2) {
      if (body + 6 > size || be16(b + body + 1) != h || be16(b + body + 3) != w) return 0;
      const size_t n = b[body + 5];
      if (body + 6 + 3 * n > size) return 0;
      unsigned hmax = 1, vmax = 1;
      for (size_t c = 0; c < n; ++c) {
        const unsigned hc = b[body + 7 + 3 * c] >> 4, vc = b[body + 7 + 3 * c] & 15;
        if (hc < 1 || hc > 4 || vc < 1 || vc > 4) return 0;
        hmax = hc > hmax ? hc : hmax;
        vmax = vc > vmax ? vc : vmax;
      }
      uint64_t blocks = 0;
      for (size_t c = 0; c < n; ++c) {
        const unsigned hc = b[body + 7 + 3 * c] >> 4, vc = b[body + 7 + 3 * c] & 15;
        blocks += ((w * hc + hmax - 1) / hmax + 7) / 8 * (((h * vc + vmax - 1) / vmax + 7) / 8);
      }
      return blocks;
    }
    const bool segment =
        marker == 0xdb || marker == 0xc4 || marker == 0xdd || (marker >= 0xe0 && marker <= 0xef) || marker == 0xfe;
    if (!segment || length < 2) return 0;  // a scan before the frame, or a marker stb_image refuses
    at += 1 + length;
  }
  return 0;
}

// Debian's stb_image 2.27 writes past a Huffman table's 256 entries when a JPEG's DHT segment
// declares more codes than that for one table (up to 4080: an out-of-bounds write of bytes
// from the file; fixed in stb_image 2.28, nothings/stb#1289 and #1291; the fuzzer found it
// here). So every DHT segment stb_image could read is checked before it sees the file: the
// segments in order, as stb_image walks them (padding and fill bytes skipped, each segment by
// its length), and after each scan (SOS) the marker that ends its coded data. This visits every
// segment stb_image reads and more (stb_image stops at a marker it does not know; the walk
// goes on), reading zeros past the end of the file as stb_image does.
inline void check_jpeg_tables(const std::string& bytes, const std::string& path) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size();
  // The start-of-image marker, after any 0xff fill bytes (stb_image skips them too).
  size_t soi = 0;
  while (soi < size && b[soi] == 0xff) ++soi;
  if (soi == 0 || soi >= size || b[soi] != 0xd8) return;
  const auto byte = [&](size_t i) -> unsigned { return i < size ? b[i] : 0; };
  for (size_t at = soi + 1; at < size;) {
    if (b[at] != 0xff) {
      ++at;
      continue;
    }
    const size_t start = at;
    while (at < size && b[at] == 0xff) ++at;
    if (at >= size) return;
    const unsigned marker = b[at++];
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue;  // no length
    if (marker == 0xd9) return;                                                            // EOI
    const size_t length = (byte(at) << 8) | byte(at + 1);
    if (marker == 0xc4) {
      for (size_t table = at + 2, end = at + length; table < end;) {  // as stb_image: while (L > 0)
        if ((byte(table) >> 4) > 1 || (byte(table) & 15) > 3) break;  // stb_image refuses the segment
        unsigned codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += byte(table + i);
        GENLAB_CHECK(codes <= 256, GENLAB_ERROR_INVALID_ARGUMENT,
                     path + ": the JPEG's Huffman table at byte offset " + std::to_string(table) +
                         " (in the DHT segment at " + std::to_string(start) + ") declares " + std::to_string(codes) +
                         " codes, more than the 256 a table holds: refused before decoding (stb_image 2.27 would write "
                         "past its table)");
        table += 17 + codes;
      }
    }
    at += length;
    if (marker == 0xda)  // the scan's coded data: up to a 0xff that is no stuffing (0xff00), restart or fill byte
      while (at + 1 < size && !(b[at] == 0xff && b[at + 1] != 0 && b[at + 1] != 0xff && (b[at + 1] & 0xf8) != 0xd0))
        ++at;
  }
}

// stbi_info_from_memory on `bytes`, once check_jpeg_tables has passed them: the only way this
// code asks stb_image about a file's header.
inline bool stb_info(const std::string& bytes, const std::string& path, int* w, int* h, int* n) {
  check_jpeg_tables(bytes, path);
  return stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), w, h,
                               n) != 0;
}

// What a header promises must fit in the file. stb_image decodes a file cut short to the size
// its header declares, reading zeros past the end: 1.5 KB of TGA, BMP or JPEG declaring 3855x3855
// or 4096x4096 pixels kept the fuzzer 4 to 12 s on one input. Each format's pixels take at
// least a number of bytes that its header sets: an uncompressed TGA or BMP its rows, a
// run-length TGA a count byte and a pixel for every 128 pixels, a JPEG one bit for every 8x8
// block of every component (the shortest code of a block's DC value, in a baseline or a
// progressive scan alike). A file holding fewer is refused before anything is decoded; no
// real file is. A PNG needs no such check: stb_image stops at the end of its image data.
inline void check_data_fits(const std::string& bytes, uint64_t w, uint64_t h, const std::string& path) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t size = bytes.size();
  const std::string image = sides(w, h);
  if (size >= 8 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return;
  // The header's first 32 bytes, zeros past the end of the file as stb_image reads them (a
  // 17-byte TGA declared 3583x2816 pixels).
  unsigned char head[32] = {};
  std::memcpy(head, b, size < sizeof head ? size : sizeof head);
  if (head[0] == 'B' && head[1] == 'M') {
    const uint32_t offset = le32(head + 10),
                   at = le32(head + 14) == 12 ? 24 : 28;  // the bit count (BITMAPCOREHEADER: 24)
    const uint64_t bits = le16(head + at);
    if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) return;  // stb_image refuses
    const uint64_t stride = (w * bits + 31) / 32 * 4, need = stride * (h - 1) + (w * bits + 7) / 8;
    check_data_fits(need, offset < size ? size - offset : 0, path,
                    "a BMP of " + image + " pixels, uncompressed at " + std::to_string(bits) +
                        (bits == 1 ? " bit" : " bits") + " a pixel",
                    " from its pixel data's offset (" + std::to_string(offset) + ") on");
  } else if (head[0] == 0xff && head[1] == 0xd8) {
    uint64_t blocks = jpeg_blocks(b, bytes.size(), w, h);
    const bool found = blocks != 0;
    if (!found) blocks = ((w + 31) / 32) * ((h + 31) / 32);  // the fewest any frame of w x h can have
    check_data_fits((blocks + 7) / 8, size, path,
                    "a JPEG of " + image + " pixels in " + std::to_string(blocks) + " blocks of 8x8" +
                        (found ? "" : " at the fewest") + ", at least one bit each",
                    "");
  } else {  // stb_image tries TGA last, on what no other format claimed
    const uint64_t id = head[0], indexed = head[1] == 1, rle = head[2] >= 8, entries = le16(head + 5),
                   entry_bits = head[7];
    const uint64_t pixel = (uint64_t{head[16]} + 7) / 8,
                   start = 18 + id + (indexed ? entries * ((entry_bits + 7) / 8) : 0);
    const uint64_t need = rle ? (w * h + 127) / 128 * (1 + pixel) : w * h * pixel;
    check_data_fits(need, size > start ? size - start : 0, path,
                    "a TGA of " + image + " pixels, " + (rle ? "run-length coded" : "uncompressed") + " at " +
                        std::to_string(pixel) + (pixel == 1 ? " byte" : " bytes") + " a pixel",
                    " after its header" + std::string(indexed ? " and palette" : ""));
  }
}

}  // namespace image_detail

// Decodes `bytes` (from `path`) to `channels` channels, or to 1 or 3 when `channels` is 0
// (grey stays grey, colour or grey+alpha become RGB / grey). The size is checked from the
// header before any pixel is decoded (a PNG's structure first: image_detail::check_png), and
// that the file holds the least that size takes (image_detail::check_data_fits); the decode is
// held to the memory budget that size sets (image_detail::decode_budget).
inline Image decode_image(const std::string& bytes, const std::string& path, int channels) {
  GENLAB_CHECK(bytes.size() <= kMaxImageFileBytes, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": " + std::to_string(bytes.size()) + " bytes, more than an image file of at most " +
                   image_detail::sides(kMaxImageSide, kMaxImageSide) + " pixels needs (" +
                   std::to_string(kMaxImageFileBytes >> 20) + " MiB)");
  GENLAB_CHECK(!bytes.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": an empty file, expected an image (PNG, JPEG, BMP, TGA)");
  static const char signature[8] = {'\x89', 'P', 'N', 'G', '\r', '\n', '\x1a', '\n'};
  if (std::memcmp(bytes.data(), signature, bytes.size() < 8 ? bytes.size() : 8) == 0) {
    GENLAB_CHECK(bytes.size() >= 8, GENLAB_ERROR_INVALID_ARGUMENT,
                 path + ": truncated PNG: the file ends at byte offset " + std::to_string(bytes.size()) +
                     ", inside the 8-byte PNG signature");
    image_detail::check_png(bytes, path);
  }
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, n = 0;
  GENLAB_CHECK(
      image_detail::stb_info(bytes, path, &w, &h, &n), GENLAB_ERROR_INVALID_ARGUMENT,
      path + ": not a readable image: " + image_detail::stb_reason() + " (expected a PNG, JPEG, BMP or TGA file)");
  image_detail::check_sides(static_cast<uint64_t>(w < 0 ? 0 : w), static_cast<uint64_t>(h < 0 ? 0 : h), path,
                            "the image's header");
  image_detail::check_data_fits(bytes, static_cast<uint64_t>(w), static_cast<uint64_t>(h), path);
  Image out;
  out.channels = channels != 0 ? channels : (n >= 3 ? 3 : 1);
  image_detail::Budget budget;
  budget.limit = image_detail::decode_budget(static_cast<uint64_t>(w), static_cast<uint64_t>(h), bytes.size());
  image_detail::budget = &budget;
  unsigned char* decoded = stbi_load_from_memory(data, size, &out.width, &out.height, &n, out.channels);
  image_detail::budget = nullptr;
  std::unique_ptr<unsigned char, void (*)(void*)> owned(decoded, [](void* p) { stbi_image_free(p); });
  GENLAB_CHECK(decoded != nullptr || !budget.exceeded, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": decoding it takes more than " + std::to_string(budget.limit) +
                   " bytes of memory (decoding stopped there), "
                   "more than an image of " +
                   image_detail::sides(w, h) + " pixels in a file of " + std::to_string(bytes.size()) +
                   " bytes needs: refused (a decompression bomb, or a corrupt file?)");
  GENLAB_CHECK(
      decoded != nullptr, GENLAB_ERROR_INVALID_ARGUMENT,
      path + ": not a readable image: " + image_detail::stb_reason() + " (expected a PNG, JPEG, BMP or TGA file)");
  // stb decodes what its header said; the header was checked, the result is checked again.
  GENLAB_CHECK(out.width == w && out.height == h, GENLAB_ERROR_INVALID_ARGUMENT,
               path + ": decoded as " + image_detail::sides(out.width, out.height) + " pixels, its header says " +
                   image_detail::sides(w, h));
  out.pixels.assign(decoded, decoded + static_cast<size_t>(out.width) * out.height * out.channels);
  return out;
}

}  // namespace genlab::data::formats
