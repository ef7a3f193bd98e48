#include "genlab/core/workspace.hpp"

#include <sstream>

#include "genlab/util/files.hpp"

namespace genlab {

const char* node_kind_name(NodeKind kind) {
  switch (kind) {
    case NodeKind::Prepare: return "prepare";
    case NodeKind::Train: return "train";
    case NodeKind::Evaluate: return "evaluate";
  }
  return "?";
}

std::optional<NodeKind> parse_node_kind(const std::string& name) {
  for (auto kind : {NodeKind::Prepare, NodeKind::Train, NodeKind::Evaluate})
    if (name == node_kind_name(kind)) return kind;
  return std::nullopt;
}

std::optional<toml::table> read_toml(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
  try {
    return toml::parse_file(file.string());
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

std::string toml_text(const toml::table& table) {
  // Basic strings only, escapes and all: by default toml++ writes "\n..." as '''\n...''',
  // and TOML drops a newline right after the opening ''' when reading it back.
  std::ostringstream out;
  out << toml::toml_formatter(table, toml::toml_formatter::default_flags &
                                         ~toml::format_flags::allow_multi_line_strings &
                                         ~toml::format_flags::allow_literal_strings);
  return out.str();
}

void write_toml(const std::filesystem::path& file, const toml::table& table, Durability durability) {
  write_file_atomic(file, toml_text(table) + "\n", durability);
}

bool write_toml_if_changed(const std::filesystem::path& file, const toml::table& table) {
  const std::string text = toml_text(table) + "\n";
  std::error_code ec;
  if (std::filesystem::is_regular_file(file, ec) && std::filesystem::file_size(file, ec) == text.size() &&
      read_file(file) == text)
    return false;
  write_file_atomic(file, text, Durability::Durable);
  return true;
}

}  // namespace genlab
