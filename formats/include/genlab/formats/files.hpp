// Reading the files dataset plugins are given: whole files, gzipped or not, bounded in size,
// the data folder that default paths start from, and the translation of what the C++ library
// throws while reading into messages that name the file.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <zlib.h>

#include <genlab/sdk/error.hpp>

namespace genlab::data {

// The most a data file may hold, decompressed, unless its reader states less: 1 GiB (the
// convention of the image reader before it). Reading stops there: gzip inflates up to about
// 1030 times, so 1 MB of gzip can claim a gigabyte, and a reader that inflated it all before
// checking would allocate what the file claims rather than what the data needs.
constexpr uint64_t kMaxDataFileBytes = uint64_t{1} << 30;

// "1 GiB", "256 MiB", "3 KiB", "17 bytes": a byte count as messages show it.
inline std::string format_bytes(uint64_t n) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (unit < 4 && n >= 1024 && n % 1024 == 0) n /= 1024, ++unit;
  return std::to_string(n) + " " + units[unit];
}

// A file opened through zlib, gzipped or not (zlib reads plain files as they are), read in
// bounded pieces: the readers that know from a header how much they need read no more.
class MaybeGzipped {
 public:
  explicit MaybeGzipped(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb"), &gzclose) {
    GENLAB_CHECK(file_ != nullptr, GENLAB_ERROR_IO,
                 path + ": cannot open (does it exist? scripts/fetch-data.sh fetches the data)");
    gzbuffer(file_.get(), 1 << 17);
  }

  // Appends up to `n` more (decompressed) bytes to `out`; fewer only at the end of the file.
  // An error names the file and the decompressed byte offset.
  void read(std::string& out, uint64_t n) {
    char buffer[1 << 16];
    while (n > 0) {
      const auto want = static_cast<unsigned>(n < sizeof buffer ? n : sizeof buffer);
      const int got = gzread(file_.get(), buffer, want);
      if (got <= 0) {
        // The end of the file, or an error: zlib reports a gzip stream cut short as
        // Z_BUF_ERROR ("unexpected end of file") rather than returning -1.
        int error = Z_OK;
        const char* message = gzerror(file_.get(), &error);
        GENLAB_CHECK(
            got == 0 && error == Z_OK, GENLAB_ERROR_IO,
            path_ + ": read failed at (decompressed) byte offset " + std::to_string(offset_) + ": " +
                (error == Z_BUF_ERROR  ? std::string("unexpected end of the compressed stream (a gzip file cut short?)")
                 : message && *message ? std::string(message)
                                       : std::string("unknown zlib error")));
        return;
      }
      try {
        out.append(buffer, static_cast<size_t>(got));
      } catch (const std::exception&) {  // std::bad_alloc, or std::length_error past max_size()
        throw sdk::Error(GENLAB_ERROR_OUT_OF_MEMORY, path_ + ": out of memory at (decompressed) byte offset " +
                                                         std::to_string(offset_) + " (" + format_bytes(out.size()) +
                                                         " read): is the file larger than this process may allocate?");
      }
      offset_ += static_cast<uint64_t>(got);
      n -= static_cast<uint64_t>(got);
    }
  }

  // Whether the file holds more bytes (reads one; for the size checks).
  bool more() {
    std::string one;
    read(one, 1);
    return !one.empty();
  }

  bool gzipped() { return gzdirect(file_.get()) == 0; }
  uint64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file_;
  uint64_t offset_ = 0;
};

// Reads a whole file, gzipped or not, refusing one that holds more than `max_bytes` once
// decompressed: reading stops there, whatever the file claims. `why` says where the cap comes
// from, for the message.
inline std::string read_maybe_gzipped(const std::string& path, uint64_t max_bytes = kMaxDataFileBytes,
                                      const std::string& why = "the cap on a data file") {
  MaybeGzipped file(path);
  std::string out;
  file.read(out, max_bytes);
  GENLAB_CHECK(out.size() < max_bytes || !file.more(), GENLAB_ERROR_INVALID_ARGUMENT,
               path + (file.gzipped() ? ": decompresses to more than " : ": holds more than ") +
                   format_bytes(max_bytes) + " (reading stopped there): expected at most that, " + why);
  return out;
}

// Runs `body`, which reads or holds the data of `what` (a file or folder), and turns what the
// C++ library throws on the way into an Error naming `what`: its own texts
// ("std::bad_alloc", "basic_string::_M_create", "stoll", "vector::reserve") say nothing of
// which file or why. A genlab::sdk::Error passes as it is.
template <class Body>
decltype(auto) reading(const std::string& what, Body&& body) {
  try {
    return body();
  } catch (const sdk::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw sdk::Error(GENLAB_ERROR_OUT_OF_MEMORY,
                     what + ": out of memory while loading it (is the data larger than this process may allocate?)");
  } catch (const std::length_error&) {
    throw sdk::Error(GENLAB_ERROR_OUT_OF_MEMORY, what + ": too large to hold in memory");
  } catch (const std::logic_error&) {
    // std::out_of_range, std::invalid_argument ("stoll", "basic_string::substr"): a check the
    // reader lacks. Said as such, without the library's text.
    throw sdk::Error(GENLAB_ERROR_INTERNAL, what +
                                                ": failed while loading it: a value out of range, or not a number "
                                                "where the reader expected one, that the reader did not check "
                                                "(a bug: please report it with this file)");
  } catch (const std::exception& e) {
    // LibTorch's allocator throws c10::Error "...: you tried to allocate N bytes..."; its
    // what() goes on with a backtrace, so only the first line is kept.
    std::string reason = e.what();
    reason = reason.substr(0, reason.find('\n'));
    const auto tried = reason.find("you tried to allocate ");
    if (tried != std::string::npos) {
      const std::string bytes = reason.substr(tried + 22, reason.find(' ', tried + 22) - (tried + 22));
      throw sdk::Error(GENLAB_ERROR_OUT_OF_MEMORY,
                       what + ": out of memory while loading it (" + bytes + " bytes more were asked for)");
    }
    throw sdk::Error(GENLAB_ERROR_INTERNAL, what + ": failed while loading it: " + reason);
  }
}

// The data directory for default paths: $GENLAB_DATA, else ./data.
inline std::string data_dir() {
  const char* env = std::getenv("GENLAB_DATA");
  return env && *env ? env : "data";
}

// A default path as a plugin declares it, "$GENLAB_DATA/mnist" (the form its description shows),
// with the data directory in place of $GENLAB_DATA: "data/mnist" when that is unset.
inline std::string data_path(const std::string& declared) {
  const std::string prefix = "$GENLAB_DATA";
  return declared.compare(0, prefix.size(), prefix) == 0 ? data_dir() + declared.substr(prefix.size()) : declared;
}

}  // namespace genlab::data
