// genlab::sdk::Params: one declaration per parameter gives both the description (name,
// type, default as TOML, doc) and a filled, checked options struct.
#include "catch.hpp"

#include <genlab/sdk/plugin.hpp>

#include <toml++/toml.h>

#include "genlab/core/host_services.hpp"
#include "torch_catch.hpp"

using genlab::sdk::Params;

namespace {

struct Net {
  int64_t width = 64;
};
struct Options {
  int64_t layers = 3;
  double lr = 1e-3;
  double tiny = 1e-10;
  double one = 1.0;
  bool bias = true;
  std::string kind = "mlp";
  std::string prompt = "say \"hi\"\n";
  Net net;
};

const auto kParams = Params<Options>()
                         .add("layers", &Options::layers, "hidden layers")
                         .positive()
                         .add("lr", &Options::lr, "step size")
                         .between(0, 1, Params<Options>::Ends::upper_open)
                         .add("tiny", &Options::tiny, "a small number")
                         .non_negative()
                         .add("one", &Options::one, "a whole double")
                         .add("bias", &Options::bias, "biases in Linears")
                         .add("kind", &Options::kind, "the network")
                         .one_of({"mlp", "conv", "rnn"})
                         .add("prompt", &Options::prompt, "text to continue")
                         .add(
                             "width", [](Options& o) -> int64_t& { return o.net.width; }, "net width")
                         .check([](const Options& o) { return o.net.width % 2 == 0; }, "to be even")
                         .require([](const Options& o) { return o.layers <= o.net.width; }, "layers <= width");

// A config section served through the host, as a plugin sees it.
struct Section {
  genlab::HostServices host{genlab::HostSettings{"params", 1, 1, nullptr, {}, nullptr}};
  toml::table table;
  std::unique_ptr<genlab::ConfigHandle> handle;

  genlab::sdk::Config config() {
    handle = std::make_unique<genlab::ConfigHandle>(table);
    return genlab::sdk::Config(genlab::sdk::Host(host.api()), handle->get());
  }
};

std::string error_of(Section& s) {
  try {
    kParams.read(s.config());
  } catch (const genlab::sdk::Error& e) {
    CHECK(e.code() == GENLAB_ERROR_INVALID_ARGUMENT);
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the description lists each parameter once, with its type and its default as TOML", "[sdk][params]") {
  const std::vector<genlab::sdk::Param> params = kParams.describe();
  REQUIRE(params.size() == 8);
  CHECK(params[0].name == "layers");
  CHECK(params[0].type == GENLAB_PARAM_INT);
  CHECK(params[0].default_value == "3");
  CHECK(params[0].doc == "hidden layers");
  CHECK(params[1].type == GENLAB_PARAM_DOUBLE);
  CHECK(params[1].default_value == "0.001");
  CHECK(params[2].default_value == "1e-10");
  CHECK(params[3].default_value == "1.0");
  CHECK(params[4].type == GENLAB_PARAM_BOOL);
  CHECK(params[4].default_value == "true");
  CHECK(params[5].type == GENLAB_PARAM_STRING);
  CHECK(params[5].default_value == "\"mlp\"");
  CHECK(params[6].default_value == R"("say \"hi\"\n")");
  CHECK(params[7].name == "width");
  CHECK(params[7].default_value == "64");
}

TEST_CASE("every default reads back through TOML as the member's value", "[sdk][params]") {
  const Options defaults;
  std::string document;
  for (const auto& p : kParams.describe()) document += p.name + " = " + p.default_value + "\n";
  const toml::table table = toml::parse(document);
  CHECK(table["layers"].value<int64_t>() == defaults.layers);
  CHECK(table["lr"].value<double>() == defaults.lr);
  CHECK(table["tiny"].value<double>() == defaults.tiny);
  CHECK(table["one"].is_floating_point());
  CHECK(table["bias"].value<bool>() == defaults.bias);
  CHECK(table["kind"].value<std::string>() == defaults.kind);
  CHECK(table["prompt"].value<std::string>() == defaults.prompt);
  CHECK(table["width"].value<int64_t>() == defaults.net.width);
}

TEST_CASE("read fills the options from the section and keeps the defaults of the rest", "[sdk][params]") {
  Section s;
  SECTION("an empty section gives the defaults") {
    const Options o = kParams.read(s.config());
    CHECK(o.layers == 3);
    CHECK(o.kind == "mlp");
    CHECK(o.net.width == 64);
  }
  SECTION("given values replace them, nested members included") {
    s.table.insert("layers", 5);
    s.table.insert("lr", 0.5);
    s.table.insert("bias", false);
    s.table.insert("kind", "conv");
    s.table.insert("width", 128);
    const Options o = kParams.read(s.config());
    CHECK(o.layers == 5);
    CHECK(o.lr == 0.5);
    CHECK_FALSE(o.bias);
    CHECK(o.kind == "conv");
    CHECK(o.net.width == 128);
  }
  SECTION("an integer is a double's value too") {
    s.table.insert("one", 2);
    CHECK(kParams.read(s.config()).one == 2.0);
  }
  SECTION("a start struct gives run-time defaults") {
    Options start;
    start.layers = 7;
    CHECK(kParams.read(s.config(), start).layers == 7);
  }
  SECTION("has() tells a given key from a default") {
    s.table.insert("kind", "conv");
    const genlab::sdk::Config config = s.config();
    CHECK(config.has("kind"));
    CHECK_FALSE(config.has("layers"));
  }
}

TEST_CASE("each check names the parameter, what was expected and the value given", "[sdk][params]") {
  Section s;
  SECTION("positive") {
    s.table.insert("layers", -3);
    CHECK(error_of(s) == "expected layers > 0, got -3");
  }
  SECTION("between, with an open upper end") {
    s.table.insert("lr", 1.0);
    CHECK(error_of(s) == "expected 0 <= lr < 1, got 1.0");
  }
  SECTION("non_negative") {
    s.table.insert("tiny", -0.5);
    CHECK(error_of(s) == "expected tiny >= 0, got -0.5");
  }
  SECTION("one_of") {
    s.table.insert("kind", "cnn");
    CHECK(error_of(s) == R"(expected kind "mlp", "conv" or "rnn", got "cnn")");
  }
  SECTION("a custom check") {
    s.table.insert("width", 63);
    CHECK(error_of(s) == "expected width to be even, got 63");
  }
  SECTION("a relation between parameters") {
    s.table.insert("layers", 100);
    CHECK(error_of(s) == "expected layers <= width");
  }
  SECTION("a value of another type") {
    s.table.insert("layers", "three");
    CHECK(error_of(s) == "expected an integer for key 'layers'");
  }
}

TEST_CASE("a relation can say the values it saw", "[sdk][params]") {
  const auto params =
      Params<Options>()
          .add("layers", &Options::layers, "hidden layers")
          .require([](const Options& o) { return o.layers < 3; },
                   [](const Options& o) { return "expected layers < 3, got " + std::to_string(o.layers); });
  Section s;
  CHECK_THROWS_WITH(params.read(s.config()), "expected layers < 3, got 3");
}

TEST_CASE("between says which of its ends are open", "[sdk][params]") {
  using Ends = Params<Options>::Ends;
  Section s;
  s.table.insert("lr", 0.0);
  const auto check = [&](Ends ends) {
    try {
      Params<Options>().add("lr", &Options::lr, "step size").between(0, 1, ends).read(s.config());
    } catch (const genlab::sdk::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(check(Ends::closed) == "(no error)");
  CHECK(check(Ends::upper_open) == "(no error)");
  CHECK(check(Ends::lower_open) == "expected 0 < lr <= 1, got 0.0");
  CHECK(check(Ends::open) == "expected 0 < lr < 1, got 0.0");
}
