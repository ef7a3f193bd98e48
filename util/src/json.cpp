#include "genlab/util/json.hpp"

#include <set>
#include <vector>

#include "genlab/util/error.hpp"

namespace genlab {

Json parse_json(const std::string& text, const std::string& what) {
  constexpr int kMaxDepth = 64;
  // nlohmann reports each object's keys to the callback as it reads them; one key set per
  // open object finds a duplicate, which nlohmann would otherwise keep silently (the last).
  std::vector<std::set<std::string>> open_objects;
  std::string refusal;
  const Json::parser_callback_t check = [&](int depth, nlohmann::json::parse_event_t event, Json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (!refusal.empty()) return false;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxDepth) {
      refusal = "nested deeper than " + std::to_string(kMaxDepth);
    } else if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty() &&
               !open_objects.back().insert(parsed.get<std::string>()).second) {
      refusal = "duplicate key '" + parsed.get<std::string>() + "'";
    }
    return refusal.empty();
  };
  Json document;
  try {
    document = Json::parse(text, check, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 5: ...";
    // a number too large for a double (1e999) is an out_of_range error, with no byte.
    std::string reason = e.what();
    if (const size_t at = reason.find("] "); at != std::string::npos) reason.erase(0, at + 2);
    const auto* parse_error = dynamic_cast<const nlohmann::json::parse_error*>(&e);
    throw HostError(what + (parse_error ? ": byte " + std::to_string(parse_error->byte) : std::string()) + ": " +
                    reason);
  }
  if (!refusal.empty()) throw HostError(what + ": " + refusal);
  return document;
}

std::string json_quote(const std::string& text) {
  return Json(text).dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

const char* json_type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::discarded: return "nothing";
    case Json::value_t::binary: return "binary data";
    default: return "a number";
  }
}

}  // namespace genlab
