// Image data: the IDX and digits-CSV readers on good and broken files (truncated, wrong
// magic, oversize, gzip bombs, failed allocations), through the host.
#include "catch.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
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

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GENLAB_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define GENLAB_TEST_SANITIZED 1
#endif
#endif
#ifndef GENLAB_TEST_SANITIZED
#define GENLAB_TEST_SANITIZED 0
#endif

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;
using genlab::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("idx-images reads IDX files, gzipped or not, as float images in [0, 1]", "[data][idx]") {
  for (bool gzip : {false, true}) {
    TempDir dir;
    write_idx(dir.path(), "train", 12, 4, 4, gzip);
    write_idx(dir.path(), "t10k", 3, 4, 4, gzip);
    DatasetInstance data(builtin("idx-images"), settings(), toml::table{{"path", dir.path().string()}});
    CHECK(data.split_size("train") == 12);
    CHECK(data.split_size("test") == 3);
    CHECK(std::string(data.info().value_range) == "[0, 1]");
    TensorMapPtr batch = data.get_batch("train", {2, 11}, 0);
    const DLTensor& image = batch->tensors[0]->dl_tensor;
    REQUIRE(image.ndim == 4);
    CHECK(image.shape[1] == 1);
    CHECK(image.shape[2] == 4);
    const float* x = static_cast<const float*>(image.data);
    CHECK(x[0] == Approx(20.0 / 255.0));
    CHECK(x[16] == Approx(110.0 / 255.0));
    CHECK(static_cast<const int64_t*>(batch->tensors[1]->dl_tensor.data)[1] == 1);
  }
}

TEST_CASE("idx-images subsets and class filters select the examples asked for", "[data][idx]") {
  TempDir dir;
  write_idx(dir.path(), "train", 30, 2, 2, false);
  write_idx(dir.path(), "t10k", 10, 2, 2, false);
  const std::string path = dir.path().string();
  CHECK(DatasetInstance(builtin("idx-images"), settings(), toml::table{{"path", path}, {"subset", 7}})
            .split_size("train") == 7);
  DatasetInstance only(builtin("idx-images"), settings(), toml::table{{"path", path}, {"classes", "3, 5"}});
  CHECK(only.split_size("train") == 6);  // labels i % 10 of 30 images: three 3s, three 5s
  CHECK(only.split_size("test") == 2);
  TensorMapPtr labels = only.get_batch("train", {0, 1, 2, 3, 4, 5}, 0);
  const auto* l = static_cast<const int64_t*>(labels->tensors[1]->dl_tensor.data);
  for (int i = 0; i < 6; ++i) CHECK((l[i] == 3 || l[i] == 5));
  CHECK_THAT(create_error("idx-images", toml::table{{"path", path}, {"classes", "3,x"}}),
             Contains("expected classes as labels >= 0 like \"0,1,7\", got \"3,x\""));
  for (const char* bad : {"3x", "99999999999999999999", "-1"})
    CHECK_THAT(create_error("idx-images", toml::table{{"path", path}, {"classes", bad}}),
               Contains("expected classes as labels >= 0 like \"0,1,7\", got \"" + std::string(bad) + "\""));
}

TEST_CASE("rare_class thins one class of the train split to rare_share, before the subset", "[data][rare]") {
  TempDir dir;
  write_idx(dir.path(), "train", 200, 2, 2, false);  // labels i % 10: twenty of each
  write_idx(dir.path(), "t10k", 30, 2, 2, false);
  const std::string path = dir.path().string();
  // Label counts of a split, and the first pixel of each kept example (pixel = 10 i, mod 256).
  auto read_split = [](DatasetInstance& data, const std::string& split) {
    std::vector<int64_t> indices(static_cast<size_t>(data.split_size(split)));
    for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
    TensorMapPtr batch = data.get_batch(split, indices, 0);
    const auto* labels = static_cast<const int64_t*>(batch->tensors[1]->dl_tensor.data);
    const auto* pixels = static_cast<const float*>(batch->tensors[0]->dl_tensor.data);
    std::map<int64_t, int64_t> counts;
    std::vector<int> rare_pixels;
    for (size_t i = 0; i < indices.size(); ++i) {
      ++counts[labels[i]];
      if (labels[i] == 3) rare_pixels.push_back(static_cast<int>(std::lround(pixels[i * 4] * 255)));
    }
    return std::make_pair(counts, rare_pixels);
  };

  // 180 others: k = round(0.05 * 180 / 0.95) = round(9.47) = 9 of class 3, the first 9 in file order.
  DatasetInstance rare(builtin("idx-images"), settings(),
                       toml::table{{"path", path}, {"rare_class", 3}, {"rare_share", 0.05}});
  CHECK(rare.split_size("train") == 189);
  const auto [train, rare_pixels] = read_split(rare, "train");
  for (int64_t c = 0; c < 10; ++c) {
    INFO("class " << c);
    CHECK(train.at(c) == (c == 3 ? 9 : 20));
  }
  CHECK(rare_pixels == std::vector<int>{30, 130, 230, 74, 174, 18, 118, 218, 62});  // examples 3, 13, ..., 83
  CHECK(rare.split_size("test") == 30);
  CHECK(read_split(rare, "test").first.at(3) == 3);
  CHECK(rare.info().num_classes == 10);

  // The subset picks from the thinned set: k = round(0.01 * 180 / 0.99) = 2, then the first 50
  // (the subset first would leave 45 others and k = 1: 46 examples).
  DatasetInstance thinned_subset(builtin("idx-images"), settings(),
                                 toml::table{{"path", path}, {"rare_class", 3}, {"rare_share", 0.01}, {"subset", 50}});
  CHECK(thinned_subset.split_size("train") == 50);
  CHECK(read_split(thinned_subset, "train").first.at(3) == 2);

  // A class already at or below its rare count is left as it is: k = round(0.5 * 180 / 0.5) = 180.
  CHECK(DatasetInstance(builtin("idx-images"), settings(),
                        toml::table{{"path", path}, {"rare_class", 3}, {"rare_share", 0.5}})
            .split_size("train") == 200);

  for (const auto& [share, expected] :
       std::vector<std::pair<double, std::string>>{{0.0, "0 < rare_share < 1, got 0.0"},
                                                   {1.0, "0 < rare_share < 1, got 1.0"},
                                                   {-0.2, "0 < rare_share < 1, got -0.2"},
                                                   {1.5, "0 < rare_share < 1, got 1.5"}}) {
    INFO("rare_share " << share);
    CHECK_THAT(create_error("idx-images", toml::table{{"path", path}, {"rare_class", 3}, {"rare_share", share}}),
               Contains("expected " + expected));
  }
  CHECK_THAT(create_error("idx-images", toml::table{{"path", path}, {"rare_class", 12}}),
             Contains("rare_class 12 is not a label of the train split (labels 0..9)"));
  CHECK_THAT(create_error("idx-images", toml::table{{"path", path}, {"rare_class", 4}, {"classes", "3,5,8"}}),
             Contains("rare_class 4 is not a label of the train split (labels 3, 5, 8, after the classes filter)"));
  CHECK_THAT(create_error("idx-images", toml::table{{"path", path}, {"rare_class", -2}}),
             Contains("expected rare_class -1 (none) or a label >= 0, got -2"));
  CHECK_THAT(create_error("idx-images", toml::table{{"path", path}, {"rare_class", 3}, {"classes", "3"}}),
             Contains("rare_class 3 is the only label of the train split"));
}

TEST_CASE("a truncated or wrong-magic IDX file is refused naming the file and the byte offset",
          "[data][idx][bad-input]") {
  TempDir dir;
  write_idx(dir.path(), "train", 5, 3, 3, false);
  write_idx(dir.path(), "t10k", 2, 3, 3, false);
  const fs::path images = dir.path() / "train-images-idx3-ubyte";
  SECTION("truncated pixel data") {
    const std::string bytes = genlab::test::read_text(images);
    std::ofstream(images, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 4);
    CHECK_THAT(create_error("idx-images", toml::table{{"path", dir.path().string()}}),
               Contains(images.string() +
                        ": truncated at byte offset 57: the header promises 45 bytes of data after byte 16"));
  }
  SECTION("a wrong magic number") {
    std::string bytes = genlab::test::read_text(images);
    bytes[3] = 0x01;
    std::ofstream(images, std::ios::binary | std::ios::trunc) << bytes;
    CHECK_THAT(
        create_error("idx-images", toml::table{{"path", dir.path().string()}}),
        Contains(images.string() + ": bad magic at byte offset 0: expected 0x00000803") && Contains("got 0x00000801"));
  }
  SECTION("a missing file") {
    fs::remove(images);
    CHECK_THAT(create_error("idx-images", toml::table{{"path", dir.path().string()}}),
               Contains("train-images-idx3-ubyte[.gz]: no such file"));
  }
  SECTION("a truncated gzip stream") {
    write_idx(dir.path() / "gz", "train", 5, 3, 3, true);
    write_idx(dir.path() / "gz", "t10k", 2, 3, 3, true);
    const fs::path gz = dir.path() / "gz" / "train-images-idx3-ubyte.gz";
    const std::string bytes = genlab::test::read_text(gz);
    std::ofstream(gz, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
    CHECK_THAT(create_error("idx-images", toml::table{{"path", (dir.path() / "gz").string()}}),
               Contains(gz.string() + ": "));
  }
}

TEST_CASE("an IDX file with 0 images, 0x0 images or more data than the cap is refused, saying so",
          "[data][idx][bad-input]") {
  TempDir dir;
  write_idx(dir.path(), "t10k", 2, 3, 3, false);
  const fs::path images = dir.path() / "train-images-idx3-ubyte";
  SECTION("0 images") {
    write_idx(dir.path(), "train", 0, 28, 28, false);
    CHECK_THAT(create_error("idx-images", toml::table{{"path", dir.path().string()}}),
               Contains(images.string() + ": the header says 0 images (dim 0, at byte offset 4); expected at least 1"));
  }
  SECTION("0 labels") {
    write_idx(dir.path(), "train", 5, 3, 3, false);
    std::ofstream(dir.path() / "train-labels-idx1-ubyte", std::ios::binary | std::ios::trunc) << be32(0x801) + be32(0);
    CHECK_THAT(
        create_error("idx-images", toml::table{{"path", dir.path().string()}}),
        Contains("train-labels-idx1-ubyte: the header says 0 labels (dim 0, at byte offset 4); expected at least 1"));
  }
  SECTION("0x0 images") {
    write_idx(dir.path(), "train", 5, 0, 0, true);
    CHECK_THAT(
        create_error("idx-images", toml::table{{"path", dir.path().string()}}),
        Contains(images.string() + ".gz: the header says images of 0x0 pixels (0 rows at byte offset 8, 0 columns at "
                                   "byte offset 12); expected sides of at least 1"));
  }
  SECTION("a header promising more than 1 GiB: refused before reading") {
    write_idx(dir.path(), "train", 5, 3, 3, false);
    std::ofstream(images, std::ios::binary | std::ios::trunc) << be32(0x803) + be32(100000) + be32(200) + be32(200);
    CHECK_THAT(
        create_error("idx-images", toml::table{{"path", dir.path().string()}}),
        Contains(images.string() + ": the header promises 4000000000 bytes of data, more than the 1 GiB cap on a "
                                   "data file (refused before reading them)"));
  }
}

TEST_CASE("read_maybe_gzipped stops at its cap, gzipped or plain", "[data][files][bad-input]") {
  TempDir dir;
  const fs::path bomb = dir.path() / "zeros.gz";
  std::ofstream(bomb, std::ios::binary) << gzip(std::string(8 << 20, '\0'));  // 8 MiB in ~8 KB
  const fs::path plain = dir.write("plain.bin", std::string((1 << 20) + 1, 'x'));
  const auto error_of = [](const fs::path& file, uint64_t cap) {
    try {
      genlab::data::read_maybe_gzipped(file.string(), cap, "the test's cap");
    } catch (const genlab::sdk::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of(bomb, 1 << 20) ==
        bomb.string() +
            ": decompresses to more than 1 MiB (reading stopped there): expected at most that, the test's cap");
  CHECK(error_of(plain, 1 << 20) ==
        plain.string() + ": holds more than 1 MiB (reading stopped there): expected at most that, the test's cap");
  CHECK(genlab::data::read_maybe_gzipped(plain.string(), (1 << 20) + 1).size() == (1 << 20) + 1);  // exactly the cap
  CHECK(genlab::data::read_maybe_gzipped(bomb.string()).size() == 8 << 20);
}

TEST_CASE("what the C++ library throws while a reader holds data becomes a message naming the file",
          "[data][files][bad-input]") {
  const auto translated = [](auto body) {
    try {
      genlab::data::reading("data/x.idx", body);
    } catch (const genlab::sdk::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(translated([] { throw std::bad_alloc(); }) ==
        "data/x.idx: out of memory while loading it (is the data larger than this process may allocate?)");
  CHECK(translated([] { std::string().reserve(std::string().max_size() + 1); }) ==
        "data/x.idx: too large to hold in memory");
  for (const std::string& message :
       {translated([] { (void)std::stoll("x"); }), translated([] { (void)std::string().substr(3); })}) {
    CHECK_THAT(message, Contains("data/x.idx: failed while loading it: a value out of range"));
    CHECK_THAT(message, !Contains("stoll") && !Contains("basic_string"));
  }
  CHECK(translated([] {
          throw std::runtime_error(
              "DefaultCPUAllocator: not enough memory: you tried to allocate 4096 bytes.\nbacktrace");
        }) == "data/x.idx: out of memory while loading it (4096 bytes more were asked for)");
}

// A real allocation failure, in a child process whose address space is capped 32 MiB above
// what it holds: reading 64 MiB of zeros (64 KB of gzip) runs out on the way.
TEST_CASE("an allocation that fails while reading names the file and the byte offset", "[data][files][bad-input]") {
  if (GENLAB_ASAN || GENLAB_TEST_SANITIZED)
    GENLAB_SKIP("sanitizers reserve their memory up front: an address-space limit does not bite");
  TempDir dir;
  const fs::path big = dir.path() / "big.gz";
  std::ofstream(big, std::ios::binary) << gzip(std::string(64 << 20, '\0'));
  int channel[2];
  REQUIRE(pipe(channel) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(channel[0]);
    std::string message = "no error";
    long pages = 0;
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%ld", &pages) != 1) pages = 0;
      std::fclose(statm);
    }
    rlimit cap{};
    getrlimit(RLIMIT_AS, &cap);
    cap.rlim_cur = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + (32u << 20);
    if (cap.rlim_max != RLIM_INFINITY && cap.rlim_cur > cap.rlim_max) cap.rlim_cur = cap.rlim_max;
    setrlimit(RLIMIT_AS, &cap);
    try {
      genlab::data::read_maybe_gzipped(big.string());
    } catch (const genlab::sdk::Error& e) {
      message = std::to_string(e.code()) + " " + e.what();
    } catch (const std::exception& e) {
      message = std::string("raw: ") + e.what();
    }
    (void)!write(channel[1], message.data(), message.size());
    _exit(0);
  }
  close(channel[1]);
  std::string message;
  char buffer[512];
  for (ssize_t got; (got = read(channel[0], buffer, sizeof buffer)) > 0;)
    message.append(buffer, static_cast<size_t>(got));
  close(channel[0]);
  int status = 0;
  waitpid(child, &status, 0);
  CHECK_THAT(message, Contains(std::to_string(GENLAB_ERROR_OUT_OF_MEMORY) + " " + big.string() +
                               ": out of memory at (decompressed) byte offset "));
}

TEST_CASE("digits-csv reads the real 8x8 digits and refuses a malformed row by its line", "[data][digits]") {
  DatasetInstance data(builtin("digits-csv"), settings(), toml::table{});
  CHECK(data.split_size("train") + data.split_size("test") == 1797);
  CHECK(data.info().num_classes == 10);
  TempDir dir;
  const auto bad = dir.write("d.csv", std::string("0") + std::string(63 * 2, ',').substr(0, 0) + "\n");
  std::string row;
  for (int i = 0; i < 64; ++i) row += "1,";
  dir.write("ok.csv", row + "3\n" + row + "4\n" + row + "x\n");
  CHECK_THAT(create_error("digits-csv", toml::table{{"path", (dir.path() / "ok.csv").string()}}),
             Contains("ok.csv: line 3 (byte offset 260): expected an integer, got \"x\""));
  CHECK_THAT(create_error("digits-csv", toml::table{{"path", bad.string()}}),
             Contains("d.csv: line 1 (byte offset 0): expected 65 values (64 pixels and a label), got 1"));
  dir.write("huge.csv", row + "3\n99999999999999999999999," + row.substr(2) + "4\n");
  CHECK_THAT(
      create_error("digits-csv", toml::table{{"path", (dir.path() / "huge.csv").string()}}),
      Contains("huge.csv: line 2 (byte offset 130): value 1 (\"99999999999999999999999\") is out of range, expected a "
               "pixel 0..16"));
}
