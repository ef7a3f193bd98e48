#include "genlab/core/plugin_manifest.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <tuple>
#include <toml++/toml.h>

#include "genlab/util/error.hpp"

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
  for (auto kind :
       {GENLAB_PLUGIN_KIND_MODEL, GENLAB_PLUGIN_KIND_DATASET, GENLAB_PLUGIN_KIND_METRIC, GENLAB_PLUGIN_KIND_BACKEND})
    if (name == kind_name(kind)) return kind;
  return std::nullopt;
}

const char* param_type_name(genlab_param_type type) {
  switch (type) {
    case GENLAB_PARAM_INT: return "int";
    case GENLAB_PARAM_DOUBLE: return "double";
    case GENLAB_PARAM_BOOL: return "bool";
    case GENLAB_PARAM_STRING: return "string";
  }
  return "unknown";
}

std::optional<genlab_param_type> parse_param_type(const std::string& name) {
  for (auto type : {GENLAB_PARAM_INT, GENLAB_PARAM_DOUBLE, GENLAB_PARAM_BOOL, GENLAB_PARAM_STRING})
    if (name == param_type_name(type)) return type;
  return std::nullopt;
}

namespace {

const std::pair<uint64_t, const char*> capability_table[] = {
    {GENLAB_CAPABILITY_TRAIN, "train"},
    {GENLAB_CAPABILITY_GENERATE, "generate"},
    {GENLAB_CAPABILITY_SCORE, "score"},
    {GENLAB_CAPABILITY_STATE, "state"},
    {GENLAB_CAPABILITY_NEEDS_SCORES, "needs_scores"},
    {GENLAB_CAPABILITY_NEEDS_REAL, "needs_real"},
    {GENLAB_CAPABILITY_NEEDS_GENERATED, "needs_generated"},
    {GENLAB_CAPABILITY_READS_FEATURES, "reads_features"},
    {GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS, "generate_needs_inputs"},
    {GENLAB_CAPABILITY_DATA_PARALLEL, "data_parallel"},
    {GENLAB_CAPABILITY_MIXED_PRECISION, "mixed_precision"}};

const std::pair<int32_t, const char*> device_table[] = {
    {kDLCPU, "cpu"},     {kDLCUDA, "cuda"},     {kDLCUDAHost, "cuda_host"}, {kDLROCM, "rocm"},
    {kDLMetal, "metal"}, {kDLVulkan, "vulkan"}, {kDLOpenCL, "opencl"}};

// "<prefix>N" with N a decimal of at most `digits` digits and at most `max`; else nothing.
std::optional<uint64_t> numbered(const std::string& name, const std::string& prefix, size_t digits, uint64_t max) {
  if (name.size() <= prefix.size() || name.size() > prefix.size() + digits ||
      name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  uint64_t n = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  if (n > max || (name.size() > prefix.size() + 1 && name[prefix.size()] == '0')) return std::nullopt;
  return n;
}

}  // namespace

std::vector<std::string> capability_flag_names(uint64_t capabilities) {
  std::vector<std::string> out;
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t flag = uint64_t(1) << bit;
    if ((capabilities & flag) == 0) continue;
    std::string name = "bit_" + std::to_string(bit);
    for (const auto& [f, n] : capability_table)
      if (f == flag) name = n;
    out.push_back(name);
  }
  return out;
}

std::optional<uint64_t> parse_capability_flag(const std::string& name) {
  for (const auto& [flag, n] : capability_table)
    if (name == n) return flag;
  if (auto bit = numbered(name, "bit_", 2, 63)) return uint64_t(1) << *bit;
  return std::nullopt;
}

std::string device_type_name(int32_t device_type) {
  for (const auto& [type, name] : device_table)
    if (type == device_type) return name;
  return "device_type_" + std::to_string(device_type);
}

std::optional<int32_t> parse_device_type(const std::string& name) {
  for (const auto& [type, n] : device_table)
    if (name == n) return type;
  if (auto n = numbered(name, "device_type_", 10, INT32_MAX)) return static_cast<int32_t>(*n);
  return std::nullopt;
}

namespace {

// The keys genlab-describe writes, in its order; every one but generate_params makes a
// complete file (the description without loading the library).
const std::vector<std::string> known_keys = {"name",    "kind",    "version",         "abi_version",
                                             "family",  "summary", "modalities",      "capabilities",
                                             "devices", "params",  "generate_params", "library"};
const std::vector<std::string> complete_keys = {"family", "summary", "modalities", "capabilities", "devices", "params"};

std::string where(const fs::path& file, const toml::source_region& region) {
  std::ostringstream out;
  out << file.string() << ":" << region.begin.line << ":" << region.begin.column;
  return out.str();
}

// The string at `key`; throws naming the file and position when missing or not a string.
std::string read_string(const toml::table& table, const fs::path& file, const char* key, bool required,
                        const char* what = "") {
  const toml::node* node = table.get(key);
  if (node == nullptr) {
    if (!required) return {};
    throw HostError(file.string() + ": missing required key '" + what + key + "' (a string)");
  }
  if (!node->is_string())
    throw HostError(where(file, node->source()) + ": expected '" + what + key + "' to be a string");
  return node->as_string()->get();
}

// The array at `key` (none when absent), of at most max_plugin_toml_items elements.
const toml::array* read_array(const toml::table& table, const fs::path& file, const char* key, const char* of) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return nullptr;
  const toml::array* array = node->as_array();
  if (array == nullptr)
    throw HostError(where(file, node->source()) + ": expected '" + key + "' to be an array of " + of);
  if (array->size() > max_plugin_toml_items)
    throw HostError(where(file, node->source()) + ": expected '" + key + "' to hold at most " +
                    std::to_string(max_plugin_toml_items) + " elements, got " + std::to_string(array->size()));
  return array;
}

std::vector<std::string> read_strings(const toml::table& table, const fs::path& file, const char* key) {
  std::vector<std::string> out;
  if (const toml::array* array = read_array(table, file, key, "strings"))
    for (const toml::node& element : *array) {
      if (!element.is_string())
        throw HostError(where(file, element.source()) + ": expected '" + key + "' to hold strings");
      out.push_back(element.as_string()->get());
    }
  return out;
}

std::vector<ParamSpec> read_params(const toml::table& table, const fs::path& file, const char* key) {
  std::vector<ParamSpec> out;
  const toml::array* array = read_array(table, file, key, "tables {name, type, default, doc}");
  if (array == nullptr) return out;
  for (const toml::node& element : *array) {
    const toml::table* p = element.as_table();
    if (p == nullptr)
      throw HostError(where(file, element.source()) + ": expected '" + key +
                      "' to hold tables {name, type, default, doc}");
    const std::string what = std::string(key) + ".";
    for (const auto& [k, v] : *p)
      if (k.str() != "name" && k.str() != "type" && k.str() != "default" && k.str() != "doc")
        throw HostError(where(file, k.source()) + ": unknown key '" + what + std::string(k.str()) +
                        "' (expected name, type, default, doc)");
    ParamSpec spec;
    spec.name = read_string(*p, file, "name", true, what.c_str());
    if (spec.name.empty())
      throw HostError(where(file, element.source()) + ": expected '" + what + "name' to be a non-empty string");
    const std::string type = read_string(*p, file, "type", true, what.c_str());
    auto parsed = parse_param_type(type);
    if (!parsed)
      throw HostError(where(file, p->get("type")->source()) + ": expected '" + what +
                      "type' to be int, double, bool or string, got '" + type + "'");
    spec.type = *parsed;
    if (p->get("default") != nullptr) spec.default_value = read_string(*p, file, "default", true, what.c_str());
    spec.doc = read_string(*p, file, "doc", false, what.c_str());
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace

bool PluginManifest::complete() const {
  for (const auto& key : complete_keys)
    if (!gives(key)) return false;
  return true;
}

PluginDescription PluginManifest::description() const {
  PluginDescription d;
  d.kind = kind;
  d.name = name;
  d.version = version;
  d.family = family;
  d.summary = summary;
  d.modalities = modalities;
  d.capabilities = capabilities;
  d.device_types = device_types;
  d.params = params;
  d.generate_params = generate_params;
  d.declares_generate_params = gives("generate_params");
  return d;
}

PluginManifest read_plugin_manifest(const fs::path& folder) {
  const fs::path path = fs::absolute(folder).lexically_normal() / "plugin.toml";
  std::error_code status;
  if (!fs::is_regular_file(path, status))
    throw HostError(path.string() +
                    (status ? ": cannot be read: " + status.message() : ": no plugin.toml in this folder"));
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (!ec && size > max_plugin_toml_bytes)
    throw HostError(path.string() + ": " + std::to_string(size) + " bytes, more than a plugin.toml may have (" +
                    std::to_string(max_plugin_toml_bytes) + ")");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw HostError(path.string() + ": cannot read");
  return parse_plugin_manifest(text.str(), folder);
}

namespace {

// Every key is one the format knows; returns them in the file's order.
std::vector<std::string> read_keys(const toml::table& table, const fs::path& file) {
  std::vector<std::string> keys;
  for (const auto& [key, node] : table) {
    if (std::find(known_keys.begin(), known_keys.end(), std::string(key.str())) == known_keys.end()) {
      std::string expected;
      for (const auto& k : known_keys) expected += (expected.empty() ? "" : ", ") + k;
      throw HostError(where(file, key.source()) + ": unknown key '" + std::string(key.str()) + "' (expected one of " +
                      expected + ")");
    }
    keys.emplace_back(key.str());
  }
  return keys;
}

// [a-z0-9][a-z0-9_-]*, at most 128 characters, checked by hand: std::regex recurses per
// character, and a name of 30,000 characters overflowed the stack.
std::string read_name(const toml::table& table, const fs::path& file) {
  const std::string name = read_string(table, file, "name", true);
  const auto name_char = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (!first && (c == '_' || c == '-'));
  };
  bool name_ok = !name.empty() && name.size() <= 128;
  for (size_t i = 0; name_ok && i < name.size(); ++i) name_ok = name_char(name[i], i == 0);
  if (!name_ok)
    throw HostError(where(file, table.get("name")->source()) +
                    ": expected 'name' to match [a-z0-9][a-z0-9_-]* (at most 128 characters), got '" +
                    name.substr(0, 60) + (name.size() > 60 ? "...'" : "'"));
  return name;
}

genlab_plugin_kind read_kind(const toml::table& table, const fs::path& file) {
  const std::string kind = read_string(table, file, "kind", true);
  auto parsed_kind = parse_kind(kind);
  if (!parsed_kind)
    throw HostError(where(file, table.get("kind")->source()) +
                    ": expected 'kind' to be model, dataset, metric or backend, got '" + kind + "'");
  return *parsed_kind;
}

// "MAJOR.MINOR", each 1 to 9 digits (fits uint32_t).
std::pair<uint32_t, uint32_t> read_abi_version(const toml::table& table, const fs::path& file) {
  const std::string abi = read_string(table, file, "abi_version", true);
  const size_t dot = abi.find('.');
  const auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (dot == std::string::npos || !digits(abi.substr(0, dot)) || !digits(abi.substr(dot + 1)))
    throw HostError(where(file, table.get("abi_version")->source()) +
                    ": expected 'abi_version' as \"MAJOR.MINOR\", got '" + abi.substr(0, 40) + "'");
  return {static_cast<uint32_t>(std::strtoul(abi.c_str(), nullptr, 10)),
          static_cast<uint32_t>(std::strtoul(abi.c_str() + dot + 1, nullptr, 10))};
}

uint64_t read_capabilities(const toml::table& table, const fs::path& file) {
  uint64_t capabilities = 0;
  if (const toml::array* array = read_array(table, file, "capabilities", "strings"))
    for (const toml::node& element : *array) {
      const auto* name = element.as_string();
      auto flag = name ? parse_capability_flag(name->get()) : std::nullopt;
      if (!flag) {
        std::string names;
        for (const auto& [bit, capability] : capability_table) names += std::string(capability) + ", ";
        throw HostError(where(file, element.source()) + ": expected 'capabilities' to hold capability names (" + names +
                        "or bit_N)" + (name ? ", got '" + name->get() + "'" : std::string()));
      }
      capabilities |= *flag;
    }
  return capabilities;
}

std::vector<int32_t> read_devices(const toml::table& table, const fs::path& file) {
  std::vector<int32_t> devices;
  if (const toml::array* array = read_array(table, file, "devices", "strings"))
    for (const toml::node& element : *array) {
      const auto* name = element.as_string();
      auto type = name ? parse_device_type(name->get()) : std::nullopt;
      if (!type)
        throw HostError(where(file, element.source()) +
                        ": expected 'devices' to hold device names "
                        "(cpu, cuda, cuda_host, rocm, metal, vulkan, opencl, or device_type_N)" +
                        (name ? ", got '" + name->get() + "'" : std::string()));
      devices.push_back(*type);
    }
  return devices;
}

// A file name in the plugin folder (no path: a plugin.toml cannot point elsewhere).
std::string read_library(const toml::table& table, const fs::path& file) {
  const std::string library = read_string(table, file, "library", true);
  if (library.find('/') != std::string::npos || library.empty() || library == "." || library == "..")
    throw HostError(where(file, table.get("library")->source()) +
                    ": expected 'library' to be a file name in the plugin folder, got '" + library + "'");
  return library;
}

}  // namespace

PluginManifest parse_plugin_manifest(const std::string& text, const fs::path& folder) {
  PluginManifest m;
  m.folder = fs::absolute(folder).lexically_normal();
  m.manifest_path = m.folder / "plugin.toml";
  const fs::path& file = m.manifest_path;
  if (text.size() > max_plugin_toml_bytes)
    throw HostError(file.string() + ": " + std::to_string(text.size()) + " bytes, more than a plugin.toml may have (" +
                    std::to_string(max_plugin_toml_bytes) + ")");
  toml::table table;
  try {
    table = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    throw HostError(where(file, e.source()) + ": " + std::string(e.description()));
  }
  m.keys = read_keys(table, file);
  m.name = read_name(table, file);
  m.kind = read_kind(table, file);
  m.version = read_string(table, file, "version", true);
  std::tie(m.abi_major, m.abi_minor) = read_abi_version(table, file);
  m.family = read_string(table, file, "family", false);
  m.summary = read_string(table, file, "summary", false);
  m.modalities = read_strings(table, file, "modalities");
  m.capabilities = read_capabilities(table, file);
  m.device_types = read_devices(table, file);
  m.params = read_params(table, file, "params");
  m.generate_params = read_params(table, file, "generate_params");
  m.library = m.folder / read_library(table, file);
  return m;
}

namespace {

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buffer;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string string_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + quote(items[i]);
  return out + "]";
}

std::string param_list(const std::vector<ParamSpec>& params) {
  if (params.empty()) return "[]";
  std::string out = "[\n";
  for (const auto& p : params) {
    out += "  { name = " + quote(p.name) + ", type = " + quote(param_type_name(p.type));
    if (p.default_value) out += ", default = " + quote(*p.default_value);
    out += ", doc = " + quote(p.doc) + " },\n";
  }
  return out + "]";
}

}  // namespace

std::string plugin_toml_text(const PluginDescription& d, uint32_t abi_major, uint32_t abi_minor,
                             const std::string& library_file_name) {
  std::vector<std::string> devices;
  for (int32_t t : d.device_types) devices.push_back(device_type_name(t));
  std::string out =
      "# Written at build time by genlab-describe from the library's own describe() (genlab_add_plugin);\n"
      "# read by the genlab host without loading the library. Do not edit it: rebuild the plugin.\n";
  out += "name = " + quote(d.name) + "\n";
  out += "kind = " + quote(kind_name(d.kind)) + "\n";
  out += "version = " + quote(d.version) + "\n";
  out += "abi_version = " + quote(std::to_string(abi_major) + "." + std::to_string(abi_minor)) + "\n";
  out += "family = " + quote(d.family) + "\n";
  out += "summary = " + quote(d.summary) + "\n";
  out += "modalities = " + string_list(d.modalities) + "\n";
  out += "capabilities = " + string_list(capability_flag_names(d.capabilities)) + "\n";
  out += "devices = " + string_list(devices) + "\n";
  out += "params = " + param_list(d.params) + "\n";
  if (d.declares_generate_params) out += "generate_params = " + param_list(d.generate_params) + "\n";
  out += "library = " + quote(library_file_name) + "\n";
  return out;
}

}  // namespace genlab
