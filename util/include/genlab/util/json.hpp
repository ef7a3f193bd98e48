// Strict JSON on nlohmann-json, for files from outside (safetensors headers, NeRF
// transforms, results.json) and the JSON genlab writes. The reader refuses what a loose one
// would guess at: trailing bytes, duplicate keys (nlohmann keeps the last), nesting deeper
// than 64, bad escapes, invalid UTF-8.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace genlab {

// Objects keep their members in file order.
using Json = nlohmann::ordered_json;

// Parses `text` whole. Throws HostError("<what>: byte N: <reason>"), or for a duplicate key
// or deep nesting "<what>: <reason>".
Json parse_json(const std::string& text, const std::string& what);

// `text` as a JSON string literal, quotes included; bytes that are not UTF-8 become U+FFFD.
std::string json_quote(const std::string& text);

// "an object", "a number"...: what an error says a value was.
const char* json_type_name(const Json& value);

}  // namespace genlab
