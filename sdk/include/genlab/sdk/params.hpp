// genlab/sdk/params.hpp — declare each parameter of a plugin once.
//
// A plugin keeps its options in a plain struct whose members hold the defaults, and lists
// each member once in a Params<Options>: its manifest key, the member, a one-line doc and
// the checks it must pass. From that one list come both what `describe` says (Info::params
// or Info::generate_params: name, type, default as TOML, doc) and a filled, checked struct:
//
//   struct VaeOptions {
//     int64_t latent = 20;
//     std::string likelihood = "bernoulli";
//   };
//   const auto kVaeParams = genlab::sdk::Params<VaeOptions>()
//       .add("latent", &VaeOptions::latent, "latent size Z").positive()
//       .add("likelihood", &VaeOptions::likelihood, "...").one_of({"bernoulli", "gaussian"});
//
//   info():       i.params = kVaeParams.describe();
//   constructor:  const VaeOptions o = kVaeParams.read(c.config);
//
// A member of a nested struct is named by an accessor, `[](Options& o) -> int64_t& { return
// o.net.width; }`. Members are int64_t, double, bool or std::string. A check that relates
// two members goes in require(); a default that depends on the data or on another value
// stays in the plugin, after read(), under `if (!config.has(key))`.
// Included by genlab/sdk/plugin.hpp; needs no LibTorch of its own.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "genlab/sdk/plugin.hpp"

namespace genlab::sdk {

namespace detail {

template <class T>
constexpr genlab_param_type param_type() {
  if constexpr (std::is_same_v<T, bool>) return GENLAB_PARAM_BOOL;
  else if constexpr (std::is_same_v<T, int64_t>) return GENLAB_PARAM_INT;
  else if constexpr (std::is_same_v<T, double>) return GENLAB_PARAM_DOUBLE;
  else if constexpr (std::is_same_v<T, std::string>) return GENLAB_PARAM_STRING;
  else static_assert(sizeof(T) == 0, "a parameter is int64_t, double, bool or std::string");
}

// A value as TOML text, the form of genlab_param_spec::default_value.
inline std::string toml_text(bool value) { return value ? "true" : "false"; }
inline std::string toml_text(int64_t value) { return std::to_string(value); }
inline std::string toml_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // The shortest text that reads back as the same double: fixed notation (0.0002, 1000.0)
  // unless the number is tiny or the text long (1e-10).
  char buffer[64];
  auto fixed = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  std::string text = fixed.ec == std::errc() ? std::string(buffer, fixed.ptr) : std::string();
  if (text.empty() || text.size() > 16 || (value != 0 && std::fabs(value) < 1e-4)) {
    auto scientific = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    return std::string(buffer, scientific.ptr);
  }
  if (text.find('.') == std::string::npos) text += ".0";  // TOML: a float has a fraction or exponent
  return text;
}
inline std::string toml_text(const std::string& value) {
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escape[8];
          std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += escape;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace detail

template <class Options>
class Params {
 public:
  // The member `field` is the parameter `name`.
  template <class T>
  Params& add(const char* name, T Options::*field, const char* doc) {
    return add(
        name, [field](Options& o) -> T& { return o.*field; }, doc);
  }
  // `access(options)` returns a reference to the parameter's member (nested structs).
  template <class Access, class = std::enable_if_t<std::is_invocable_v<Access, Options&>>>
  Params& add(const char* name, Access access, const char* doc) {
    using T = std::remove_reference_t<std::invoke_result_t<Access, Options&>>;
    Entry e;
    e.param.name = name;
    e.param.type = detail::param_type<T>();
    e.param.doc = doc;
    e.read = [access, key = std::string(name)](const Config& config, Options& o) {
      T& value = access(o);
      if constexpr (std::is_same_v<T, std::string>) value = config.get(key.c_str(), value.c_str());
      else value = config.get(key.c_str(), value);
    };
    e.show = [access](const Options& o) { return detail::toml_text(access(const_cast<Options&>(o))); };
    if constexpr (std::is_arithmetic_v<T>)
      e.number = [access](const Options& o) { return static_cast<double>(access(const_cast<Options&>(o))); };
    if constexpr (std::is_same_v<T, std::string>)
      e.text = [access](const Options& o) { return access(const_cast<Options&>(o)); };
    entries_.push_back(std::move(e));
    return *this;
  }

  // Checks on the parameter added last. Each names it in its error:
  // "expected latent > 0, got -3".
  Params& positive() {
    return number_check([](double v) { return v > 0; }, " > 0");
  }
  Params& non_negative() {
    return number_check([](double v) { return v >= 0; }, " >= 0");
  }
  Params& at_least(double low) {
    return number_check([low](double v) { return v >= low; }, " >= " + shortest(low));
  }
  // lo <= value <= hi; Ends says which ends are open ("0 < rare_share < 1": Ends::open).
  enum class Ends { closed, open, lower_open, upper_open };
  Params& between(double lo, double hi, Ends ends = Ends::closed) {
    const bool lower_open = ends == Ends::open || ends == Ends::lower_open;
    const bool upper_open = ends == Ends::open || ends == Ends::upper_open;
    return number_check([lo, hi, lower_open, upper_open](
                            double v) { return (lower_open ? v > lo : v >= lo) && (upper_open ? v < hi : v <= hi); },
                        "", shortest(lo) + (lower_open ? " < " : " <= "), (upper_open ? " < " : " <= ") + shortest(hi));
  }
  Params& one_of(std::initializer_list<const char*> allowed) {
    Entry& e = last("one_of");
    GENLAB_CHECK(e.text, GENLAB_ERROR_INTERNAL, "one_of() on parameter '" + e.param.name + "', which is not a string");
    std::vector<std::string> values(allowed.begin(), allowed.end());
    std::string expected;
    for (size_t i = 0; i < values.size(); ++i)
      expected += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + detail::toml_text(values[i]);
    auto text = e.text;
    e.checks.push_back({[text, values](const Options& o) {
                          const std::string v = text(o);
                          for (const auto& allowed_value : values)
                            if (v == allowed_value) return true;
                          return false;
                        },
                        e.param.name + " " + expected});
    return *this;
  }
  // Any other check of the parameter added last; `expectation` completes "expected NAME ...".
  Params& check(std::function<bool(const Options&)> ok, const std::string& expectation) {
    Entry& e = last("check");
    e.checks.push_back({std::move(ok), e.param.name + " " + expectation});
    return *this;
  }
  // A check that relates several parameters, run after every parameter passed its own;
  // `expectation` completes "expected ...", or `say(options)` writes the whole message with
  // the values ("expected n_embd divisible by n_head, got 128 and 3").
  Params& require(std::function<bool(const Options&)> ok, const std::string& expectation) {
    return require(std::move(ok), [expectation](const Options&) { return "expected " + expectation; });
  }
  Params& require(std::function<bool(const Options&)> ok, std::function<std::string(const Options&)> say) {
    relations_.push_back({std::move(ok), std::move(say)});
    return *this;
  }

  // What describe() says: each parameter with its default from a default-built Options.
  std::vector<Param> describe() const {
    const Options defaults{};
    std::vector<Param> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) {
      Param p = e.param;
      p.default_value = e.show(defaults);
      out.push_back(std::move(p));
    }
    return out;
  }

  // Options from `config`: each parameter it holds replaces the default in `start`, then
  // every check runs. Throws Error(INVALID_ARGUMENT) naming the parameter and its value.
  Options read(const Config& config, Options start = Options{}) const {
    for (const auto& e : entries_) {
      e.read(config, start);
      for (const auto& c : e.checks)
        GENLAB_CHECK(c.ok(start), GENLAB_ERROR_INVALID_ARGUMENT,
                     "expected " + c.expectation + ", got " + e.show(start));
    }
    for (const auto& r : relations_) GENLAB_CHECK(r.ok(start), GENLAB_ERROR_INVALID_ARGUMENT, r.say(start));
    return start;
  }

 private:
  struct Check {
    std::function<bool(const Options&)> ok;
    std::string expectation;  // completes "expected ..."
  };
  struct Entry {
    Param param;  // name, type and doc; the default comes from Options{}
    std::function<void(const Config&, Options&)> read;
    std::function<std::string(const Options&)> show;  // the value as TOML text
    std::function<double(const Options&)> number;     // int64_t and double members
    std::function<std::string(const Options&)> text;  // std::string members
    std::vector<Check> checks;
  };

  static std::string shortest(double v) {
    std::string text = detail::toml_text(v);
    if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0) text.resize(text.size() - 2);
    return text;
  }
  Entry& last(const char* what) {
    GENLAB_CHECK(!entries_.empty(), GENLAB_ERROR_INTERNAL, std::string(what) + "() before any add()");
    return entries_.back();
  }
  Params& number_check(std::function<bool(double)> ok, const std::string& suffix, const std::string& prefix = "",
                       const std::string& tail = "") {
    Entry& e = last("a number check");
    GENLAB_CHECK(e.number, GENLAB_ERROR_INTERNAL,
                 "a number check on parameter '" + e.param.name + "', which is not a number");
    auto number = e.number;
    e.checks.push_back(
        {[number, ok](const Options& o) { return ok(number(o)); }, prefix + e.param.name + suffix + tail});
    return *this;
  }

  struct Relation {
    std::function<bool(const Options&)> ok;
    std::function<std::string(const Options&)> say;  // the whole message
  };

  std::vector<Entry> entries_;
  std::vector<Relation> relations_;
};

}  // namespace genlab::sdk
