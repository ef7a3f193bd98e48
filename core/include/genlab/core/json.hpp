// JSON output for --json flags, through TOML++'s JSON formatter (no extra dependency).
#pragma once

#include <string>
#include <toml++/toml.h>

namespace genlab {

inline std::string to_json(const toml::table& table) {
  std::ostringstream out;
  out << toml::json_formatter(table);
  return out.str();
}

}  // namespace genlab
