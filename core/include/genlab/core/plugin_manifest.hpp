// plugin.toml: what a plugin says about itself, read without dlopen. genlab_add_plugin
// writes it at build time from the library's own describe() (genlab-describe), so it gives
// the whole description; an older or hand-written file gives only name, kind, version,
// abi_version and library (family, summary and modalities optional), and the host then
// loads the library to learn the rest.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "genlab/genlab.h"

namespace genlab {

struct ParamSpec {
  std::string name;
  genlab_param_type type = GENLAB_PARAM_DOUBLE;
  std::optional<std::string> default_value;  // TOML text; none means required
  std::string doc;

  bool operator==(const ParamSpec& o) const {
    return name == o.name && type == o.type && default_value == o.default_value && doc == o.doc;
  }
  bool operator!=(const ParamSpec& o) const { return !(*this == o); }
};

// The plugin's describe() answer, copied into C++ values.
struct PluginDescription {
  genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_MODEL;
  std::string name, version, family, summary;
  std::vector<std::string> modalities;
  uint64_t capabilities = 0;
  std::vector<int32_t> device_types;  // DLDeviceType values
  std::vector<ParamSpec> params;
  // Models (ABI 1.5): the options generate reads; when declared, no other is accepted.
  std::vector<ParamSpec> generate_params;
  bool declares_generate_params = false;  // an older plugin: its options are not checked
};

struct PluginManifest {
  std::filesystem::path folder;         // the plugin's folder
  std::filesystem::path manifest_path;  // folder/plugin.toml
  std::string name;
  genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_MODEL;
  std::string version;
  uint32_t abi_major = 0;
  uint32_t abi_minor = 0;
  std::string family;
  std::string summary;
  std::vector<std::string> modalities;
  // The rest of the description (written by genlab-describe; absent from older files).
  uint64_t capabilities = 0;               // "capabilities": names (genlab.h's, or "bit_N")
  std::vector<int32_t> device_types;       // "devices": names ("cpu", "cuda", ..., "device_type_N")
  std::vector<ParamSpec> params;           // "params": [{name, type, default, doc}, ...]
  std::vector<ParamSpec> generate_params;  // "generate_params"; absent: not declared (ABI < 1.5)
  std::filesystem::path library;           // absolute path of the shared library
  std::vector<std::string> keys;           // the keys the file gives, in its order

  std::string abi_version() const { return std::to_string(abi_major) + "." + std::to_string(abi_minor); }
  // Whether the file gives `key` (the optional family, summary and modalities may be absent).
  bool gives(const std::string& key) const {
    for (const auto& k : keys)
      if (k == key) return true;
    return false;
  }
  // Whether it gives the library's whole description (every key genlab-describe writes;
  // generate_params may be absent: not declared). Then the host uses description() and
  // loads the library only when it calls it (see Plugin).
  bool complete() const;
  // The description it gives (the library's, if the two agree: the loader checks that).
  PluginDescription description() const;
};

// Reads `folder`/plugin.toml. Throws HostError naming file:line:column and the field.
PluginManifest read_plugin_manifest(const std::filesystem::path& folder);
// The same from the text of a plugin.toml said to be in `folder` (what the fuzz target reads).
// Bounded: a text over max_plugin_toml_bytes, or a list over max_plugin_toml_items, is refused.
PluginManifest parse_plugin_manifest(const std::string& text, const std::filesystem::path& folder);
constexpr size_t max_plugin_toml_bytes = size_t(1) << 20;
constexpr size_t max_plugin_toml_items = 1024;

// The plugin.toml of a library that describes itself as `d`, with its table's ABI version:
// every field (what genlab-describe writes). Reading it back gives the same description.
std::string plugin_toml_text(const PluginDescription& d, uint32_t abi_major, uint32_t abi_minor,
                             const std::string& library_file_name);

const char* kind_name(genlab_plugin_kind kind);
std::optional<genlab_plugin_kind> parse_kind(const std::string& name);
const char* param_type_name(genlab_param_type type);  // int, double, bool, string
std::optional<genlab_param_type> parse_param_type(const std::string& name);
// The names of the capability bits set in `capabilities` (genlab.h's, lower case without
// GENLAB_CAPABILITY_; a bit genlab.h does not name is "bit_N"), in bit order.
std::vector<std::string> capability_flag_names(uint64_t capabilities);
std::optional<uint64_t> parse_capability_flag(const std::string& name);
std::string device_type_name(int32_t device_type);  // cpu, cuda, ..., device_type_N
std::optional<int32_t> parse_device_type(const std::string& name);

}  // namespace genlab
