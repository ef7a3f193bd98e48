// Finding plugins: folders holding a plugin.toml, under the built-in directory, the
// GENLAB_PLUGIN_PATH variable and paths a manifest names. Reads no library.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "genlab/core/plugin_manifest.hpp"

namespace genlab {

// <directory of the genlab executable>/../<libdir>/genlab/plugins (build and install trees
// alike; <libdir> is CMake's CMAKE_INSTALL_LIBDIR).
std::filesystem::path builtin_plugin_dir();

// The directories searched, first wins on a name clash: `extra` (from a manifest or the
// command line), then each entry of GENLAB_PLUGIN_PATH (':'-separated), then the built-in.
std::vector<std::filesystem::path> plugin_search_path(const std::vector<std::filesystem::path>& extra = {});

struct Discovery {
  std::vector<PluginManifest> plugins;  // sorted by kind, then name
  std::vector<std::string> problems;    // folders skipped, each with its reason
};

// Each root is either a plugin folder itself or a directory of plugin folders.
Discovery discover_plugins(const std::vector<std::filesystem::path>& roots);

// The plugin called `name` among `found`, or a HostError listing the close names.
const PluginManifest& find_plugin(const Discovery& found, const std::string& name);

// The candidates within a small edit distance of `word`, best first ("did you mean").
std::vector<std::string> close_matches(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace genlab
