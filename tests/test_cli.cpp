// The genlab command line as a user meets it: help, versions, listing, checking, validating
// and running, with exit codes 0 ok, 1 failure, 2 usage error.
#include <catch2/catch.hpp>

#include "genlab/genlab.h"
#include "support.hpp"

using genlab::test::run_genlab;
using genlab::test::TempDir;
using Catch::Matchers::Contains;

TEST_CASE("genlab --help lists the commands and exits 0", "[cli]") {
  const auto r = run_genlab("--help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("plugins list") && Contains("plugins check") && Contains("validate") &&
                           Contains("Exit codes"));
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
                           "diffusion", "text", "transformer", "classifier", "likelihood", "fid", "kid", "precision-recall",
                           "density-coverage", "class-coverage", "sharpness", "psnr-ssim"}) {
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
                           Contains("metric nll (likelihood): 4 run(s)") && Contains("metric text (likelihood): 2 run(s)"));
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
  const auto manifest = dir.write("tiny.toml", "[experiment]\nsteps = 20\nbatch_size = 16\n"
                                               "workspace = \"" + (dir.path() / "ws").string() + "\"\n"
                                               "[evaluation]\nsamples = 32\n"
                                               "[datasets.ring]\nplugin = \"example-toy2d\"\n"
                                               "[models.gmm]\nplugin = \"example-gmm\"\n"
                                               "[metrics.mmd]\nplugin = \"example-mmd\"\n");
  const auto r = run_genlab("run --quiet " + manifest.string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("| gmm-ring-s0 | finished | finished |") && Contains("mmd.mmd2"));
  CHECK(std::filesystem::exists(dir.path() / "ws" / "tiny" / "summary.md"));
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
  const auto manifest = dir.write("m.toml", "[experiment]\nworkspace = \"" + (dir.path() / "ws").string() + "\"\n"
                                            "[datasets.digits]\nplugin = \"digits-csv\"\n"
                                            "[models.gan]\nplugin = \"gan\"\n"
                                            "[metrics.nll]\nplugin = \"likelihood\"\n");
  const auto r = run_genlab("validate " + manifest.string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("metric 'nll' (plugin 'likelihood') needs a likelihood (score), which model 'gan' (plugin 'gan') does not offer"));
}
