// Positions and values as the manifest's error messages write them.
#include <cstdio>
#include <sstream>

#include "genlab/core/discovery.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace fs = std::filesystem;

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& s : names) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& known) {
  auto close = close_matches(word, known);
  return close.empty() ? std::string() : " (did you mean '" + close.front() + "'?)";
}

std::string manifest_position(const toml::source_region& region, const fs::path& fallback) {
  // A command-line override has no position (or that of its own one-line parse, no file).
  if (region.begin.line == 0 || !region.path) return "--set";
  const std::string file = region.path ? *region.path : fallback.string();
  return file + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
}

namespace manifest {

std::string where(const toml::source_region& region, const fs::path& fallback) {
  return manifest_position(region, fallback);
}

const char* type_name(genlab_param_type t) {
  switch (t) {
    case GENLAB_PARAM_INT: return "an integer";
    case GENLAB_PARAM_DOUBLE: return "a number";
    case GENLAB_PARAM_BOOL: return "a boolean";
    case GENLAB_PARAM_STRING: return "a string";
  }
  return "a value";
}

bool has_type(const toml::node& node, genlab_param_type t) {
  switch (t) {
    case GENLAB_PARAM_INT: return node.is_integer();
    case GENLAB_PARAM_DOUBLE: return node.is_number();
    case GENLAB_PARAM_BOOL: return node.is_boolean();
    case GENLAB_PARAM_STRING: return node.is_string();
  }
  return false;
}

// `text` for a message: control characters escaped, at most 60 characters.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= 60) return out + "...";
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char code[8];
      std::snprintf(code, sizeof code, "\\x%02x", u);
      out += code;
    } else {
      out += c;
    }
  }
  return out;
}

// A value as it appears in run names and plans: 0.1, 32, "x" -> x.
std::string short_text(const toml::node& node) {
  std::ostringstream out;
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* f = node.as_floating_point()) {
    out << f->get();
    return out.str();
  }
  node.visit([&](const auto& v) { out << v; });
  return out.str();
}

std::string short_number(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace manifest
}  // namespace genlab
