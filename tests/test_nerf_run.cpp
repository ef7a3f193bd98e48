// The NeRF family end to end, as a user meets it: views rendered by `genlab data
// render-views`, the plugins checked by `genlab plugins check`, and an experiment that trains
// a radiance field on the views and evaluates it on held-out ones with PSNR and SSIM.
#include "catch.hpp"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "genlab/util/json.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::run_genlab;
using genlab::test::TempDir;

namespace {

// Renders the procedural scene into <dir>/nerf/bunny, where the nerf-synthetic dataset looks
// by default under GENLAB_DATA=<dir>.
std::filesystem::path render_scene(const TempDir& dir, int size = 16) {
  const auto scene = dir.path() / "nerf" / "bunny";
  const auto r = run_genlab("data render-views --scene blocks --out " + scene.string() + " --size " +
                            std::to_string(size) + " --train 12 --val 2 --test 3");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return scene;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("genlab plugins check passes the NeRF plugins on rendered views", "[nerf-run][check]") {
  TempDir dir;
  render_scene(dir);
  const std::string env = "GENLAB_DATA='" + dir.path().string() + "'";
  for (const char* name : {"nerf-synthetic", "nerf", "cpu-reference"}) {
    const auto r = run_genlab(std::string("plugins check ") + genlab::test::builtin_plugin(name).string(), env);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.output, Contains(" 0 failed"));
  }
}

TEST_CASE("a NeRF experiment trains on rendered views and is scored on held-out ones", "[nerf-run]") {
  TempDir dir;
  const auto scene = render_scene(dir);
  const auto workspace = dir.path() / "ws";
  const auto manifest = genlab::test::source_dir() / "configs" / "nerf-tiny.toml";
  const std::string where = " --set experiment.workspace='\"" + workspace.string() +
                            "\"' --set datasets.blocks.root='\"" + scene.string() + "\"'";
  const auto r = run_genlab("run --quiet " + manifest.string() + where);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  bool found = false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(workspace)) {
    if (entry.path().filename() != "results.json") continue;
    found = true;
    const genlab::Json results = genlab::parse_json(read_text(entry.path()), entry.path().string());
    REQUIRE(results.contains("metrics"));
    const genlab::Json& metrics = results.at("metrics");
    REQUIRE(metrics.contains("views.psnr"));
    REQUIRE(metrics.contains("views.ssim"));
    REQUIRE(metrics.contains("cost.sample_latency_ms"));
    const double psnr = metrics.at("views.psnr"), ssim = metrics.at("views.ssim"),
                 latency = metrics.at("cost.sample_latency_ms");
    CHECK(results.at("samples") == 3);  // the three test views, rendered for their poses
    CHECK(std::isfinite(psnr));
    // A white picture scores 12.7 dB on these views (a field stuck in a fog of background
    // colour did); 100 steps of the field reach ~22 dB.
    CHECK(psnr > 17.0);
    CHECK(ssim > 0.5);
    CHECK(latency > 0);
    // The model's own count, stated through export_state and kept in the checkpoint.
    REQUIRE(metrics.contains("cost.parameters"));
    CHECK(metrics.at("cost.parameters").get<double>() > 1000);
  }
  CHECK(found);

  // Evaluating on the rays of "train" is refused before anything runs, with the fix.
  const auto on_train = run_genlab("validate " + manifest.string() + where + " --set evaluation.split='\"train\"'");
  CHECK(on_train.exit_code == 1);
  CHECK_THAT(on_train.output, Contains("holds rays") && Contains("evaluation.split"));
}
