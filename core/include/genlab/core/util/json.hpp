// A small strict JSON reader for headers of outside files (safetensors). It refuses what
// a loose reader would guess at: trailing bytes, duplicate keys, depth over 64, bad escapes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace genlab {

struct JsonValue {
  enum class Type { Null, Bool, Number, String, Array, Object } type = Type::Null;
  bool boolean = false;
  double number = 0;
  bool is_integer = false;  // the number was written without fraction or exponent
  int64_t integer = 0;      // exact value when is_integer (and it fits)
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;  // in file order

  const JsonValue* find(const std::string& key) const;
};

// Parses `text` whole. Throws HostError("<what>: byte N: <reason>").
JsonValue parse_json(const std::string& text, const std::string& what);

// `text` as a JSON string literal, quotes included.
std::string json_quote(const std::string& text);

}  // namespace genlab
