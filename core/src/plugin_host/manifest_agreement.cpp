// Whether a plugin.toml says what its library says: the one comparison both the loader (which
// refuses a disagreement) and `genlab plugins check` (which reports each field) use.
#include <algorithm>

#include "genlab/core/loader.hpp"

namespace genlab {
namespace fs = std::filesystem;
namespace {

std::string list_text(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + "]";
}

std::vector<std::string> as_set(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::string param_text(const ParamSpec& p) {
  return p.name + ": " + param_type_name(p.type) + (p.default_value ? " = " + *p.default_value : " (required)") +
         (p.doc.empty() ? "" : " \"" + p.doc + "\"");
}

// The first entry where two parameter lists differ, as text on each side.
std::pair<std::string, std::string> first_difference(const std::vector<ParamSpec>& a, const std::vector<ParamSpec>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  auto at = [i](const std::vector<ParamSpec>& v) {
    return i < v.size() ? "#" + std::to_string(i + 1) + " of " + std::to_string(v.size()) + ": " + param_text(v[i])
                        : std::to_string(v.size()) + " entries";
  };
  return {at(a), at(b)};
}

}  // namespace

std::string ManifestField::message(const fs::path& toml, const fs::path& library) const {
  return toml.string() + ": " + field + " is '" + in_toml + "' but the library " + library.string() + " says '" +
         in_library +
         "' (rebuild the plugin: genlab_add_plugin writes its plugin.toml from the library; "
         "a hand-written plugin.toml must say what the library says)";
}

std::vector<ManifestField> compare_with_manifest(const PluginDescription& d, uint32_t abi_major, uint32_t abi_minor,
                                                 const PluginManifest& manifest) {
  std::vector<ManifestField> out;
  auto compare = [&](const char* field, const std::string& in_toml, const std::string& in_library, bool agrees) {
    out.push_back(ManifestField{field, in_toml, in_library, agrees, true});
  };
  auto compare_text = [&](const char* field, const std::string& in_toml, const std::string& in_library) {
    compare(field, in_toml, in_library, in_toml == in_library);
  };
  compare_text("name", manifest.name, d.name);
  compare_text("kind", kind_name(manifest.kind), kind_name(d.kind));
  compare_text("version", manifest.version, d.version);
  compare_text("abi_version", manifest.abi_version(), std::to_string(abi_major) + "." + std::to_string(abi_minor));
  if (manifest.gives("family")) compare_text("family", manifest.family, d.family);
  if (manifest.gives("summary")) compare_text("summary", manifest.summary, d.summary);
  // Sets: the order carries no meaning, nor does a repetition.
  if (manifest.gives("modalities"))
    compare("modalities", list_text(manifest.modalities), list_text(d.modalities),
            as_set(manifest.modalities) == as_set(d.modalities));
  if (manifest.gives("capabilities"))
    compare("capabilities", list_text(capability_flag_names(manifest.capabilities)),
            list_text(capability_flag_names(d.capabilities)), manifest.capabilities == d.capabilities);
  if (manifest.gives("devices")) {
    std::vector<std::string> in_toml, in_library;
    for (int32_t t : manifest.device_types) in_toml.push_back(device_type_name(t));
    for (int32_t t : d.device_types) in_library.push_back(device_type_name(t));
    compare("devices", list_text(in_toml), list_text(in_library), as_set(in_toml) == as_set(in_library));
  }
  auto compare_params = [&](const char* field, const std::vector<ParamSpec>& in_toml,
                            const std::vector<ParamSpec>& in_library) {
    if (in_toml == in_library) {
      compare(field, std::to_string(in_toml.size()) + " entries", std::to_string(in_library.size()) + " entries", true);
    } else {
      auto [a, b] = first_difference(in_toml, in_library);
      compare(field, a, b, false);
    }
  };
  if (manifest.gives("params")) compare_params("params", manifest.params, d.params);
  // Absent from a complete plugin.toml, generate_params means "not declared" (ABI < 1.5).
  if (manifest.gives("generate_params") || manifest.complete()) {
    const bool declared = manifest.gives("generate_params");
    if (declared != d.declares_generate_params)
      compare("generate_params", declared ? "declared" : "not declared (absent)",
              d.declares_generate_params ? "declared" : "not declared (ABI < 1.5)", false);
    else compare_params("generate_params", manifest.generate_params, d.generate_params);
  }
  return out;
}

}  // namespace genlab
