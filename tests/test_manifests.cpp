// plugin.toml, discovery, experiment manifests and the sequential runner: bad input gets
// an error naming file:line:column and what was expected; good input runs.
#include "catch.hpp"
#include <cstdlib>

#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "support.hpp"

using namespace genlab;
using genlab::test::Contains;
using genlab::test::TempDir;
using genlab::test::test_plugin;

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
seeds = [3]

[datasets.ring]
plugin = "example-toy2d"
train_size = 256
test_size = 64

[metrics.mmd]
plugin = "example-mmd"

[models.gmm]
plugin = "example-gmm"
components = 4
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
    CHECK_THAT(toml_error(std::string(kGoodToml) + "colour = \"red\"\n"),
               Contains(":8:1") && Contains("unknown key 'colour'"));
  }
  SECTION("a library path that leaves the folder") {
    std::string text = kGoodToml;
    text.replace(text.find("\"libgenlab_mine.so\""), 19, "\"../evil.so\"");
    CHECK_THAT(toml_error(text), Contains("expected 'library' to be a file name in the plugin folder"));
  }
  SECTION("TOML that does not parse") { CHECK_THAT(toml_error("name = \"x\nkind = 3\n"), Contains("plugin.toml:1:")); }
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
  CHECK(e.runs[0].name == "a-ring-s1");
  CHECK(e.runs[3].name == "b-ring-s2");
  CHECK(e.runs[0].id.size() == 64);
  CHECK(e.runs[0].id != e.runs[2].id);  // another model config, another identity
}

TEST_CASE("manifest errors name file:line:column and the fix", "[manifest]") {
  SECTION("an unknown key in a plugin's section, with a did-you-mean") {
    ManifestFile m(
        "[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\ncomponets = 3\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }), Contains("m.toml:8:1") &&
                                                               Contains("unknown key 'models.gmm.componets'") &&
                                                               Contains("did you mean 'components'"));
  }
  SECTION("a value of the wrong type") {
    ManifestFile m(
        "[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\nlr = \"fast\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("m.toml:8:6") && Contains("expected 'models.gmm.lr' to be a number"));
  }
  SECTION("an unknown experiment key") {
    ManifestFile m("step = 3\n[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("m.toml:4:1") && Contains("unknown key 'experiment.step'") && Contains("did you mean 'steps'"));
  }
  SECTION("a plugin that does not exist") {
    ManifestFile m("[datasets.ring]\nplugin = \"example-toy3d\"\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }), Contains("m.toml:5:10") &&
                                                               Contains("no plugin named 'example-toy3d'") &&
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
    CHECK_THAT(error_of([&] { load_experiment(m.path); }),
               Contains("m.toml:4:9") && Contains("expected experiment.steps in [1, 1099511627776], got 0"));
  }
  SECTION("TOML that does not parse") {
    ManifestFile m("steps = = 3\n");
    CHECK_THAT(error_of([&] { load_experiment(m.path); }), Contains("m.toml:4:"));
  }
}

TEST_CASE("command-line overrides keep their TOML types", "[manifest]") {
  ManifestFile m(kTinyExperiment);
  const Experiment e = load_experiment(m.path, {"models.gmm.components=6", "experiment.steps=7", "models.gmm.lr=0.5"});
  CHECK(e.runs[0].settings.budget.steps == 7);
  CHECK(e.runs[0].model.params["components"].value<int64_t>() == 6);
  CHECK(e.runs[0].model.params["lr"].value<double>() == 0.5);
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"models.gmm.components=\"six\""}); }),
             Contains("expected 'models.gmm.components' to be an integer"));
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"no-equals-sign"}); }), Contains("expected KEY=VALUE"));
}

TEST_CASE("a run's identity changes with what changes its result, and only with that", "[manifest][identity]") {
  ManifestFile m(kTinyExperiment);
  const auto base = load_experiment(m.path).runs[0];
  CHECK(load_experiment(m.path).runs[0].id == base.id);
  CHECK(load_experiment(m.path, {"models.gmm.components=5"}).runs[0].id != base.id);
  CHECK(load_experiment(m.path, {"experiment.seeds=[4]"}).runs[0].id != base.id);
  CHECK(load_experiment(m.path, {"experiment.steps=31"}).runs[0].id != base.id);
  CHECK(load_experiment(m.path, {"experiment.timeout=100"}).runs[0].id == base.id);
  CHECK(load_experiment(m.path, {"experiment.checkpoint_every=10"}).runs[0].id == base.id);
  // Metrics change the evaluation's identity, not the training's.
  const auto other_metric = load_experiment(m.path, {"metrics.mmd.bandwidth=0.5"}).runs[0];
  CHECK(other_metric.id == base.id);
  CHECK(other_metric.eval_id != base.eval_id);
}

TEST_CASE("evaluation.generate options change the evaluation's identity, other values are refused", "[manifest]") {
  // A diffusion model reads sampler and steps; the mixture beside it reads none.
  const std::string models = std::string(kTinyExperiment) + "[models.ddpm]\nplugin = \"diffusion\"\ntimesteps = 10\n";
  auto ddpm = [](const Experiment& e) {
    for (const auto& r : e.runs)
      if (r.model.name == "ddpm") return r;
    FAIL("no ddpm run");
    return e.runs[0];
  };
  ManifestFile m(models);
  const auto base = ddpm(load_experiment(m.path));
  ManifestFile with(models + "[evaluation]\ngenerate = { sampler = \"ddim\", steps = 20 }\n");
  const Experiment e = load_experiment(with.path);
  const auto run = ddpm(e);
  CHECK(run.id == base.id);
  CHECK(run.eval_id != base.eval_id);
  CHECK(run.settings.eval_generate["steps"].value<int64_t>() == 20);
  CHECK(run_from_resolved(run.resolved(), "run.toml").settings.eval_generate == run.settings.eval_generate);
  // The mixture's runs keep none of them: its evaluation is unchanged.
  for (const auto& r : e.runs)
    if (r.model.name == "gmm") CHECK(r.settings.eval_generate.empty());
  // Through the text of run.toml, strings that start with a newline survive (toml++'s
  // multi-line form would lose it).
  ManifestFile newline(models + "[evaluation]\ngenerate = { sampler = \"\\nddim\" }\n");
  const auto with_newline = ddpm(load_experiment(newline.path));
  const auto reread = run_from_resolved(toml::parse(toml_text(with_newline.resolved())), "run.toml");
  CHECK(reread.settings.eval_generate["sampler"].value<std::string>() == "\nddim");
  ManifestFile nested(models + "[evaluation]\ngenerate = { steps = [1, 2] }\n");
  CHECK_THAT(error_of([&] { load_experiment(nested.path); }),
             Contains("expected evaluation.generate.steps to be a string, number or boolean"));
  ManifestFile scalar(models + "[evaluation]\ngenerate = 5\n");
  CHECK_THAT(error_of([&] { load_experiment(scalar.path); }), Contains("expected evaluation.generate to be a table"));
}

TEST_CASE("sweeps and ranges expand into runs, named by their values", "[manifest][sweep]") {
  ManifestFile m(std::string(kTinyExperiment) +
                 "lr = {sweep = [0.1, 0.01]}\n"
                 "init_scale = {range = [1, 4, 2]}\n");
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.runs.size() == 4);  // 2 learning rates x init_scale 1, 3
  CHECK(e.runs[0].name == "gmm-ring-s3-init_scale=1-lr=0.1");
  CHECK(e.runs[3].name == "gmm-ring-s3-init_scale=3-lr=0.01");
  CHECK(e.runs[3].model.params["lr"].value<double>() == 0.01);
}

TEST_CASE("seeds take a list or a range", "[manifest][sweep]") {
  ManifestFile m(std::string("seeds = {range = [0, 3]}\n") +
                 "[datasets.ring]\nplugin = \"example-toy2d\"\n"
                 "[models.gmm]\nplugin = \"example-gmm\"\n");
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.runs.size() == 3);
  CHECK(e.runs[2].seed == 2);
}

TEST_CASE("a sweep value of the wrong type is refused at its position", "[manifest][sweep]") {
  ManifestFile m(std::string(kTinyExperiment) + "init_scale = {sweep = [1.0, \"three\"]}\n");
  CHECK_THAT(error_of([&] { load_experiment(m.path); }),
             Contains("m.toml:19:14") && Contains("expected 'models.gmm.init_scale' to be a number in every point"));
}

TEST_CASE("per-run overrides and exclusions apply to the runs they match", "[manifest]") {
  ManifestFile m(std::string("seeds = [1, 2]\n") + R"(
[datasets.ring]
plugin = "example-toy2d"
[datasets.wide]
plugin = "example-toy2d"
radius = 4.0
[models.gmm]
plugin = "example-gmm"
[[overrides]]
where = {dataset = "wide", seed = 2}
set = {"experiment.steps" = 7, "models.gmm.components" = 3}
[[exclude]]
dataset = "ring"
seed = 2
)");
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.runs.size() == 3);
  CHECK(e.runs[0].name == "gmm-ring-s1");
  CHECK(e.runs[2].name == "gmm-wide-s2");
  CHECK(e.runs[2].settings.budget.steps == 7);
  CHECK(e.runs[2].model.params["components"].value<int64_t>() == 3);
  CHECK(e.runs[1].settings.budget.steps == 100);
}

TEST_CASE("includes merge another manifest under this one, and cycles are refused", "[manifest][include]") {
  TempDir dir;
  dir.write("base.toml",
            "[experiment]\nsteps = 9\nworkspace = \"" + (dir.path() / "ws").string() +
                "\"\n[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\n");
  const auto top = dir.write("top.toml", "include = \"base.toml\"\n[models.gmm]\ncomponents = 2\n");
  const Experiment e = load_experiment(top);
  REQUIRE(e.runs.size() == 1);
  CHECK(e.runs[0].settings.budget.steps == 9);
  CHECK(e.runs[0].model.params["components"].value<int64_t>() == 2);
  CHECK(e.includes.size() == 2);

  dir.write("a.toml", "include = [\"b.toml\"]\n");
  dir.write("b.toml", "include = [\"a.toml\"]\n");
  CHECK_THAT(error_of([&] { load_experiment(dir.path() / "a.toml"); }),
             Contains("include cycle: ") && Contains("a.toml -> ") && Contains("b.toml -> "));
  // An error inside an included file names that file.
  dir.write("bad-base.toml", "[experiment]\nsteps = \"x\"\n");
  const auto uses_bad = dir.write("uses-bad.toml", "include = \"bad-base.toml\"\n");
  CHECK_THAT(error_of([&] { load_experiment(uses_bad); }), Contains("bad-base.toml:2:9"));
}

TEST_CASE("a metric that needs a capability the model lacks is refused, naming both", "[manifest]") {
  ManifestFile m(R"(
[datasets.ring]
plugin = "example-toy2d"
[models.mean]
plugin = "fault-model"
[metrics.nll]
plugin = "likelihood"
)");
  CHECK_THAT(error_of([&] { load_experiment(m.path); }),
             Contains("metric 'nll' (plugin 'likelihood') needs a likelihood (score), which model 'mean' (plugin "
                      "'fault-model') does not offer; limit the metric to the runs it serves with models = [...]"));
}

TEST_CASE("a metric limited to some models and datasets applies to those runs only", "[manifest][metrics]") {
  ManifestFile m(R"(
steps = 5
[datasets.ring]
plugin = "example-toy2d"
[models.mean]
plugin = "fault-model"
[models.gmm]
plugin = "example-gmm"
[metrics.nll]
plugin = "likelihood"
models = ["gmm"]
[metrics.mmd]
plugin = "example-mmd"
)");
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.runs.size() == 2);
  for (const auto& r : e.runs) {
    INFO(r.name);
    CHECK(r.metrics.size() == (r.model.name == "gmm" ? 2u : 1u));
    CHECK(std::any_of(r.metrics.begin(), r.metrics.end(), [](const Component& c) { return c.name == "mmd"; }));
    CHECK(std::any_of(r.metrics.begin(), r.metrics.end(), [](const Component& c) { return c.name == "nll"; }) ==
          (r.model.name == "gmm"));
  }
  // The scope names what exists, and sweeps of it are not parameters of the plugin.
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"metrics.nll.models=[\"gnn\"]"}); }),
             Contains("'metrics.nll.models' names 'gnn', which no [models.gnn] defines"));
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"metrics.nll.datasets=\"ring\""}); }),
             Contains("expected 'metrics.nll.datasets' to be a list of names"));
}

TEST_CASE("a metric for another modality is refused naming the metric, the model and the data", "[manifest][metrics]") {
  ManifestFile m(R"(
[datasets.ring]
plugin = "example-toy2d"
[models.gmm]
plugin = "example-gmm"
[metrics.psnr]
plugin = "psnr-ssim"
)");
  CHECK_THAT(error_of([&] { load_experiment(m.path); }),
             Contains("metric 'psnr' (plugin 'psnr-ssim') cannot evaluate model 'gmm' on dataset 'ring' of modality "
                      "'points' (it serves image, rays)"));
}

TEST_CASE("image metrics that read features get one feature network per dataset, shared by runs",
          "[manifest][metrics]") {
  ManifestFile m(R"(
seeds = [1, 2]
[datasets.digits]
plugin = "digits-csv"
[models.gmm]
plugin = "example-gmm"
components = 2
[models.gmm4]
plugin = "example-gmm"
components = 4
[metrics.fid]
plugin = "fid"
[features]
steps = 40
channels = 8
)");
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.runs.size() == 4);
  REQUIRE(e.feature_runs.size() == 1);
  const RunPlan& net = e.feature_runs[0];
  CHECK(net.name == "features-digits");
  CHECK(net.model.plugin_name == "classifier");
  CHECK(net.settings.budget.steps == 40);
  CHECK(net.model.params["channels"].value_or(int64_t{0}) == 8);
  CHECK(e.feature_folder(net).parent_path() == e.workspace / "features");
  for (const auto& r : e.runs) CHECK(r.features_id == net.id);
  // The network is part of the evaluation's identity, not the training's.
  const Experiment other = load_experiment(m.path, {"features.steps=50"});
  CHECK(other.runs[0].id == e.runs[0].id);
  CHECK(other.runs[0].eval_id != e.runs[0].eval_id);
  // Without it the metrics see pixels; a bad key names the plugin's parameters.
  const Experiment off = load_experiment(m.path, {"features.enabled=false"});
  CHECK(off.feature_runs.empty());
  CHECK(off.runs[0].features_id.empty());
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"features.chanels=8"}); }),
             Contains("unknown key 'features.chanels' for plugin 'classifier'") && Contains("did you mean 'channels'"));
}

TEST_CASE("overrides set a run's evaluation samples, split and generate options", "[manifest]") {
  const std::string overrides = R"(
[[overrides]]
where = {seed = 3}
set = {"evaluation.samples" = 7, "evaluation.split" = "train", "evaluation.generate" = {steps = 3}}
)";
  // The mixture's generate takes no options: `steps` is nobody's, refused where it is written.
  ManifestFile gmm_only(std::string(kTinyExperiment) + overrides);
  CHECK_THAT(error_of([&] { load_experiment(gmm_only.path); }),
             Contains("m.toml:22:") && Contains("reads the generate option 'steps'; they take no generate options"));
  // With a model that reads it, that model's runs keep it.
  ManifestFile m(std::string(kTinyExperiment) + "[models.ddpm]\nplugin = \"diffusion\"\ntimesteps = 10\n" + overrides);
  const Experiment e = load_experiment(m.path);
  REQUIRE(e.runs.size() == 2);
  for (const auto& r : e.runs) {
    CHECK(r.settings.eval_samples == 7);
    CHECK(r.settings.eval_split == "train");
    CHECK(r.settings.eval_generate["steps"].value_or(int64_t{0}) == (r.model.name == "ddpm" ? 3 : 0));
  }
}

TEST_CASE("a device the model does not serve is refused before anything runs", "[manifest]") {
  ManifestFile m{std::string(kTinyExperiment)};
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"experiment.device=\"cuda:0\""}); }),
             Contains("cannot run on cuda:0; it runs on cpu"));
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"experiment.device=\"gpu\""}); }),
             Contains("expected device \"cpu\", \"cuda\" or \"cuda:N\""));
}

TEST_CASE("an unwritable workspace is refused before anything runs", "[manifest]") {
  ManifestFile m{std::string(kTinyExperiment)};
  CHECK_THAT(error_of([&] { load_experiment(m.path, {"experiment.workspace=\"/proc/genlab-runs\""}); }),
             Contains("workspace /proc/genlab-runs") && Contains("set experiment.workspace to a writable folder"));
}
