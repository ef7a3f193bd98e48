// genlab::parse_json: nlohmann-json, with what a loose reader would guess at refused.
#include "catch.hpp"

#include "genlab/util/error.hpp"
#include "genlab/util/json.hpp"
#include "support.hpp"

using genlab::test::Contains;

namespace {

std::string refusal(const std::string& text) {
  try {
    genlab::parse_json(text, "f.json");
  } catch (const genlab::HostError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST_CASE("a JSON document keeps its members in file order", "[json]") {
  const genlab::Json v = genlab::parse_json(R"({"step": 3, "loss": 0.5, "kl": 1e-3, "name": "a\u00e9"})", "f.json");
  std::vector<std::string> keys;
  for (const auto& [key, value] : v.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"step", "loss", "kl", "name"});
  CHECK(v.at("step").is_number_integer());
  CHECK(v.at("kl").get<double>() == 1e-3);
  CHECK(v.at("name").get<std::string>() == "a\xc3\xa9");
}

TEST_CASE("the JSON reader refuses what a loose reader would guess at", "[json]") {
  SECTION("bytes after the value, with the byte") { CHECK_THAT(refusal("{} x"), Contains("f.json: byte 4: ")); }
  SECTION("a duplicate key, nested too") {
    CHECK(refusal(R"({"a": 1, "a": 2})") == "f.json: duplicate key 'a'");
    CHECK(refusal(R"({"a": {"b": 1, "c": 2, "b": 3}})") == "f.json: duplicate key 'b'");
  }
  SECTION("the same key in sibling objects is no duplicate") {
    CHECK_NOTHROW(genlab::parse_json(R"([{"a": 1}, {"a": 2}])", "f.json"));
  }
  SECTION("nesting deeper than 64") {
    CHECK_NOTHROW(genlab::parse_json(nested(64), "f.json"));
    CHECK(refusal(nested(65)) == "f.json: nested deeper than 64");
    CHECK(refusal(nested(100000)) == "f.json: nested deeper than 64");
  }
  SECTION("a number too large for a double") { CHECK_THAT(refusal("[1e999]"), Contains("f.json: ")); }
  SECTION("bytes that are not UTF-8 in a string") { CHECK_THAT(refusal("[\"\xff\"]"), Contains("f.json: byte")); }
  SECTION("a bad escape") { CHECK_THAT(refusal(R"(["\x"])"), Contains("f.json: byte")); }
  SECTION("comments") { CHECK_THAT(refusal("[1] // two"), Contains("f.json: byte")); }
}

TEST_CASE("a quoted string reads back as itself", "[json]") {
  const std::string text = "say \"hi\"\n\t\\ \x01 \xc3\xa9";
  const std::string quoted = genlab::json_quote(text);
  CHECK(quoted.front() == '"');
  CHECK(quoted.find('\n') == std::string::npos);
  CHECK(genlab::parse_json(quoted, "q").get<std::string>() == text);
  CHECK(genlab::json_quote("\xff") == "\"\xef\xbf\xbd\"");  // not UTF-8: U+FFFD
}
