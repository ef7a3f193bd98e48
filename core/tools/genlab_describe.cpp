// genlab-describe LIBRARY [--output FILE] [--expect KEY=VALUE]...
//
// Loads a built plugin library as the host does (entry, ABI, tables, describe: its code
// runs), and writes its plugin.toml from the library's own description: every field the
// host reads without loading it. genlab_add_plugin runs it after linking each plugin, so a
// plugin.toml agrees with its library by construction. --expect name|kind|version|
// abi_version=VALUE fails unless the library says VALUE (what genlab_add_plugin was told).
// Exit codes: 0 ok, 1 failure, 2 usage error.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "genlab/util/error.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/util/files.hpp"

namespace fs = std::filesystem;
using namespace genlab;

namespace {

const char* kUsage =
    "Usage: genlab-describe LIBRARY [--output FILE] [--expect KEY=VALUE]...\n"
    "Loads the genlab plugin LIBRARY (its code runs) and prints its plugin.toml, or writes it\n"
    "to FILE (atomically). --expect name|kind|version|abi_version=VALUE: fail unless the\n"
    "library says VALUE.\n";

// Leaves at once: the plugin's exit handlers and static destructors (LibTorch's, CUDA's)
// need not run in a build step.
[[noreturn]] void finish(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}

int describe(int argc, char** argv) {
  fs::path library, output;
  std::vector<std::pair<std::string, std::string>> expected;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if ((arg == "--output" || arg == "--expect") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--output") {
        output = value;
      } else {
        const size_t eq = value.find('=');
        const std::string key = value.substr(0, eq);
        if (eq == std::string::npos || (key != "name" && key != "kind" && key != "version" && key != "abi_version")) {
          std::cerr << "genlab-describe: expected --expect name|kind|version|abi_version=VALUE, got '" << value << "'\n"
                    << kUsage;
          return 2;
        }
        expected.emplace_back(key, value.substr(eq + 1));
      }
    } else if (library.empty() && !arg.empty() && arg[0] != '-') {
      library = arg;
    } else {
      std::cerr << "genlab-describe: unexpected argument '" << arg << "'\n" << kUsage;
      return 2;
    }
  }
  if (library.empty()) {
    std::cerr << kUsage;
    return 2;
  }

  const auto plugin = load_plugin_library_unchecked(library);  // the plugin.toml there may be stale
  const PluginDescription& d = plugin->description();
  const genlab_plugin_api& api = plugin->api();
  const std::string text = plugin_toml_text(d, api.abi_major, api.abi_minor, plugin->library().filename().string());

  // Read back as the host will: it must parse, and give the library's description again.
  const fs::path folder = output.empty() ? plugin->library().parent_path() : fs::absolute(output).parent_path();
  PluginManifest manifest;
  try {
    manifest = parse_plugin_manifest(text, folder);
  } catch (const HostError& e) {
    throw HostError(plugin->library().string() + ": its description does not make a valid plugin.toml: " + e.what());
  }
  for (const auto& f : compare_with_manifest(d, api.abi_major, api.abi_minor, manifest))
    if (!f.agrees)
      throw HostError(plugin->library().string() + ": its plugin.toml reads back with another " + f.field + " ('" +
                      f.in_toml + "', the library says '" + f.in_library + "')");

  std::string mismatches;
  for (const auto& [key, value] : expected) {
    const std::string said = key == "name"      ? manifest.name
                             : key == "kind"    ? std::string(kind_name(manifest.kind))
                             : key == "version" ? manifest.version
                                                : manifest.abi_version();
    if (said != value) mismatches += "\n  " + key + ": the build says '" + value + "', the library says '" + said + "'";
  }
  if (!mismatches.empty())
    throw HostError(plugin->library().string() +
                    ": the library's description disagrees with its build "
                    "(genlab_add_plugin's arguments):" +
                    mismatches + "\n  make them agree: plugin.toml records what the library's describe() says");

  if (output.empty()) std::cout << text;
  else write_file_atomic(output, text, Durability::AtomicOnly);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    finish(describe(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "genlab-describe: " << e.what() << "\n";
    finish(1);
  }
}
