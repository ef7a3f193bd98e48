// Fuzz target: plugin.toml, read before any library is loaded.
#include <cstdint>
#include <string>

#include "genlab/core/error.hpp"
#include "genlab/core/plugin_manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    genlab::parse_plugin_manifest(std::string(reinterpret_cast<const char*>(data), size), "/nonexistent/plugin");
  } catch (const genlab::HostError&) {
  }
  return 0;
}
