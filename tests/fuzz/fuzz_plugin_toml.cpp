// Fuzz target: plugin.toml, read before any library is loaded. What it accepts must also
// survive the round trip genlab-describe makes: written again from its description, it
// reads back as the same description (a failure there aborts: a bug, not bad input).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "genlab/util/error.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  genlab::PluginManifest m;
  try {
    m = genlab::parse_plugin_manifest(std::string(reinterpret_cast<const char*>(data), size), "/nonexistent/plugin");
  } catch (const genlab::HostError&) {
    return 0;
  }
  const genlab::PluginDescription d = m.description();
  const std::string text = genlab::plugin_toml_text(d, m.abi_major, m.abi_minor, m.library.filename().string());
  try {
    const genlab::PluginManifest again = genlab::parse_plugin_manifest(text, "/nonexistent/plugin");
    if (!again.complete() || again.library != m.library) std::abort();
    for (const auto& f : genlab::compare_with_manifest(d, m.abi_major, m.abi_minor, again))
      if (!f.agrees) std::abort();
  } catch (const genlab::HostError&) {
    std::abort();
  }
  return 0;
}
