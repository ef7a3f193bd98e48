// The scheduler through the genlab command: worker processes that fail alone, parallel
// runs equal to sequential ones, finished runs never run again, kill -9 and --resume.
#include "catch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "genlab/core/workspace.hpp"
#include "genlab/registry/registry.hpp"
#include "experiment_dir.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::count_lines;
using genlab::test::ExperimentDir;
using genlab::test::metric_lines;
using genlab::test::run_genlab;
using genlab::test::spawn_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kRing = R"(
[datasets.ring]
plugin = "example-toy2d"
train_size = 512
test_size = 128
[evaluation]
samples = 128
[metrics.mmd]
plugin = "example-mmd"
bandwidth = 0.3
)";

}  // namespace

TEST_CASE("each injected fault fails only its own run, with the reason recorded", "[scheduler][faults]") {
  ExperimentDir e(std::string("steps = 6\nbatch_size = 16\ntimeout = 6\n") + kRing + R"(
[models.healthy]
plugin = "fault-model"
[models.segfault]
plugin = "fault-model"
fault = "segfault"
[models.abort]
plugin = "fault-model"
fault = "abort"
[models.throw]
plugin = "fault-model"
fault = "throw"
[models.hang]
plugin = "fault-model"
fault = "hang"
[models.oom]
plugin = "fault-model"
fault = "oom"
[models.nan]
plugin = "fault-model"
fault = "nan"
[models.shape]
plugin = "fault-model"
fault = "bad_shape"
)");
  const auto r = run_genlab("run --quiet --jobs 2 " + e.manifest.string());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  using genlab::NodeKind;
  CHECK_THAT(e.state("healthy-ring-s0", NodeKind::Evaluate), Contains("finished"));
  CHECK_THAT(e.state("segfault-ring-s0", NodeKind::Train),
             Contains("failed: killed by signal 11 (Segmentation fault)"));
  CHECK_THAT(e.state("abort-ring-s0", NodeKind::Train), Contains("failed: killed by signal 6 (Aborted)"));
  CHECK_THAT(e.state("throw-ring-s0", NodeKind::Train),
             Contains("failed:") && Contains("the fault model threw on purpose"));
  CHECK_THAT(e.state("hang-ring-s0", NodeKind::Train), Contains("failed: timed out after 6.0s and was killed"));
  CHECK_THAT(e.state("oom-ring-s0", NodeKind::Train), Contains("failed:") && Contains("allocate"));
  CHECK_THAT(e.state("nan-ring-s0", NodeKind::Train),
             Contains("failed:") && Contains("loss 'loss' is nan at step 2") && Contains("stopped early"));
  CHECK_THAT(e.state("shape-ring-s0", NodeKind::Evaluate),
             Contains("failed:") && Contains("plugin 'fault-model'") &&
                 Contains("generate returned 'samples' of shape [2, 2] for a count of 1"));
  CHECK_THAT(e.state("segfault-ring-s0", NodeKind::Evaluate),
             Contains("skipped: train segfault-ring-s0 did not finish"));
  // The failure's log tail is kept in the state file.
  auto state = genlab::read_toml(genlab::state_file(e.run("throw-ring-s0"), NodeKind::Train));
  REQUIRE(state);
  CHECK_THAT((*state)["log_tail"].value_or(std::string()), Contains("threw on purpose"));
  // And the summary names every failure.
  CHECK_THAT(
      genlab::test::read_text(e.folder() / "summary.md"),
      Contains("| healthy-ring-s0 | finished | finished |") && Contains("segfault-ring-s0: killed by signal 11"));
}

TEST_CASE("with --fail-fast the scheduler stops at the first failure and leaves the rest not started",
          "[scheduler][faults]") {
  ExperimentDir e(std::string("steps = 6\nbatch_size = 16\n") + kRing + R"(
[models.a_throw]
plugin = "fault-model"
fault = "throw"
[models.b_healthy]
plugin = "fault-model"
)");
  const auto r = run_genlab("run --quiet --fail-fast " + e.manifest.string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("not started: --fail-fast stopped after a failure"));
}

TEST_CASE("parallel runs with --jobs 2 give the same results as --jobs 1", "[scheduler][parallel]") {
  const std::string body = std::string("steps = 200\nbatch_size = 64\nseeds = [1, 2]\n") + kRing +
                           "[models.gmm]\nplugin = \"example-gmm\"\ncomponents = 8\n";
  ExperimentDir one(body), two(body);
  REQUIRE(run_genlab("run --quiet --jobs 1 " + one.manifest.string()).exit_code == 0);
  const auto r = run_genlab("run --quiet --jobs 2 " + two.manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (const char* run : {"gmm-ring-s1", "gmm-ring-s2"}) {
    const std::string a = metric_lines(one.results(run)), b = metric_lines(two.results(run));
    CHECK(!a.empty());
    CHECK(a == b);
    CHECK(genlab::test::read_text(one.run(run) / "losses.jsonl") ==
          genlab::test::read_text(two.run(run) / "losses.jsonl"));
  }
}

TEST_CASE("a second run of a manifest skips what finished, and a changed config runs anew", "[scheduler][resume]") {
  ExperimentDir e(std::string("steps = 20\nbatch_size = 16\n") + kRing + "[models.gmm]\nplugin = \"example-gmm\"\n");
  REQUIRE(run_genlab("run --quiet " + e.manifest.string()).exit_code == 0);
  const auto again = run_genlab("run --quiet " + e.manifest.string());
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Contains("3 ok (3 already done)"));
  const auto changed = run_genlab("run --quiet --set models.gmm.components=3 " + e.manifest.string());
  CHECK_THAT(changed.output, Contains("3 ok (1 already done)"));  // the data is prepared already
  const auto status = run_genlab("status " + (e.dir.path() / "ws").string());
  CHECK_THAT(status.output, Contains("gmm-ring-s0") && Contains("finished") && Contains("20 steps"));
}

TEST_CASE("after kill -9 of the host, --resume ends with the metrics of an uninterrupted run", "[scheduler][resume]") {
  const std::string body = std::string("steps = 4000\nbatch_size = 32\ncheckpoint_every = 100\nseeds = [7]\n") + kRing +
                           "[models.gmm]\nplugin = \"example-gmm\"\n";
  ExperimentDir interrupted(body), whole(body);
  const pid_t host =
      spawn_genlab({"run", "--quiet", interrupted.manifest.string()}, interrupted.dir.path() / "out.txt");
  REQUIRE(host > 0);
  // Wait until training is well under way (past a few checkpoints), then kill the host.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const fs::path losses = genlab::test::wait_for_lines(interrupted, "losses.jsonl", 701);
  ::kill(host, SIGKILL);
  int status = 0;
  ::waitpid(host, &status, 0);
  const size_t lines_at_kill = count_lines(losses);
  INFO("loss lines at the kill: " << lines_at_kill);
  REQUIRE(lines_at_kill < 4000);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the worker dies with its host

  CHECK_THAT(run_genlab("status " + (interrupted.dir.path() / "ws").string()).output, Contains("interrupted"));
  const auto resumed = run_genlab("run --quiet --resume " + interrupted.manifest.string());
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Contains("resuming from its checkpoint"));
  REQUIRE(run_genlab("run --quiet " + whole.manifest.string()).exit_code == 0);

  CHECK(metric_lines(interrupted.results("gmm-ring-s7")) == metric_lines(whole.results("gmm-ring-s7")));
  CHECK(genlab::test::read_text(interrupted.run("gmm-ring-s7") / "losses.jsonl") ==
        genlab::test::read_text(whole.run("gmm-ring-s7") / "losses.jsonl"));
}

TEST_CASE("Ctrl-C saves a checkpoint and a later --resume finishes the run", "[scheduler][resume]") {
  ExperimentDir e(std::string("steps = 6000\nbatch_size = 32\nseeds = [3]\n") + kRing +
                  "[models.gmm]\nplugin = \"example-gmm\"\n");
  const pid_t host = spawn_genlab({"run", "--quiet", e.manifest.string()}, e.dir.path() / "out.txt");
  const fs::path losses = genlab::test::wait_for_lines(e, "losses.jsonl", 301);
  ::kill(host, SIGINT);
  int status = 0;
  ::waitpid(host, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK_THAT(e.state("gmm-ring-s3", genlab::NodeKind::Train), Contains("cancelled"));
  CHECK(fs::exists(e.run("gmm-ring-s3") / "checkpoint.safetensors"));
  const auto resumed = run_genlab("run --quiet --resume " + e.manifest.string());
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK(count_lines(e.run("gmm-ring-s3") / "losses.jsonl") == 6000);
}

TEST_CASE("finished runs become registry versions that can be shown, aliased, compared and sampled",
          "[scheduler][registry]") {
  ExperimentDir e(std::string("steps = 300\nbatch_size = 64\nseeds = [1, 2]\n") + kRing +
                  "[models.gmm]\nplugin = \"example-gmm\"\ncomponents = 8\n");
  const auto r = run_genlab("run --quiet --jobs 2 " + e.manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("registered: gmm:1, gmm:2"));
  // Running again registers nothing new.
  CHECK_THAT(run_genlab("run --quiet " + e.manifest.string()).output, Contains("registered: gmm:1, gmm:2"));
  const std::string ws = " --workspace " + (e.dir.path() / "ws").string();
  CHECK_THAT(run_genlab("registry list" + ws).output, Contains("gmm:1") && Contains("gmm:2"));
  CHECK(run_genlab("registry alias gmm:2 best" + ws).exit_code == 0);
  const auto show = run_genlab("registry show gmm@best" + ws);
  CHECK_THAT(show.output, Contains("gmm:2  @best") && Contains("mmd.mmd2") && Contains("checkpoint"));
  CHECK_THAT(run_genlab("registry compare gmm:1 gmm@best" + ws).output,
             Contains("| mmd.mmd2 (lower is better) |") && Contains("| (seed) | 1 | 2 |"));
  const fs::path png = e.dir.path() / "grid.png";
  const auto sampled = run_genlab("sample gmm@best --n 500 --out " + png.string() + ws);
  INFO(sampled.output);
  CHECK(sampled.exit_code == 0);
  CHECK_THAT(sampled.output, Contains("500 samples in") && Contains("samples/s"));
  CHECK(fs::file_size(png) > 1000);
  CHECK_THAT(run_genlab("sample gmm@best --option nonsense --out " + png.string() + ws).output,
             Contains("--option nonsense: expected KEY=VALUE, e.g. steps=50"));
  CHECK(genlab::test::read_text(png).substr(1, 3) == "PNG");
  CHECK_THAT(run_genlab("registry show gmm:7" + ws).output, Contains("model 'gmm' has no version 7"));
  CHECK(run_genlab("registry show '../x'" + ws).exit_code == 1);
}

TEST_CASE("sampling a version whose plugin library changed since it was registered is refused",
          "[scheduler][registry]") {
  ExperimentDir e(std::string("steps = 20\nbatch_size = 16\n") + kRing + "[models.gmm]\nplugin = \"example-gmm\"\n");
  REQUIRE(run_genlab("run --quiet " + e.manifest.string()).exit_code == 0);
  // Record the same run under another model name, as if trained by another build.
  genlab::registry::Registry reg(e.dir.path() / "ws");
  genlab::registry::Version v = reg.resolve("gmm");
  genlab::registry::NewVersion other;
  other.model = "gmm-old";
  other.run = *reg.store().run(v.run_id);
  other.eval_id = v.eval_id;
  other.model_plugin = v.plugin;
  other.model_plugin.library_sha256 = std::string(64, '0');
  other.dataset_plugin = v.dataset_plugin;
  other.dataset_params = v.dataset_params;
  other.config = v.config;
  other.files = {{e.dir.path() / "ws" / v.artifacts[0].path, "checkpoint"}};
  reg.register_version(other);
  const auto r = run_genlab("sample gmm-old --n 8 --out /dev/null --workspace " + (e.dir.path() / "ws").string());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("was trained with plugin 'example-gmm' library sha256 0000000000000000") &&
                           Contains("a different build"));
}
