// Reading the files dataset plugins are given: whole files, gzipped or not, and the data
// folder that default paths start from.
#pragma once

#include <cstdlib>
#include <string>
#include <zlib.h>

#include <genlab/sdk/error.hpp>

namespace genlab::data {

// Reads a whole file, gzipped or not (zlib reads plain files as they are).
inline std::string read_maybe_gzipped(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  GENLAB_CHECK(file != nullptr, GENLAB_ERROR_IO, path + ": cannot open (does it exist? scripts/fetch-data.sh fetches the data)");
  std::string out;
  char buffer[1 << 16];
  int got;
  while ((got = gzread(file, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(got));
  int error = 0;
  const char* message = gzerror(file, &error);
  const std::string reason = error != Z_OK && error != Z_STREAM_END ? message : "";
  gzclose(file);
  GENLAB_CHECK(got == 0 && reason.empty(), GENLAB_ERROR_IO,
               path + ": read failed at (decompressed) byte offset " + std::to_string(out.size()) + ": " +
                   (reason.empty() ? "unexpected end of the compressed stream" : reason));
  return out;
}

// The data directory for default paths: $GENLAB_DATA, else ./data.
inline std::string data_dir() {
  const char* env = std::getenv("GENLAB_DATA");
  return env && *env ? env : "data";
}

}  // namespace genlab::data
