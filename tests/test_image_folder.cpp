// The image-folder dataset: classes by sub-folder, PNG, BMP, TGA and JPEG read through
// stb_image, and broken or oversize images (a PNG bomb among them) refused by name.
#include "catch.hpp"

#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "genlab/util/error.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/genlab_util.h"
#include "image_fixtures.hpp"
#include "model_support.hpp"
// The dataset plugins' file reading, tested directly where a plugin cannot show it.
#include <genlab/formats/files.hpp>

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;
using genlab::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("image-folder reads one sub-folder per class, labels by sorted name", "[data][image-folder]") {
  TempDir dir;
  for (int i = 0; i < 5; ++i) write_png(dir.path() / "cats" / ("c" + std::to_string(i) + ".png"), 6, 4, 3, 255);
  for (int i = 0; i < 5; ++i) write_png(dir.path() / "ants" / ("a" + std::to_string(i) + ".png"), 6, 4, 3, 51);
  DatasetInstance data(builtin("image-folder"), settings(),
                       toml::table{{"path", dir.path().string()}, {"test_fraction", 0.2}});
  CHECK(data.split_size("train") == 8);
  CHECK(data.split_size("test") == 2);
  CHECK(data.info().num_classes == 2);
  const auto& spec = data.info().elements[0];
  CHECK(std::vector<int64_t>(spec.shape, spec.shape + 3) == std::vector<int64_t>{3, 4, 6});
  TensorMapPtr batch = data.get_batch("train", {0, 7}, 0);
  CHECK(static_cast<const float*>(batch->tensors[0]->dl_tensor.data)[0] == Approx(0.2));  // "ants" first: label 0
  CHECK(static_cast<const int64_t*>(batch->tensors[1]->dl_tensor.data)[1] == 1);
}

TEST_CASE("image-folder refuses an image of another size or a broken file, naming it",
          "[data][image-folder][bad-input]") {
  TempDir dir;
  write_png(dir.path() / "a.png", 4, 4, 1, 0);
  write_png(dir.path() / "b.png", 5, 4, 1, 0);
  CHECK_THAT(create_error("image-folder", toml::table{{"path", dir.path().string()}}),
             Contains("b.png: 5x4, but the first image is 4x4"));
  fs::remove(dir.path() / "b.png");
  dir.write("c.png", "not a png at all");
  CHECK_THAT(create_error("image-folder", toml::table{{"path", dir.path().string()}}),
             Contains("c.png: not a readable image"));
}

TEST_CASE("image-folder names the file and the cause of a bad PNG: its size, a cut, a 0x0 header",
          "[data][image-folder][bad-input]") {
  TempDir dir;
  write_png(dir.path() / "good" / "a.png", 8, 8, 1, 7);
  const std::string good = genlab::test::read_text(dir.path() / "good" / "a.png");
  const auto refused = [&](const std::string& name, const std::string& bytes) {
    const fs::path folder = dir.path() / name;
    fs::create_directories(folder);
    std::ofstream(folder / "x.png", std::ios::binary) << bytes;
    return create_error("image-folder", toml::table{{"path", folder.string()}});
  };
  std::string huge = good;
  huge.replace(16, 8, be32(100000) + be32(100000));  // IHDR's width and height
  CHECK_THAT(refused("huge", huge),
             Contains("x.png: 100000x100000 pixels (PNG header); expected sides of 1..4096 (images "
                      "are refused before decoding above 4096x4096)"));
  std::string zero = good;
  zero.replace(16, 8, be32(0) + be32(0));
  CHECK_THAT(refused("zero", zero), Contains("x.png: 0x0 pixels (PNG header); expected sides of 1..4096"));
  CHECK_THAT(
      refused("cut", good.substr(0, 40)),
      Contains("x.png: truncated PNG: the file ends at byte offset 40, inside the chunk at byte offset 33 (its 8 bytes "
               "of length and type are cut); expected the whole file"));
  CHECK_THAT(refused("cut-data", good.substr(0, good.size() - 20)),
             Contains("x.png: truncated PNG: the file ends at byte offset " + std::to_string(good.size() - 20) +
                      ", inside the chunk at byte offset 33 ('IDAT', which declares"));
  CHECK_THAT(refused("cut-end", good.substr(0, good.size() - 12)),
             Contains("x.png: truncated PNG: the file ends at byte offset " + std::to_string(good.size() - 12) +
                      ", before the IEND chunk"));
  CHECK_THAT(refused("empty", ""), Contains("x.png: an empty file, expected an image (PNG, JPEG, BMP, TGA)"));
  CHECK_THAT(refused("signature", good.substr(0, 5)),
             Contains("x.png: truncated PNG: the file ends at byte offset 5, inside the 8-byte PNG signature"));
}

TEST_CASE(
    "image-folder reads BMP, TGA and JPEG, and refuses, before decoding, a header declaring more pixels than the "
    "file holds",
    "[data][image-folder][bad-input]") {
  TempDir dir;
  std::vector<unsigned char> pixels(6 * 4 * 3, 51);
  const fs::path ok = dir.path() / "ok";
  fs::create_directories(ok);
  REQUIRE(stbi_write_bmp((ok / "a.bmp").c_str(), 6, 4, 3, pixels.data()));
  stbi_write_tga_with_rle = 1;
  REQUIRE(stbi_write_tga((ok / "b.tga").c_str(), 6, 4, 3, pixels.data()));
  stbi_write_tga_with_rle = 0;
  REQUIRE(stbi_write_tga((ok / "c.tga").c_str(), 6, 4, 3, pixels.data()));
  REQUIRE(stbi_write_jpg((ok / "d.jpg").c_str(), 6, 4, 3, pixels.data(), 90));  // 4:2:0 at quality 90
  stbi_write_tga_with_rle = 1;
  {
    DatasetInstance data(builtin("image-folder"), settings(),
                         toml::table{{"path", ok.string()}, {"test_fraction", 0.0}});
    CHECK(data.split_size("train") == 4);
    const auto& spec = data.info().elements[0];
    CHECK(std::vector<int64_t>(spec.shape, spec.shape + 3) == std::vector<int64_t>{3, 4, 6});
  }
  const auto refused = [&](const std::string& name, const std::string& bytes) {
    const fs::path folder = dir.path() / name;
    fs::create_directories(folder);
    std::ofstream(folder / name, std::ios::binary) << bytes;
    return create_error("image-folder", toml::table{{"path", folder.string()}});
  };
  const auto le = [](uint32_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += char((v >> (8 * i)) & 0xff);
    return s;
  };
  const std::string tail = ": refused before decoding (a file cut short, or a header that does not match its data)";
  // Each file as written, its header's sides changed to 3855x3855 (or 4096x4096), as the fuzzer did:
  // stb_image would have filled 15 M pixels from a few hundred bytes (6 to 12 s under ASan).
  std::string tga = genlab::test::read_text(ok / "b.tga");
  tga.replace(12, 4, le(3855, 2) + le(3855, 2));
  CHECK_THAT(refused("x.tga", tga),
             Contains("x.tga: its header declares a TGA of 3855x3855 pixels, run-length coded at 3 bytes a "
                      "pixel, which takes at least 464408 bytes; the file holds " +
                      std::to_string(tga.size() - 18) + " after its header" + tail));
  std::string raw = genlab::test::read_text(ok / "c.tga");
  raw.replace(12, 4, le(3855, 2) + le(3855, 2));
  CHECK_THAT(refused("y.tga", raw),
             Contains("y.tga: its header declares a TGA of 3855x3855 pixels, uncompressed at 3 bytes a "
                      "pixel, which takes at least 44583075 bytes; the file holds " +
                      std::to_string(raw.size() - 18) + " after its header" + tail));
  std::string bmp = genlab::test::read_text(ok / "a.bmp");
  bmp.replace(18, 8, le(3855, 4) + le(3855, 4));
  CHECK_THAT(refused("x.bmp", bmp),
             Contains("x.bmp: its header declares a BMP of 3855x3855 pixels, uncompressed at 24 bits a "
                      "pixel, which takes at least 44594637 bytes; the file holds " +
                      std::to_string(bmp.size() - 54) + " from its pixel data's offset (54) on" + tail));
  std::string jpg = genlab::test::read_text(ok / "d.jpg");
  const size_t frame = jpg.find("\xff\xc0");
  REQUIRE(frame != std::string::npos);
  jpg.replace(frame + 5, 4, std::string("\x10\x00\x10\x00", 4));  // height, width: 4096
  CHECK_THAT(refused("x.jpg", jpg),
             Contains("x.jpg: its header declares a JPEG of 4096x4096 pixels in 393216 blocks of 8x8, at "
                      "least one bit each, which takes at least 49152 bytes; the file holds " +
                      std::to_string(jpg.size()) + tail));
  // A Huffman table of more than 256 codes, which Debian's stb_image 2.27 writes past (the fuzzer's find).
  std::string dht = genlab::test::read_text(ok / "d.jpg");
  const size_t segment = dht.find("\xff\xc4");
  REQUIRE(segment != std::string::npos);
  dht[segment + 5] = '\xff';  // the first table's count of 1-bit codes
  CHECK_THAT(refused("z.jpg", dht),
             Contains("z.jpg: the JPEG's Huffman table at byte offset " + std::to_string(segment + 4) +
                      " (in the DHT segment at " + std::to_string(segment) + ") declares ") &&
                 Contains(" codes, more than the 256 a table holds: refused before decoding"));
  // Formats stb_image can read but genlab does not (PSD, GIF, HDR, PIC, PNM) are not compiled in.
  const std::string psd = std::string("8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03", 14) + be32(3855) + be32(3855) +
                          std::string("\x00\x08\x00\x03", 4) + std::string(14, '\0') + std::string(1400, '\x01');
  CHECK_THAT(refused("x.png", psd),
             Contains("x.png: not a readable image: unknown image type (expected a PNG, JPEG, BMP or TGA file)"));
}

TEST_CASE("image decompression stops at the cap: a gzip bomb and a PNG whose image data inflates past its size",
          "[data][image-folder][bad-input][bomb]") {
  TempDir dir;
  write_png(dir.path() / "png.png", 8, 8, 1, 7);
  const std::string png = genlab::test::read_text(dir.path() / "png.png");
  fs::remove(dir.path() / "png.png");
  SECTION("a gzipped PNG that decompresses to 2.3 GB (2.3 MB of gzip)") {
    const std::string zeros = gzip(std::string(16 << 20, '\0'));  // 16 MiB in ~16 KB
    std::string bomb = gzip(png);
    for (int i = 0; i < 140; ++i) bomb += zeros;
    fs::create_directories(dir.path() / "bomb");
    std::ofstream(dir.path() / "bomb" / "a.png", std::ios::binary) << bomb;
    const auto start = std::chrono::steady_clock::now();
    CHECK_THAT(
        create_error("image-folder", toml::table{{"path", (dir.path() / "bomb").string()}}),
        Contains("a.png: decompresses to more than 17 MiB (reading stopped there): expected at most that, the most "
                 "a file of an image of 8x8 pixels needs (twice its samples at 16-bit RGBA, plus 16 MiB of metadata)"));
    WARN("the gzip bomb was refused in "
         << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
  }
  SECTION("a 1x1 PNG whose image data inflates to 1.1 GB (1.1 MB of PNG)") {
    fs::create_directories(dir.path() / "idat");
    std::ofstream(dir.path() / "idat" / "b.png", std::ios::binary) << png_with_idat(1, 1, zlib_zeros(1100));
    const auto start = std::chrono::steady_clock::now();
    CHECK_THAT(
        create_error("image-folder", toml::table{{"path", (dir.path() / "idat").string()}}),
        Contains("b.png: decoding it takes more than ") &&
            Contains(" bytes of memory (decoding stopped there), more than an image of 1x1 pixels in a file of " +
                     std::to_string(fs::file_size(dir.path() / "idat" / "b.png")) + " bytes needs: refused"));
    WARN("the PNG bomb was refused in "
         << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s");
  }
  SECTION("the same PNG with its data as it should be decodes") {
    fs::create_directories(dir.path() / "ok");
    std::ofstream(dir.path() / "ok" / "c.png", std::ios::binary)
        << png_with_idat(1, 1, std::string("\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01", 10));
    DatasetInstance data(builtin("image-folder"), settings(),
                         toml::table{{"path", (dir.path() / "ok").string()}, {"test_fraction", 0.0}});
    CHECK(data.split_size("train") == 1);
  }
}
