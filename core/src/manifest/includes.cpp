// Reading a manifest: the file with its includes, the command line's overrides, and the
// scale it picks.
#include <algorithm>
#include <optional>

#include "genlab/util/error.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace fs = std::filesystem;

void apply_override(toml::table& root, const std::string& text, const std::string& flag) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw HostError(flag + " " + text + ": expected KEY=VALUE, e.g. " +
                    (flag == "--set" ? "models.gmm.lr=0.1" : "steps=50"));
  const std::string key = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  toml::table* table = &root;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw HostError(flag + " " + text + ": empty key part in '" + key + "'");
    if (dot == std::string::npos) {
      table->insert_or_assign(part, std::move(*parsed.get("v")));
      return;
    }
    toml::node* next = table->get(part);
    if (next == nullptr) {
      table->insert(part, toml::table{});
      next = table->get(part);
    }
    if (!next->is_table()) throw HostError(flag + " " + text + ": '" + part + "' is not a table");
    table = next->as_table();
    start = dot + 1;
  }
}

namespace manifest {
namespace {

// The names of the files `include` (a name or an array of them) asks for.
std::vector<std::string> include_names(const toml::node& include, const fs::path& path) {
  std::vector<std::string> names;
  if (include.is_string()) names.push_back(include.as_string()->get());
  else if (const toml::array* array = include.as_array()) {
    for (const auto& element : *array) {
      if (!element.is_string())
        throw HostError(where(element.source(), path) + ": expected 'include' to hold file names (strings)");
      names.push_back(element.as_string()->get());
    }
  } else {
    throw HostError(where(include.source(), path) + ": expected 'include' to be a file name or an array of them");
  }
  return names;
}

// `scale = "NAME"` picks [scales.NAME], merged over the manifest (tables key by key, other
// values replaced) so that one file states an experiment at several sizes. Removes both
// keys; returns whether a scale was applied.
bool apply_scale(toml::table& root, const fs::path& file) {
  const toml::node* scale = root.get("scale");
  const toml::node* scales = root.get("scales");
  if (scales != nullptr && !scales->is_table())
    throw HostError(where(scales->source(), file) + ": expected [scales.NAME] tables, one per scale");
  std::vector<std::string> names;
  if (scales != nullptr)
    for (const auto& [k, v] : *scales->as_table()) {
      if (!v.is_table())
        throw HostError(where(v.source(), file) + ": expected scales." + std::string(k.str()) +
                        " to be a table of manifest keys, e.g. [scales." + std::string(k.str()) +
                        "] experiment.steps = 100");
      names.emplace_back(k.str());
    }
  std::optional<toml::table> chosen;
  if (scale != nullptr) {
    const std::string name = manifest_value<std::string>(*scale, file, "scale", "the name of a [scales.NAME] table");
    const toml::table* table = scales ? (*scales->as_table())[name].as_table() : nullptr;
    if (table == nullptr)
      throw HostError(where(scale->source(), file) + ": scale '" + name + "' has no [scales." + name + "] table" +
                      did_you_mean(name, names) + (names.empty() ? "" : "; the scales are " + join_names(names)));
    chosen = *table;
  }
  root.erase("scale");
  root.erase("scales");
  if (!chosen) return false;
  deep_merge(root, std::move(*chosen));
  return true;
}

}  // namespace

void deep_merge(toml::table& into, toml::table&& from) {
  for (auto&& [key, node] : from) {
    toml::node* existing = into.get(key.str());
    if (existing && existing->is_table() && node.is_table()) {
      deep_merge(*existing->as_table(), std::move(*node.as_table()));
    } else {
      into.insert_or_assign(key, std::move(node));
    }
  }
}

// Reads `file` with its includes merged under it (included files first, in order; this file
// wins). Nodes are moved, never copied, so they keep their file, line and column.
toml::table read_with_includes(const fs::path& file, std::vector<fs::path>& stack, std::vector<fs::path>& read) {
  const fs::path path = fs::absolute(file).lexically_normal();
  if (std::find(stack.begin(), stack.end(), path) != stack.end()) {
    std::string chain;
    for (const auto& p : stack) chain += p.string() + " -> ";
    throw HostError("include cycle: " + chain + path.string() + " (remove one of these includes)");
  }
  std::error_code status;  // a name the file system refuses (too long, say) is an error of the manifest's
  if (!fs::is_regular_file(path, status))
    throw HostError(path.string() + ": " + (status ? "cannot be read: " + status.message() : "no such manifest") +
                    (stack.empty() ? std::string() : " (included from " + stack.back().string() + ")"));
  toml::table document;
  try {
    document = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw HostError(where(e.source(), path) + ": " + std::string(e.description()));
  }
  read.push_back(path);
  toml::table merged;
  if (const toml::node* include = document.get("include")) {
    const std::vector<std::string> names = include_names(*include, path);
    stack.push_back(path);
    for (const auto& name : names) {
      fs::path included = name;
      if (included.is_relative()) included = path.parent_path() / included;
      deep_merge(merged, read_with_includes(included, stack, read));
    }
    stack.pop_back();
    document.erase("include");
  }
  deep_merge(merged, std::move(document));
  return merged;
}

toml::table read_manifest(const fs::path& file, const std::vector<std::string>& overrides,
                          std::vector<fs::path>& read) {
  std::vector<fs::path> stack;
  toml::table root = read_with_includes(file, stack, read);
  for (const auto& o : overrides) apply_override(root, o);
  if (apply_scale(root, file)) {
    for (const auto& o : overrides) apply_override(root, o);  // the command line wins over the scale
    root.erase("scale");
    root.erase("scales");
  }
  return root;
}

}  // namespace manifest
}  // namespace genlab
