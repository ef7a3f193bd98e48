// plugin.toml: the few facts about a plugin that listing needs, read without dlopen.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "genlab/genlab.h"

namespace genlab {

struct PluginManifest {
  std::filesystem::path folder;        // the plugin's folder
  std::filesystem::path manifest_path; // folder/plugin.toml
  std::string name;
  genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_MODEL;
  std::string version;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  std::string family;
  std::string summary;
  std::vector<std::string> modalities;
  std::filesystem::path library;       // absolute path of the shared library

  std::string abi_version() const {
    return std::to_string(abi_major) + "." + std::to_string(abi_minor);
  }
};

// Reads `folder`/plugin.toml. Throws HostError naming file:line:column and the field.
PluginManifest read_plugin_manifest(const std::filesystem::path& folder);
// The same from the text of a plugin.toml said to be in `folder` (what the fuzz target reads).
PluginManifest parse_plugin_manifest(const std::string& text, const std::filesystem::path& folder);

const char* kind_name(genlab_plugin_kind kind);
std::optional<genlab_plugin_kind> parse_kind(const std::string& name);

}  // namespace genlab
