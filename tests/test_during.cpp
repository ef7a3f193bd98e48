// Evaluation during training (evaluation.every / during / during_samples): the series of
// samples and metrics a run keeps as it trains, that it changes nothing of the training,
// that resume keeps the series, and what validate refuses.
#include "catch.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "experiment_dir.hpp"
#include "genlab/core/safetensors.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::count_lines;
using genlab::test::ExperimentDir;
using genlab::test::kRingGmmMmd;
using genlab::test::metric_lines;
using genlab::test::read_text;
using genlab::test::run_genlab;
using genlab::test::wait_for_lines;
namespace fs = std::filesystem;

namespace {

// The "step" of each line of a step series (losses.jsonl, during/evaluations.jsonl).
std::vector<long long> steps_of(const fs::path& series) {
  std::vector<long long> steps;
  std::ifstream in(series);
  std::string line;
  long long step = -1;
  while (std::getline(in, line))
    if (std::sscanf(line.c_str(), "{\"step\":%lld", &step) == 1) steps.push_back(step);
  return steps;
}

std::vector<long long> every(long long first, long long last, long long by) {
  std::vector<long long> out;
  for (long long s = first; s <= last; s += by) out.push_back(s);
  return out;
}

}  // namespace

TEST_CASE("evaluation during training keeps samples and metrics per step, and leaves the training as it was",
          "[during]") {
  const std::string base = std::string("steps = 60\nbatch_size = 32\nseeds = [5]\n") + kRingGmmMmd;
  ExperimentDir watched(base + "[evaluation]\nsamples = 128\nevery = 20\nduring = [\"mmd\"]\nduring_samples = 48\n");
  ExperimentDir plain(base + "[evaluation]\nsamples = 128\n");
  const auto r = run_genlab("run --quiet " + watched.manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(run_genlab("run --quiet " + plain.manifest.string()).exit_code == 0);

  const fs::path run = watched.run("gmm-ring-s5");
  const fs::path series = run / "during" / "evaluations.jsonl";
  CHECK(steps_of(series) == std::vector<long long>{20, 40, 60});
  const std::string lines = read_text(series);
  CHECK_THAT(lines, Contains("\"mmd.mmd2\":") && Contains("\"seconds\":") && Contains("\"cpu_seconds\":"));
  for (int step : {20, 40, 60}) {
    char name[40];
    std::snprintf(name, sizeof name, "step-%08d.safetensors", step);
    const auto samples = genlab::read_safetensors(run / "during" / name);
    REQUIRE(samples.tensors->count >= 1);
    CHECK(samples.tensors->tensors[0]->dl_tensor.shape[0] == 48);
    CHECK(samples.metadata.at("step") == std::to_string(step));
  }
  // Sampling between steps draws from a stream of its own: the same losses, the same final
  // metrics, as the run that never evaluated during training.
  CHECK(read_text(run / "losses.jsonl") == read_text(plain.run("gmm-ring-s5") / "losses.jsonl"));
  CHECK(metric_lines(watched.results("gmm-ring-s5")) == metric_lines(plain.results("gmm-ring-s5")));
  // Its cost is kept apart from the training's.
  const auto done = genlab::read_toml(genlab::done_file(run, genlab::NodeKind::Train));
  REQUIRE(done);
  CHECK((*done)["during"]["evaluations"].value_or(int64_t{0}) == 3);
  CHECK((*done)["during"]["seconds"].value_or(-1.0) > 0);
}

TEST_CASE("a run stopped by Ctrl-C and resumed keeps one evaluation per step, none repeated", "[during][resume]") {
  ExperimentDir e(std::string("steps = 6000\nbatch_size = 32\ncheckpoint_every = 250\nseeds = [3]\n") + kRingGmmMmd +
                  "[evaluation]\nsamples = 128\nevery = 500\nduring = [\"mmd\"]\n");
  const pid_t host = genlab::test::spawn_genlab({"run", "--quiet", e.manifest.string()}, e.dir.path() / "out.txt");
  REQUIRE(host > 0);
  const fs::path series = wait_for_lines(e, fs::path("during") / "evaluations.jsonl", 3);
  ::kill(host, SIGINT);
  int status = 0;
  ::waitpid(host, &status, 0);
  const size_t at_stop = count_lines(series);
  INFO("evaluations at the stop: " << at_stop);
  REQUIRE(at_stop >= 3);
  REQUIRE(at_stop < 12);
  const auto resumed = run_genlab("run --quiet --resume " + e.manifest.string());
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(steps_of(series) == every(500, 6000, 500));
  size_t files = 0;
  for (const auto& f : fs::directory_iterator(series.parent_path())) files += f.path().extension() == ".safetensors";
  CHECK(files == 12);
}

TEST_CASE("validate refuses evaluation during training that cannot run", "[during][bad-input]") {
  const std::string base = std::string("steps = 100\nseeds = [1]\n") + kRingGmmMmd;
  SECTION("every larger than the run") {
    ExperimentDir e(base + "[evaluation]\nevery = 500\n");
    const auto r = run_genlab("validate " + e.manifest.string());
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains("evaluation.every = 500 is larger than its 100 steps"));
  }
  SECTION("a metric the evaluation does not compute") {
    ExperimentDir e(base + "[evaluation]\nevery = 50\nduring = [\"mdm\"]\n");
    const auto r = run_genlab("validate " + e.manifest.string());
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains("evaluation.during names 'mdm'") && Contains("did you mean 'mmd'"));
  }
  SECTION("metrics without every") {
    ExperimentDir e(base + "[evaluation]\nduring = [\"mmd\"]\n");
    const auto r = run_genlab("validate " + e.manifest.string());
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains("evaluation.every is not set"));
  }
  SECTION("a negative every") {
    ExperimentDir e(base + "[evaluation]\nevery = -5\n");
    const auto r = run_genlab("validate " + e.manifest.string());
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Contains("m.toml:") && Contains("expected evaluation.every >= 0"));
  }
}

TEST_CASE("validate refuses a metric of the feature network during training", "[during][bad-input][data]") {
  const std::string quickstart = (genlab::test::source_dir() / "configs" / "quickstart.toml").string();
  const auto r = run_genlab("validate --set evaluation.every=100 --set 'evaluation.during=[\"fid\"]' " + quickstart);
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("evaluation.during names 'fid'") && Contains("feature network"));
}
