#include "genlab/core/plugin_manifest.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <toml++/toml.h>

#include "genlab/core/error.hpp"

namespace genlab {
namespace fs = std::filesystem;

const char* kind_name(genlab_plugin_kind kind) {
  switch (kind) {
    case GENLAB_PLUGIN_KIND_MODEL: return "model";
    case GENLAB_PLUGIN_KIND_DATASET: return "dataset";
    case GENLAB_PLUGIN_KIND_METRIC: return "metric";
    case GENLAB_PLUGIN_KIND_BACKEND: return "backend";
  }
  return "unknown";
}

std::optional<genlab_plugin_kind> parse_kind(const std::string& name) {
  for (auto kind : {GENLAB_PLUGIN_KIND_MODEL, GENLAB_PLUGIN_KIND_DATASET,
                    GENLAB_PLUGIN_KIND_METRIC, GENLAB_PLUGIN_KIND_BACKEND})
    if (name == kind_name(kind)) return kind;
  return std::nullopt;
}

namespace {

std::string where(const fs::path& file, const toml::source_region& region) {
  std::ostringstream out;
  out << file.string() << ":" << region.begin.line << ":" << region.begin.column;
  return out.str();
}

// The string at `key`; throws naming the file and position when missing or not a string.
std::string read_string(const toml::table& table, const fs::path& file, const char* key,
                        bool required) {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    if (!required) return {};
    throw HostError(file.string() + ": missing required key '" + key + "' (a string)");
  }
  if (!node->is_string())
    throw HostError(where(file, node->source()) + ": expected '" + key + "' to be a string");
  return node->as_string()->get();
}

}  // namespace

PluginManifest read_plugin_manifest(const fs::path& folder) {
  const fs::path path = fs::absolute(folder).lexically_normal() / "plugin.toml";
  if (!fs::is_regular_file(path)) throw HostError(path.string() + ": no plugin.toml in this folder");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw HostError(path.string() + ": cannot read");
  return parse_plugin_manifest(text.str(), folder);
}

PluginManifest parse_plugin_manifest(const std::string& text, const fs::path& folder) {
  PluginManifest m;
  m.folder = fs::absolute(folder).lexically_normal();
  m.manifest_path = m.folder / "plugin.toml";
  toml::table table;
  try {
    table = toml::parse(text, m.manifest_path.string());
  } catch (const toml::parse_error& e) {
    throw HostError(where(m.manifest_path, e.source()) + ": " + std::string(e.description()));
  }
  const fs::path& file = m.manifest_path;

  static const std::vector<std::string> known = {"name",   "kind",       "version", "abi_version",
                                                 "family", "summary",    "modalities", "library"};
  for (const auto& [key, node] : table) {
    if (std::find(known.begin(), known.end(), std::string(key.str())) == known.end())
      throw HostError(where(file, key.source()) + ": unknown key '" + std::string(key.str()) +
                      "' (expected one of name, kind, version, abi_version, family, summary, "
                      "modalities, library)");
  }

  m.name = read_string(table, file, "name", true);
  static const std::regex name_pattern("[a-z0-9][a-z0-9_-]*");
  if (!std::regex_match(m.name, name_pattern))
    throw HostError(where(file, table.get("name")->source()) +
                    ": expected 'name' to match [a-z0-9][a-z0-9_-]*, got '" + m.name + "'");

  const std::string kind = read_string(table, file, "kind", true);
  auto parsed_kind = parse_kind(kind);
  if (!parsed_kind)
    throw HostError(where(file, table.get("kind")->source()) +
                    ": expected 'kind' to be model, dataset, metric or backend, got '" + kind + "'");
  m.kind = *parsed_kind;

  m.version = read_string(table, file, "version", true);
  const std::string abi = read_string(table, file, "abi_version", true);
  static const std::regex abi_pattern("([0-9]{1,9})\\.([0-9]{1,9})");  // fits uint32_t
  std::smatch match;
  if (!std::regex_match(abi, match, abi_pattern))
    throw HostError(where(file, table.get("abi_version")->source()) +
                    ": expected 'abi_version' as \"MAJOR.MINOR\", got '" + abi + "'");
  m.abi_major = static_cast<uint32_t>(std::stoul(match[1]));
  m.abi_minor = static_cast<uint32_t>(std::stoul(match[2]));

  m.family = read_string(table, file, "family", false);
  m.summary = read_string(table, file, "summary", false);

  if (const toml::node* node = table.get("modalities")) {
    const toml::array* array = node->as_array();
    if (array == nullptr)
      throw HostError(where(file, node->source()) + ": expected 'modalities' to be an array of strings");
    for (const toml::node& element : *array) {
      if (!element.is_string())
        throw HostError(where(file, element.source()) + ": expected 'modalities' to hold strings");
      m.modalities.push_back(element.as_string()->get());
    }
  }

  const std::string library = read_string(table, file, "library", true);
  if (library.find('/') != std::string::npos || library.empty() || library == "..")
    throw HostError(where(file, table.get("library")->source()) +
                    ": expected 'library' to be a file name in the plugin folder, got '" + library + "'");
  m.library = m.folder / library;
  return m;
}

}  // namespace genlab
