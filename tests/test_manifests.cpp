// plugin.toml, discovery, experiment manifests and the sequential runner: bad input gets
// an error naming file:line:column and what was expected; good input runs.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "genlab/core/discovery.hpp"
#include "genlab/core/error.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "support.hpp"

using namespace genlab;
using genlab::test::TempDir;
using genlab::test::test_plugin;
using Catch::Matchers::Contains;

namespace {

const char* kGoodToml = R"(name = "mine"
kind = "model"
version = "0.1.0"
abi_version = "1.0"
family = "vae"
modalities = ["image"]
library = "libgenlab_mine.so"
)";

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const HostError& e) {
    return e.what();
  }
  FAIL("no error was raised");
  return {};
}

std::string toml_error(const std::string& text) {
  TempDir dir;
  dir.write("p/plugin.toml", text);
  return error_of([&] { read_plugin_manifest(dir.path() / "p"); });
}

// A manifest in a temp folder that can also see the test plugins.
struct ManifestFile {
  TempDir dir;
  std::filesystem::path path;
  explicit ManifestFile(const std::string& body) {
    path = dir.write("m.toml", "[experiment]\nplugin_paths = [\"" GENLAB_TEST_PLUGIN_DIR "\"]\nworkspace = \"" +
                                   (dir.path() / "ws").string() + "\"\n" + body);
  }
};

const char* kTinyExperiment = R"(steps = 30
batch_size = 32
eval_samples = 64
seeds = [3]

[datasets.ring]
plugin = "example-toy2d"
train_size = 256
test_size = 64

[models.gmm]
plugin = "example-gmm"
components = 4

[metrics.mmd]
plugin = "example-mmd"
)";

}  // namespace

TEST_CASE("a valid plugin.toml is read with every field", "[plugin.toml]") {
  TempDir dir;
  dir.write("p/plugin.toml", kGoodToml);
  const PluginManifest m = read_plugin_manifest(dir.path() / "p");
  CHECK(m.name == "mine");
  CHECK(m.kind == GENLAB_PLUGIN_KIND_MODEL);
  CHECK(m.abi_major == 1);
  CHECK(m.abi_minor == 0);
  CHECK(m.modalities == std::vector<std::string>{"image"});
  CHECK(m.library == dir.path() / "p" / "libgenlab_mine.so");
}

TEST_CASE("plugin.toml errors name the file, line and column, and what was expected", "[plugin.toml]") {
  SECTION("a kind that does not exist") {
    std::string text = kGoodToml;
    text.replace(text.find("\"model\""), 7, "\"modle\"");
    CHECK_THAT(toml_error(text), Contains("plugin.toml:2:8") && Contains("expected 'kind' to be model, dataset") &&
                                     Contains("got 'modle'"));
  }
  SECTION("a missing required key") {
    std::string text = kGoodToml;
    text.erase(text.find("library"));
    CHECK_THAT(toml_error(text), Contains("missing required key 'library'"));
  }
  SECTION("an ABI version that is not MAJOR.MINOR") {
    std::string text = kGoodToml;
    text.replace(text.find("\"1.0\""), 5, "\"one\"");
    CHECK_THAT(toml_error(text), Contains(":4:") && Contains("expected 'abi_version' as \"MAJOR.MINOR\""));
  }
  SECTION("an unknown key") {
    CHECK_THAT(toml_error(std::string(kGoodToml) + "colour = \"red\"\n"), Contains(":8:1") && Contains("unknown key 'colour'"));
  }
  SECTION("a library path that leaves the folder") {
    std::string text = kGoodToml;
    text.replace(text.find("\"libgenlab_mine.so\""), 19, "\"../evil.so\"");
    CHECK_THAT(toml_error(text), Contains("expected 'library' to be a file name in the plugin folder"));
  }
  SECTION("TOML that does not parse") {
    CHECK_THAT(toml_error("name = \"x\nkind = 3\n"), Contains("plugin.toml:1:"));
  }
}

TEST_CASE("discovery finds plugin folders under each root, first one wins on a clash", "[discovery]") {
  const Discovery found = discover_plugins({test_plugin(""), genlab::test::builtin_plugin("")});
  std::vector<std::string> names;
  for (const auto& p : found.plugins) names.push_back(p.name);
  CHECK(std::find(names.begin(), names.end(), "faulty-none") != names.end());
  CHECK(std::find(names.begin(), names.end(), "example-gmm") != names.end());

  TempDir dir;
  std::filesystem::create_directories(dir.path() / "copy");
  std::filesystem::copy(test_plugin("faulty-none"), dir.path() / "copy" / "faulty-none");
  const Discovery twice = discover_plugins({test_plugin(""), dir.path() / "copy"});
  CHECK(std::count_if(twice.plugins.begin(), twice.plugins.end(),
                      [](const PluginManifest& p) { return p.name == "faulty-none"; }) == 1);
  bool shadow_reported = false;
  for (const auto& problem : twice.problems) shadow_reported |= problem.find("is shadowed by") != std::string::npos;
  CHECK(shadow_reported);
}

TEST_CASE("discovery reports a plugin folder whose library is missing and skips it", "[discovery]") {
  TempDir dir;
  dir.write("mine/plugin.toml", kGoodToml);
  const Discovery found = discover_plugins({dir.path()});
  CHECK(found.plugins.empty());
  REQUIRE(found.problems.size() == 1);
  CHECK_THAT(found.problems[0], Contains("libgenlab_mine.so is missing"));
}

TEST_CASE("GENLAB_PLUGIN_PATH adds roots before the built-in directory", "[discovery]") {
  setenv("GENLAB_PLUGIN_PATH", "/nowhere:" GENLAB_TEST_PLUGIN_DIR, 1);
  const auto roots = plugin_search_path({"/from-manifest"});
  unsetenv("GENLAB_PLUGIN_PATH");
  REQUIRE(roots.size() == 4);
  CHECK(roots[0] == "/from-manifest");
  CHECK(roots[1] == "/nowhere");
  CHECK(roots[2] == GENLAB_TEST_PLUGIN_DIR);
  CHECK(roots[3] == builtin_plugin_dir());
}

TEST_CASE("a misspelt plugin name gets a did-you-mean", "[discovery]") {
  const Discovery found = discover_plugins({genlab::test::builtin_plugin("")});
  CHECK_THAT(error_of([&] { find_plugin(found, "example-gnm"); }), Contains("did you mean 'example-gmm'"));
}

TEST_CASE("a valid manifest resolves to models x datasets x seeds runs", "[manifest]") {
  ManifestFile m(std::string("seeds = [1, 2]\n") + R"(
[datasets.ring]
plugin = "example-toy2d"
[models.a]
plugin = "example-gmm"
[models.b]
plugin = "example-gmm"
components = 2
)");
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.runs.size() == 4);
  CHECK(e.runs[0].id == "a-ring-s1");
  CHECK(e.runs[3].id == "b-ring-s2");
}

TEST_CASE("manifest errors name file:line:column and the fix", "[manifest]") {
  SECTION("an unknown key in a plugin's section, with a did-you-mean") {
    ManifestFile m("[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\ncomponets = 3\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("m.toml:8:1") && Contains("unknown key 'models.gmm.componets'") &&
                   Contains("did you mean 'components'"));
  }
  SECTION("a value of the wrong type") {
    ManifestFile m("[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\nlr = \"fast\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("m.toml:8:6") && Contains("expected 'models.gmm.lr' to be a number"));
  }
  SECTION("an unknown experiment key") {
    ManifestFile m("step = 3\n[datasets.ring]\nplugin = \"example-toy2d\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("m.toml:4:1") && Contains("unknown key 'experiment.step'") && Contains("did you mean 'steps'"));
  }
  SECTION("a plugin that does not exist") {
    ManifestFile m("[datasets.ring]\nplugin = \"example-toy3d\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("m.toml:5:10") && Contains("no plugin named 'example-toy3d'") &&
                   Contains("did you mean 'example-toy2d'"));
  }
  SECTION("a plugin of the wrong kind") {
    ManifestFile m("[datasets.ring]\nplugin = \"example-gmm\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }), Contains("is a model, but [datasets] needs a dataset"));
  }
  SECTION("a model given a dataset of another modality") {
    ManifestFile m("[datasets.text]\nplugin = \"faulty-tokens\"\n[models.gmm]\nplugin = \"example-gmm\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("model 'gmm'") && Contains("cannot train on dataset 'text' of modality 'tokens'"));
  }
  SECTION("a step budget that is not positive") {
    ManifestFile m("steps = 0\n[datasets.ring]\nplugin = \"example-toy2d\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }), Contains("m.toml:4:9") && Contains("expected experiment.steps > 0, got 0"));
  }
  SECTION("TOML that does not parse") {
    ManifestFile m("steps = = 3\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }), Contains("m.toml:4:"));
  }
}

TEST_CASE("command-line overrides keep their TOML types", "[manifest]") {
  ManifestFile m(kTinyExperiment);
  const Experiment e = load_experiment(m.path, {"models.gmm.components=6", "experiment.steps=7", "models.gmm.lr=0.5"});
  CHECK(e.settings.steps == 7);
  CHECK(e.models[0].params["components"].value<int64_t>() == 6);
  CHECK(e.models[0].params["lr"].value<double>() == 0.5);
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"models.gmm.components=\"six\""}); }),
             Contains("expected 'models.gmm.components' to be an integer"));
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"no-equals-sign"}); }), Contains("expected KEY=VALUE"));
}

TEST_CASE("the runner trains, evaluates and writes results for every run", "[runner]") {
  ManifestFile m(kTinyExperiment);
  const Experiment e = load_experiment(m.path);
  const auto results = run_experiment(e, true);
  REQUIRE(results.size() == 1);
  REQUIRE(results[0].ok);
  CHECK(std::filesystem::exists(results[0].folder / "results.json"));
  CHECK(std::filesystem::exists(results[0].folder / "losses.jsonl"));
  bool has_mmd = false;
  for (const auto& [section, s] : results[0].metrics) has_mmd |= section == "mmd" && s.name == "mmd2";
  CHECK(has_mmd);
}

TEST_CASE("a CPU run repeats bit for bit with the same seed", "[runner]") {
  ManifestFile m(kTinyExperiment);
  const auto first = run_experiment(load_experiment(m.path), true);
  const auto second = run_experiment(load_experiment(m.path), true);
  REQUIRE(first[0].ok);
  REQUIRE(second[0].ok);
  CHECK(first[0].final_losses[0].value == second[0].final_losses[0].value);
  CHECK(first[0].metrics[0].second.value == second[0].metrics[0].second.value);
}

TEST_CASE("a failing run is recorded with its reason and the other runs go on", "[runner]") {
  ManifestFile m(R"(steps = 5
batch_size = 2
eval_samples = 4
[datasets.broken]
plugin = "faulty-get-batch-error"
[datasets.fine]
plugin = "faulty-none"
[models.gmm]
plugin = "example-gmm"
components = 1
)");
  const auto results = run_experiment(load_experiment(m.path), true);
  REQUIRE(results.size() == 2);
  CHECK_FALSE(results[0].ok);
  CHECK_THAT(results[0].error, Contains("disk on fire"));
  CHECK(results[1].ok);
}
