// Executors: the [executor] table of a manifest, Slurm's job states as run states, and the
// progress lines a worker prints. The Slurm executor against a real Slurm is
// tests/slurm/run.sh (CTest: slurm_executor).
#include "catch.hpp"

#include "genlab/util/error.hpp"
#include "genlab/core/executor.hpp"
#include "genlab/core/experiment.hpp"
#include "support.hpp"

using namespace genlab;
using genlab::test::Contains;
using genlab::test::TempDir;

namespace {

const char* kRing = R"(
[datasets.ring]
plugin = "example-toy2d"
[models.gmm]
plugin = "example-gmm"
)";

struct Manifest {
  TempDir dir;
  std::filesystem::path path;
  explicit Manifest(const std::string& experiment_keys, const std::string& rest = kRing) {
    path = dir.write("m.toml",
                     "[experiment]\nworkspace = \"" + (dir.path() / "ws").string() + "\"\n" + experiment_keys + rest);
  }
};

std::string error_of(const std::filesystem::path& manifest) {
  try {
    load_experiment(manifest);
  } catch (const HostError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("[executor] is read with every key and is not part of a run's identity", "[executor]") {
  Manifest plain("steps = 5\n");
  Manifest slurm("steps = 5\n", std::string(kRing) + R"(
[executor]
kind = "slurm"
partition = "gpu"
account = "lab"
time_limit = "01:30:00"
cpus_per_run = 4
gpus_per_run = 1
memory_mb_per_run = 8000
sbatch_options = ["--qos=short", "--constraint=a100"]
poll_seconds = 2.5
genlab = "/shared/bin/genlab"
)");
  const Experiment a = load_experiment(plain.path), b = load_experiment(slurm.path);
  CHECK(a.executor.kind == "local");
  CHECK(b.executor.kind == "slurm");
  CHECK(b.executor.partition == "gpu");
  CHECK(b.executor.account == "lab");
  CHECK(b.executor.time_limit == "01:30:00");
  CHECK(b.executor.cpus_per_run == 4);
  CHECK(b.executor.gpus_per_run == 1);
  CHECK(b.executor.memory_mb_per_run == 8000);
  CHECK(b.executor.sbatch_options == std::vector<std::string>{"--qos=short", "--constraint=a100"});
  CHECK(b.executor.poll_seconds == 2.5);
  CHECK(b.executor.genlab == "/shared/bin/genlab");
  REQUIRE(a.runs.size() == 1);
  CHECK(a.runs[0].id == b.runs[0].id);  // where a run executes does not change its result
}

TEST_CASE("[executor] errors name the line and what was expected", "[executor]") {
  Manifest kind("steps = 5\n", std::string(kRing) + "[executor]\nkind = \"kubernetes\"\n");
  CHECK_THAT(error_of(kind.path), Contains("m.toml:10:8") && Contains("expected executor.kind \"local\" or \"slurm\""));
  Manifest typo("steps = 5\n", std::string(kRing) + "[executor]\npartiton = \"gpu\"\n");
  CHECK_THAT(error_of(typo.path), Contains("m.toml:10:1") && Contains("unknown key 'executor.partiton'") &&
                                      Contains("did you mean 'partition'"));
  Manifest options("steps = 5\n", std::string(kRing) + "[executor]\nsbatch_options = \"--qos=short\"\n");
  CHECK_THAT(error_of(options.path), Contains("expected executor.sbatch_options to be an array of strings"));
  Manifest cpus("steps = 5\n", std::string(kRing) + "[executor]\ncpus_per_run = -1\n");
  CHECK_THAT(error_of(cpus.path), Contains("expected executor.cpus_per_run >= 0"));
}

TEST_CASE("processes > 1 is part of a run's identity, 1 keeps the single-process id", "[executor]") {
  Manifest one("steps = 5\nbatch_size = 8\n"), explicit_one("steps = 5\nbatch_size = 8\nprocesses = 1\n"),
      two("steps = 5\nbatch_size = 8\nprocesses = 2\n");
  const std::string id1 = load_experiment(one.path).runs.at(0).id;
  CHECK(load_experiment(explicit_one.path).runs.at(0).id == id1);
  CHECK(load_experiment(two.path).runs.at(0).id != id1);
  CHECK(load_experiment(two.path).runs.at(0).settings.processes == 2);
}

TEST_CASE("Slurm's job states map to run states", "[executor][slurm]") {
  for (const char* s : {"PENDING", "CONFIGURING", "REQUEUED", "SUSPENDED"}) CHECK(slurm_phase(s) == SlurmPhase::Queued);
  for (const char* s : {"RUNNING", "COMPLETING"}) CHECK(slurm_phase(s) == SlurmPhase::Running);
  for (const char* s : {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED"})
    CHECK(slurm_phase(s) == SlurmPhase::Ended);
  CHECK(slurm_phase("CANCELLED by 0") == SlurmPhase::Ended);  // sacct's form
  CHECK(slurm_phase("") == SlurmPhase::Unknown);
  CHECK(slurm_phase("WHATEVER") == SlurmPhase::Unknown);

  using Kind = NodeOutcome::Kind;
  CHECK(slurm_outcome("COMPLETED", true, "0:0", "").kind == Kind::Finished);
  // A job that completed without the worker's done file did not finish the node.
  const NodeOutcome no_done = slurm_outcome("COMPLETED", false, "0:0", "the last log line");
  CHECK(no_done.kind == Kind::Failed);
  CHECK_THAT(no_done.reason, Contains("no done file") && Contains("the last log line"));
  const NodeOutcome failed = slurm_outcome("FAILED", false, "1:0", "train_step of plugin 'x' failed");
  CHECK(failed.kind == Kind::Failed);
  CHECK_THAT(failed.reason, Contains("train_step of plugin 'x' failed") && Contains("exit code 1:0"));
  // Failures a resume can finish say so.
  for (const char* s : {"CANCELLED", "CANCELLED by 0", "TIMEOUT", "PREEMPTED", "NODE_FAIL"}) {
    const NodeOutcome o = slurm_outcome(s, false, "0:15", "");
    CHECK(o.kind == Kind::Failed);
    CHECK_THAT(o.reason, Contains("--resume"));
  }
  CHECK_THAT(slurm_outcome("CANCELLED", false, "0:15", "").reason, Contains("cancelled on Slurm"));
  CHECK_THAT(slurm_outcome("TIMEOUT", false, "0:1", "").reason, Contains("time limit"));
  CHECK_THAT(slurm_outcome("OUT_OF_MEMORY", false, "0:125", "").reason,
             Contains("out of memory") && Contains("memory_mb_per_run"));
  CHECK_THAT(slurm_outcome("BOOT_FAIL", false, "0:0", "x").reason, Contains("BOOT_FAIL"));
}

TEST_CASE("progress lines are parsed however the output is split", "[executor]") {
  NodeProgress p;
  const std::string text = "progress 3 100 loss 0.5\nerror the plugin said no\nprogress 7 100 loss 0.25\n";
  for (char c : text) p.feed(&c, 1);  // one byte at a time, as a pipe or a growing file may give it
  CHECK(p.step == 7);
  CHECK(p.total == 100);
  CHECK(p.first_step == 3);
  CHECK(p.loss_name == "loss");
  CHECK(p.loss == 0.25);
  CHECK(p.error == "the plugin said no");
  p.feed("progress 9 100 loss", 19);  // an incomplete line waits for its end
  CHECK(p.step == 7);
  p.feed(" 0.125\n", 7);
  CHECK(p.step == 9);
}
