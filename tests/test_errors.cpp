// Errors that say where: a plugin's exception names the plugin, the call and the step;
// generate options that nothing reads are refused where they are written.
#include "catch.hpp"

#include <algorithm>
#include <filesystem>
#include <string>

#include "genlab/core/workspace.hpp"
#include "manifest_builder.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::ManifestBuilder;
using genlab::test::read_text;
using genlab::test::run_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

fs::path manifest(const TempDir& dir, const std::string& body) {
  return ManifestBuilder(dir)
      .set("experiment.steps", 6)
      .set("experiment.batch_size", 16)
      .dataset("ring", "example-toy2d", toml::table{{"train_size", 128}, {"test_size", 32}})
      .set("evaluation.samples", 32)
      .append(body)
      .write();
}

}  // namespace

TEST_CASE("a LibTorch error inside a plugin reaches the user with the plugin, the call and the step", "[errors][cli]") {
  TempDir dir;
  const fs::path file = manifest(dir, "[models.bad]\nplugin = \"fault-model\"\nfault = \"torch_error\"\nat_step = 3\n");
  const auto r = run_genlab("run --quiet " + file.string());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("run bad-ring-s0, step 3: plugin 'fault-model'") && Contains("train_step failed") &&
                           Contains("index out of range in self"));
  const auto status = run_genlab("status " + (dir.path() / "ws").string());
  CHECK_THAT(status.output, Contains("step 3") && Contains("train_step failed"));
}

TEST_CASE("an evaluation.generate option that no model reads is refused with its line and a did-you-mean",
          "[errors][cli]") {
  TempDir dir;
  // diffusion reads sampler and steps; the mixture reads none: `stpes` is nobody's.
  const fs::path file = manifest(dir,
                                 "[evaluation.generate]\nsampler = \"ddim\"\nstpes = 5\n"
                                 "[models.gmm]\nplugin = \"example-gmm\"\n"
                                 "[models.ddpm]\nplugin = \"diffusion\"\ntimesteps = 10\n");
  const auto r = run_genlab("validate " + file.string());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  // The line of the misspelt key, counted in the file as written.
  const std::string text = read_text(file);
  const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(text.find("stpes = 5")), '\n');
  CHECK_THAT(r.output, Contains("m.toml:" + std::to_string(line) + ":9:") &&
                           Contains("reads the generate option 'stpes'") && Contains("did you mean 'steps'?"));
  // Spelt right, each run keeps the options its model reads: only diffusion's samples depend on them.
  const fs::path right = manifest(dir,
                                  "[evaluation.generate]\nsampler = \"ddim\"\nsteps = 5\n"
                                  "[models.gmm]\nplugin = \"example-gmm\"\n"
                                  "[models.ddpm]\nplugin = \"diffusion\"\ntimesteps = 10\n");
  const auto plan = run_genlab("validate --json " + right.string());
  INFO(plan.output);
  REQUIRE(plan.exit_code == 0);
  CHECK_THAT(plan.output, Contains("\"eval_generate\" : {}") && Contains("\"steps\" : 5"));
  // A type a model does not take.
  const fs::path typed =
      manifest(dir, "[evaluation.generate]\nsteps = \"five\"\n[models.ddpm]\nplugin = \"diffusion\"\n");
  CHECK_THAT(run_genlab("validate " + typed.string()).output,
             Contains("expected evaluation.generate.steps to be an integer"));
}

TEST_CASE("genlab sample refuses a generate option its model does not declare", "[errors][cli][registry]") {
  TempDir dir;
  const fs::path file = manifest(dir, "[models.gmm]\nplugin = \"example-gmm\"\ncomponents = 2\n");
  REQUIRE(run_genlab("run --quiet " + file.string()).exit_code == 0);
  const std::string ws = " --workspace " + (dir.path() / "ws").string();
  const auto r = run_genlab("sample gmm --n 4 --out " + (dir.path() / "s.png").string() + " --option bogus=1" + ws);
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("plugin 'example-gmm' has no generate option 'bogus'; it takes none"));
  CHECK_FALSE(fs::exists(dir.path() / "s.png"));
  // Without the bad option it samples.
  CHECK(run_genlab("sample gmm --n 4 --out " + (dir.path() / "s.png").string() + ws).exit_code == 0);
  CHECK(fs::exists(dir.path() / "s.png"));
}

TEST_CASE("a file name the file system refuses is the manifest's error, not a raw C++ one", "[errors][cli]") {
  // Found by fuzz_manifest: a 300-character include made std::filesystem throw past the
  // manifest reader ("filesystem error: status: File name too long").
  TempDir dir;
  const std::string long_name(300, 'x');
  const fs::path file = dir.write("m.toml", "include = \"" + long_name + ".toml\"\n");
  const auto r = run_genlab("validate " + file.string());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains(long_name) && Contains("cannot be read: File name too long") &&
                           Contains("(included from " + file.string() + ")"));
  CHECK_THAT(r.output, !Contains("filesystem error"));
  // The same for a plugin folder named on the command line.
  const auto check = run_genlab("plugins check " + (dir.path() / long_name).string());
  INFO(check.output);
  CHECK(check.exit_code != 0);
  CHECK_THAT(check.output, !Contains("filesystem error"));
}
