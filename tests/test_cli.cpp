// The genlab command line as a user meets it: help, versions, listing, checking, validating
// and running, with exit codes 0 ok, 1 failure, 2 usage error.
#include "catch.hpp"

#include "genlab/genlab.h"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::run_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("genlab --help lists the commands and exits 0", "[cli]") {
  const auto r = run_genlab("--help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output,
             Contains("plugins list") && Contains("plugins check") && Contains("validate") && Contains("Exit codes"));
}

TEST_CASE("genlab --version names the plugin ABI", "[cli]") {
  const auto r = run_genlab("--version");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("plugin ABI 1." + std::to_string(GENLAB_ABI_VERSION_MINOR)));
}

TEST_CASE("usage errors exit 2 with a hint", "[cli]") {
  SECTION("an unknown command gets a did-you-mean") {
    const auto r = run_genlab("valdate x.toml");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Contains("did you mean 'validate'"));
    // Every command is offered (cancel was missing from the list), the worker is not.
    CHECK_THAT(run_genlab("cancle x.toml").output, Contains("did you mean 'cancel'"));
    CHECK_THAT(run_genlab("workr").output, !Contains("did you mean 'worker'"));
  }
  SECTION("no command") { CHECK(run_genlab("").exit_code == 2); }
  SECTION("an unknown option of a command") { CHECK(run_genlab("plugins list --colour").exit_code == 2); }
  SECTION("a missing argument") { CHECK(run_genlab("plugins info").exit_code == 2); }
}

TEST_CASE("genlab plugins list shows the example plugins of all four kinds", "[cli]") {
  const auto r = run_genlab("plugins list");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("example-gmm") && Contains("example-toy2d") && Contains("example-mmd") &&
                           Contains("example-cpu-ops"));
  const auto json = run_genlab("plugins list --json");
  CHECK(json.exit_code == 0);
  CHECK_THAT(json.output, Contains("\"name\" : \"example-toy2d\"") && Contains("\"kind\" : \"dataset\""));
}

TEST_CASE("GENLAB_PLUGIN_PATH adds plugin folders to the list", "[cli]") {
  const auto r = run_genlab("plugins list", "GENLAB_PLUGIN_PATH=" GENLAB_TEST_PLUGIN_DIR);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("faulty-none"));
}

TEST_CASE("genlab plugins info shows capabilities and parameters", "[cli]") {
  const auto r = run_genlab("plugins info example-gmm");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("score") && Contains("components") && Contains("= 8"));
  const auto missing = run_genlab("plugins info example-gnm");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("did you mean 'example-gmm'"));
}

TEST_CASE("genlab plugins check passes every built-in plugin whose data the tests have", "[cli][check]") {
  for (const char* name : {"example-toy2d", "example-gmm", "example-mmd", "example-cpu-ops", "digits-csv", "vae", "gan",
                           "diffusion", "text", "transformer", "classifier", "likelihood", "fid", "kid",
                           "precision-recall", "density-coverage", "class-coverage", "sharpness", "psnr-ssim"}) {
    const auto r = run_genlab(std::string("plugins check ") + genlab::test::builtin_plugin(name).string());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains(" 0 failed"));
  }
}

TEST_CASE("genlab plugins check fails a broken plugin with the reason and exits 1", "[cli][check]") {
  const auto r = run_genlab(std::string("plugins check ") + genlab::test::test_plugin("faulty-null-function").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("FAIL") && Contains("genlab_dataset_api.get_batch is NULL"));
}

TEST_CASE("genlab validate prints the run plan without running", "[cli]") {
  const std::string quickstart = (genlab::test::source_dir() / "configs" / "quickstart.toml").string();
  const auto r = run_genlab("validate " + quickstart);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("8 run(s)") && Contains("gpt-moby-s1") && Contains("features-digits") &&
                           Contains("metric nll (likelihood): 4 run(s)") &&
                           Contains("metric text (likelihood): 2 run(s)"));
  const auto json = run_genlab("validate --json " + quickstart);
  CHECK(json.exit_code == 0);
  CHECK_THAT(json.output, Contains("\"runs\" : [") && Contains("\"feature_networks\" : ["));
}

TEST_CASE("genlab validate of a broken manifest exits 1 naming the line", "[cli]") {
  TempDir dir;
  const auto manifest = dir.write("bad.toml", "[experiment]\nsteps = \"many\"\n");
  const auto r = run_genlab("validate " + manifest.string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("bad.toml:2:9") && Contains("expected 'experiment.steps' to be an integer"));
}

TEST_CASE("genlab run runs a tiny experiment and reports its metrics", "[cli]") {
  TempDir dir;
  const auto manifest = dir.write("tiny.toml",
                                  "[experiment]\nsteps = 20\nbatch_size = 16\n"
                                  "workspace = \"" +
                                      (dir.path() / "ws").string() +
                                      "\"\n"
                                      "[evaluation]\nsamples = 32\n"
                                      "[datasets.ring]\nplugin = \"example-toy2d\"\n"
                                      "[models.gmm]\nplugin = \"example-gmm\"\n"
                                      "[metrics.mmd]\nplugin = \"example-mmd\"\n");
  const auto r = run_genlab("run --quiet " + manifest.string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  // The terminal gets the headline; summary.md keeps a row per run with every value.
  CHECK_THAT(r.output, Contains("gmm-ring (1/1)") && Contains("mmd2 ↓") && Contains("samples/s ↑"));
  const std::string summary = genlab::test::read_text(dir.path() / "ws" / "tiny" / "summary.md");
  CHECK_THAT(summary, Contains("| gmm-ring-s0 | finished | finished |") && Contains("mmd.mmd2"));
}

TEST_CASE("genlab plugins check catches a map whose destroy leaks its tensors", "[cli][check]") {
  const auto r = run_genlab(std::string("plugins check ") + genlab::test::test_plugin("faulty-leaky-map").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("FAIL  ownership: get_batch map deletes every tensor on destroy: never deleted"));
}

TEST_CASE("genlab plugins check survives a plugin that segfaults and names the step", "[cli][check]") {
  const auto r = run_genlab(std::string("plugins check ") + genlab::test::test_plugin("faulty-crash").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("FAIL  dataset: get_batch from 'train' matches the element specs") &&
                           Contains("crashed the process with signal Segmentation fault"));
}

TEST_CASE("every manifest shipped in configs/ validates", "[cli][configs]") {
  int count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(genlab::test::source_dir() / "configs")) {
    if (entry.path().extension() != ".toml" || entry.path().filename() == "base.toml") continue;  // base: an include
    const auto r = run_genlab("validate " + entry.path().string());
    INFO(entry.path() << ": " << r.output);
    CHECK(r.exit_code == 0);
    ++count;
  }
  CHECK(count >= 7);
}

TEST_CASE("a likelihood metric for the GAN is refused before anything runs, naming both", "[cli][gan]") {
  TempDir dir;
  const auto manifest = dir.write("m.toml", "[experiment]\nworkspace = \"" + (dir.path() / "ws").string() +
                                                "\"\n"
                                                "[datasets.digits]\nplugin = \"digits-csv\"\n"
                                                "[models.gan]\nplugin = \"gan\"\n"
                                                "[metrics.nll]\nplugin = \"likelihood\"\n");
  const auto r = run_genlab("validate " + manifest.string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(
      r.output,
      Contains(
          "metric 'nll' (plugin 'likelihood') needs a likelihood (score), which model 'gan' (plugin 'gan') does not offer"));
}

namespace {

// A tiny finished experiment (toy ring, GMM, MMD) in `dir`, workspace dir/ws; its manifest.
std::string run_tiny(const TempDir& dir) {
  const auto manifest = dir.write("tiny.toml",
                                  "[experiment]\nsteps = 20\nbatch_size = 16\n"
                                  "workspace = \"" +
                                      (dir.path() / "ws").string() +
                                      "\"\n"
                                      "[evaluation]\nsamples = 32\n"
                                      "[datasets.ring]\nplugin = \"example-toy2d\"\n"
                                      "[models.gmm]\nplugin = \"example-gmm\"\n"
                                      "[metrics.mmd]\nplugin = \"example-mmd\"\n");
  const auto r = run_genlab("run --quiet " + manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return manifest.string();
}

}  // namespace

TEST_CASE("genlab compare --metric that matches nothing exits 1 naming the metrics there are", "[cli][names]") {
  TempDir dir;
  const std::string manifest = run_tiny(dir);
  const auto nope = run_genlab("compare " + manifest + " --metric nope");
  INFO(nope.output);
  CHECK(nope.exit_code == 1);
  CHECK_THAT(nope.output, Contains("no metric matching 'nope'") && Contains("mmd.mmd2"));
  const auto typo = run_genlab("compare " + manifest + " --metric mdd");
  CHECK(typo.exit_code == 1);
  CHECK_THAT(typo.output, Contains("did you mean 'mmd'"));
  const auto good = run_genlab("compare " + manifest + " --metric mmd");
  CHECK(good.exit_code == 0);
  CHECK_THAT(good.output, Contains("ring  mmd.mmd2"));
  // A mistyped manifest gets the closest one beside it.
  const auto missing = run_genlab("compare " + (dir.path() / "tiyn.toml").string());
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Contains("no such manifest") && Contains("did you mean 'tiny.toml'"));
}

TEST_CASE("registry commands and sample given a name that matches nothing exit 1 with a did-you-mean",
          "[cli][names][registry]") {
  TempDir dir;
  run_tiny(dir);
  const std::string ws = " --workspace " + (dir.path() / "ws").string();
  REQUIRE(run_genlab("registry alias gmm:1 best" + ws).exit_code == 0);
  const fs::path out = dir.path() / "out";
  for (const std::string& command :
       std::vector<std::string>{"registry show gnm", "registry list gnm", "registry alias gnm:1 prod",
                                "registry compare gmm:1 gnm:1", "registry export gnm " + out.string(),
                                "registry delete gnm:1", "sample gnm --n 4 --out " + (dir.path() / "s.png").string()}) {
    const auto r = run_genlab(command + ws);
    INFO(command << ": " << r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("no model 'gnm'") && Contains("did you mean 'gmm'") && Contains("it holds gmm"));
  }
  const auto alias = run_genlab("registry show gmm@bets" + ws);
  CHECK(alias.exit_code == 1);
  CHECK_THAT(alias.output, Contains("has no alias 'bets'") && Contains("did you mean 'best'"));
  const auto version = run_genlab("registry show gmm:7" + ws);
  CHECK(version.exit_code == 1);
  CHECK_THAT(version.output, Contains("has no version 7") && Contains("its versions are gmm:1"));
  // A workspace that does not exist is an error, not an empty registry, and is not created.
  const auto list = run_genlab("registry list --workspace " + (dir.path() / "wss").string());
  CHECK(list.exit_code == 1);
  CHECK_THAT(list.output, Contains("no such workspace folder") && Contains("did you mean 'ws'"));
  CHECK_FALSE(fs::exists(dir.path() / "wss"));
  // A folder without a registry in it is no registry either.
  fs::create_directories(dir.path() / "plain");
  const auto plain = run_genlab("registry list --workspace " + (dir.path() / "plain").string());
  CHECK(plain.exit_code == 1);
  CHECK_THAT(plain.output, Contains("no registry here"));
}

TEST_CASE("genlab status of a folder that is no workspace exits 1 with a hint", "[cli][names]") {
  TempDir dir;
  run_tiny(dir);
  const auto typo = run_genlab("status " + (dir.path() / "wss").string());
  CHECK(typo.exit_code == 1);
  CHECK_THAT(typo.output, Contains("no such workspace folder") && Contains("did you mean 'ws'"));
  const auto experiment = run_genlab("status " + (dir.path() / "ws" / "tiny").string());
  CHECK(experiment.exit_code == 1);
  CHECK_THAT(experiment.output,
             Contains("it is an experiment's folder: its workspace is " + (dir.path() / "ws").string()));
  CHECK(run_genlab("status " + (dir.path() / "ws").string()).exit_code == 0);
}

TEST_CASE("genlab report of a mistyped or never-run manifest exits 1 and says why", "[cli][names]") {
  TempDir dir;
  const auto manifest =
      dir.write("tiny.toml", "[experiment]\nsteps = 1\nworkspace = \"" + (dir.path() / "ws").string() +
                                 "\"\n[datasets.ring]\nplugin = \"example-toy2d\"\n"
                                 "[models.gmm]\nplugin = \"example-gmm\"\n");
  const auto r = run_genlab("report " + (dir.path() / "tinny.toml").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("no such manifest") && Contains("did you mean 'tiny.toml'"));
  const auto never = run_genlab("report " + manifest.string());
  CHECK(never.exit_code == 1);
  CHECK_THAT(never.output, Contains("experiment 'tiny' has not run"));
  CHECK_FALSE(fs::exists(dir.path() / "ws"));
}

TEST_CASE("validate, run and cancel of a mistyped manifest name the closest one", "[cli][names]") {
  TempDir dir;
  dir.write("tiny.toml",
            "[experiment]\nsteps = 1\nworkspace = \"" + (dir.path() / "ws").string() +
                "\"\n[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\n");
  for (const char* command : {"validate", "run --quiet", "cancel"}) {
    const auto r = run_genlab(std::string(command) + " " + (dir.path() / "tiyn.toml").string());
    INFO(command << ": " << r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("no such manifest") && Contains("did you mean 'tiny.toml'"));
  }
  CHECK_FALSE(fs::exists(dir.path() / "ws"));
}

TEST_CASE("genlab run does not register a deleted version again, until it is restored", "[cli][registry]") {
  TempDir dir;
  const std::string manifest = run_tiny(dir);
  const std::string ws = " --workspace " + (dir.path() / "ws").string();
  // A bare name would mean "the latest version": deleting needs the version named.
  const auto bare = run_genlab("registry delete gmm" + ws);
  CHECK(bare.exit_code != 0);
  CHECK_THAT(bare.output, Contains("needs NAME:VERSION") && Contains("got 'gmm'"));
  CHECK_THAT(run_genlab("registry show gmm:1" + ws).output, Contains("gmm:1"));
  REQUIRE(run_genlab("registry delete gmm:1" + ws).exit_code == 0);
  const auto again = run_genlab("run --quiet " + manifest);
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Contains("gmm:1 was deleted") && Contains("not registered again"));
  CHECK(again.output.find("\nregistered: ") == std::string::npos);
  CHECK_THAT(run_genlab("registry list" + ws).output, Contains("deleted: gmm:1"));
  const auto show = run_genlab("registry show gmm:1" + ws);
  CHECK(show.exit_code == 1);
  CHECK_THAT(show.output, Contains("has no version 1: it was deleted"));
  // Restoring lets the next run register it again, as a new version that says what it replaces.
  const auto restore = run_genlab("registry restore gmm:1" + ws);
  INFO(restore.output);
  CHECK(restore.exit_code == 0);
  CHECK_THAT(restore.output, Contains("restored gmm:1"));
  const auto third = run_genlab("run --quiet " + manifest);
  CHECK_THAT(third.output, Contains("registered: gmm:2"));
  CHECK_THAT(run_genlab("registry show gmm:2" + ws).output, Contains("replaces: gmm:1 (deleted)"));
}

TEST_CASE("an empty registry.db is refused by genlab run and the registry commands, naming the file",
          "[cli][registry]") {
  TempDir dir;
  const fs::path db = dir.path() / "ws" / "registry.db";
  dir.write("ws/registry.db", "");
  const auto list = run_genlab("registry list --workspace " + (dir.path() / "ws").string());
  CHECK(list.exit_code == 1);
  CHECK_THAT(list.output, Contains(db.string()) && Contains("empty (0 bytes)"));
  const auto manifest = dir.write("tiny.toml",
                                  "[experiment]\nsteps = 20\nbatch_size = 16\n"
                                  "workspace = \"" +
                                      (dir.path() / "ws").string() +
                                      "\"\n"
                                      "[evaluation]\nsamples = 32\n"
                                      "[datasets.ring]\nplugin = \"example-toy2d\"\n"
                                      "[models.gmm]\nplugin = \"example-gmm\"\n"
                                      "[metrics.mmd]\nplugin = \"example-mmd\"\n");
  const auto r = run_genlab("run --quiet " + manifest.string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("unavailable") && Contains("empty (0 bytes)"));
  CHECK(r.output.find("\nregistered: ") == std::string::npos);
  CHECK(fs::file_size(db) == 0);
}
