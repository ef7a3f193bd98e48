// Fuzz target: the experiment manifest resolver (TOML, includes, sweeps, overrides, every
// check), on a manifest file written to a private folder. The workspace is forced into that
// folder, so no input can make the resolver create folders elsewhere.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "genlab/util/error.hpp"
#include "genlab/core/experiment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = [] {
    // In memory where there is /dev/shm: truncating a file on a disk mounted with discard costs
    // a block-device discard each time, which was most of this target's time.
    const std::filesystem::path shm = "/dev/shm";
    auto d = (std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path()) /
             ("genlab-fuzz-manifest-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  const auto file = dir / "m.toml";
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    genlab::load_experiment(file, {"experiment.workspace=\"" + (dir / "ws").string() + "\""});
  } catch (const genlab::HostError&) {
  }
  return 0;
}
