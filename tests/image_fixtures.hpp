// Small image-data files for tests, made in memory: IDX files (plain or gzipped), gzip and
// zlib streams (a bomb of zeros among them), and a PNG around a given IDAT.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "model_support.hpp"

namespace genlab::test {

inline std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// An IDX images file of n images h x w (pixel = index), and its labels file.
inline void write_idx(const std::filesystem::path& dir, const std::string& prefix, uint32_t n, uint32_t h, uint32_t w,
                      bool gzip) {
  std::string images = be32(0x803) + be32(n) + be32(h) + be32(w), labels = be32(0x801) + be32(n);
  for (uint32_t i = 0; i < n; ++i) {
    images.append(h * w, static_cast<char>(i * 10));
    labels += static_cast<char>(i % 10);
  }
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& bytes) {
    if (gzip) {
      gzFile f = gzopen((dir / (name + ".gz")).c_str(), "wb");
      gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
      gzclose(f);
    } else {
      std::ofstream(dir / name, std::ios::binary) << bytes;
    }
  };
  write(prefix + "-images-idx3-ubyte", images);
  write(prefix + "-labels-idx1-ubyte", labels);
}

// `bytes` as one gzip member (files may hold several, one after another: gzip reads them as
// one stream).
inline std::string gzip(const std::string& bytes) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, bytes.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A zlib stream that inflates to `mib` MiB of zeros, about 1 KB a MiB: one compressed MiB
// ending in a full flush (so that it refers to nothing before it) repeated, then the end of
// the stream with the right checksum. A decompression bomb, built in milliseconds.
inline std::string zlib_zeros(int mib) {
  z_stream z{};
  REQUIRE(deflateInit(&z, 9) == Z_OK);
  const std::string megabyte(1 << 20, '\0');
  std::string out(1 << 21, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(megabyte.data()));
  z.avail_in = 1 << 20;
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FULL_FLUSH) == Z_OK);
  const std::string header = out.substr(0, 2), segment = out.substr(2, z.total_out - 2);
  const size_t before = z.total_out;
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  std::string tail = out.substr(before, z.total_out - before);
  deflateEnd(&z);
  const uint64_t n = uint64_t(mib) << 20;  // Adler-32 of n zeros: a = 1, b = n mod 65521
  const uint32_t adler = (uint32_t(n % 65521) << 16) | 1;
  tail.replace(
      tail.size() - 4, 4,
      std::string{char(adler >> 24), char((adler >> 16) & 0xff), char((adler >> 8) & 0xff), char(adler & 0xff)});
  std::string stream = header;
  for (int i = 0; i < mib; ++i) stream += segment;
  return stream + tail;
}

// A PNG of a w x h 8-bit grey image whose image data is `idat` (a zlib stream).
inline std::string png_with_idat(uint32_t w, uint32_t h, const std::string& idat) {
  auto chunk = [](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
    return be32(static_cast<uint32_t>(data.size())) + body + be32(crc);
  };
  const std::string ihdr = be32(w) + be32(h) + std::string{8, 0, 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", "");
}

}  // namespace genlab::test
