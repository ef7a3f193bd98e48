// Data-parallel training of one run over several processes (experiment.processes), through
// the genlab command: the same loss as one process with the same global batch, ranks that
// end in the same state, a rank that dies failing the run by name, stopping together on a
// time budget or Ctrl-C, and Slurm's environment giving the ranks.
#include "catch.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "genlab/core/workspace.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::read_text;
using genlab::test::run_genlab;
using genlab::test::spawn_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// A manifest in a fresh folder whose workspace is inside it, with one run.
struct Run {
  TempDir dir;
  fs::path manifest;
  explicit Run(const std::string& body) {
    manifest = dir.write("m.toml",
                         "[experiment]\nname = \"exp\"\nworkspace = \"" + (dir.path() / "ws").string() + "\"\n" + body);
  }
  // The run's folder, once the scheduler made it (empty path before).
  fs::path folder() const {
    const fs::path runs = dir.path() / "ws" / "exp" / "runs";
    if (!fs::exists(runs)) return {};
    for (const auto& e : fs::directory_iterator(runs))
      if (e.is_directory()) return e.path();
    return {};
  }
  std::string state() const {
    auto t = genlab::read_toml(genlab::state_file(folder(), genlab::NodeKind::Train));
    return t ? (*t)["state"].value_or(std::string("?")) + ": " + (*t)["reason"].value_or(std::string()) : "no state";
  }
  // A number from the evaluation's results.json ("nll.nll_nats": 1.05...).
  double metric(const std::string& key) const {
    for (const auto& e : fs::directory_iterator(folder()))
      if (e.is_directory() && fs::exists(e.path() / "results.json")) {
        std::smatch m;
        const std::string text = read_text(e.path() / "results.json");
        if (std::regex_search(text, m, std::regex("\"" + key + "\" : ([-0-9.e+]+)"))) return std::stod(m[1]);
      }
    FAIL("no metric " << key << " in the results of " << folder());
    return NAN;
  }
  // The value of `loss` in the last line of losses.jsonl.
  double last_loss(const std::string& loss) const {
    std::ifstream in(folder() / "losses.jsonl");
    std::string line, last;
    while (std::getline(in, line)) last = line;
    std::smatch m;
    REQUIRE(std::regex_search(last, m, std::regex("\"" + loss + "\":([-0-9.e+]+)")));
    return std::stod(m[1]);
  }
  size_t loss_lines() const {
    std::ifstream in(folder() / "losses.jsonl");
    return static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
  }
};

// "final state checksum X, trained tensors Y, after N steps" of a rank's log: "X Y N".
std::string final_state_in(const std::string& text) {
  const std::regex line("final state checksum ([0-9a-f]+), trained tensors ([0-9a-f]+), after ([0-9]+) steps");
  std::string last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator(); ++it)
    last = (*it)[1].str() + " " + (*it)[2].str() + " " + (*it)[3].str();
  return last;
}
std::string final_state(const fs::path& log) { return final_state_in(read_text(log)); }

// The GMM of the examples on the 2-D ring: exact likelihood, no noise in training, so one
// process and two must agree but for the order of floating-point sums.
std::string gmm(int processes, int steps, const std::string& extra = "") {
  return "seeds = [5]\nsteps = " + std::to_string(steps) +
         "\nbatch_size = 64\nprocesses = " + std::to_string(processes) + "\n" + extra +
         R"(
[datasets.ring]
plugin = "example-toy2d"
train_size = 512
test_size = 256
[evaluation]
samples = 256
[models.gmm]
plugin = "example-gmm"
[metrics.nll]
plugin = "likelihood"
)";
}

// Waits until `done` holds (polling), up to `seconds`.
template <class Condition>
bool wait_until(Condition done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The pid a rank logged at its start ("rank 1 of 2 of run ... (pid 1234)"), or -1.
pid_t logged_pid(const fs::path& log) {
  std::smatch m;
  const std::string text = fs::exists(log) ? read_text(log) : "";
  return std::regex_search(text, m, std::regex("\\(pid ([0-9]+)\\)")) ? std::stoi(m[1]) : -1;
}

}  // namespace

TEST_CASE("a run over 2 processes ends with the loss of 1 process with the same global batch", "[distributed]") {
  // Measured on this machine after 300 steps: the last training loss differs by 1.2e-7
  // relative, the evaluation's NLL by 5e-8 (3000 steps: 1.6e-6 and 8e-8; the largest
  // per-step difference 6.4e-6). The tolerance leaves a margin of about 100.
  constexpr double kTolerance = 1e-4;
  Run one(gmm(1, 300)), two(gmm(2, 300));
  const auto r1 = run_genlab("run --quiet " + one.manifest.string());
  INFO(r1.output);
  REQUIRE(r1.exit_code == 0);
  const auto r2 = run_genlab("run --quiet " + two.manifest.string());
  INFO(r2.output);
  REQUIRE(r2.exit_code == 0);

  CHECK(two.last_loss("nll") == Approx(one.last_loss("nll")).epsilon(kTolerance));
  CHECK(two.metric("nll.nll_nats") == Approx(one.metric("nll.nll_nats")).epsilon(kTolerance));
  CHECK(two.loss_lines() == 300);

  SECTION("and its two ranks end in the same state") {
    const std::string rank0 = final_state(two.folder() / "train.log");
    CHECK_THAT(rank0, Contains(" 300"));
    CHECK(final_state(two.folder() / "train.rank1.log") == rank0);
  }
  SECTION("and only rank 0 writes the run's files; rank 1 its log") {
    std::set<std::string> files1, files2;
    for (const auto& e : fs::directory_iterator(one.folder())) files1.insert(e.path().filename().string());
    for (const auto& e : fs::directory_iterator(two.folder())) files2.insert(e.path().filename().string());
    files1.insert("train.rank1.log");
    // The evaluation's folder is named by its id, which holds the run's: one per run.
    auto without_eval = [](std::set<std::string> names) {
      for (auto it = names.begin(); it != names.end();)
        it = it->rfind("eval-", 0) == 0 ? names.erase(it) : std::next(it);
      return names;
    };
    CHECK(without_eval(files2) == without_eval(files1));  // no rendezvous folder is left either
    CHECK_THAT(read_text(two.folder() / "train.done.toml"), Contains("processes = 2"));
  }
}

TEST_CASE("a VAE, which draws noise, trains over 2 processes and its ranks keep the same weights",
          "[distributed][vae]") {
  Run vae(R"(seeds = [0]
steps = 100
batch_size = 64
processes = 2
[evaluation]
samples = 256
[datasets.digits]
plugin = "digits-csv"
[models.vae]
plugin = "vae"
hidden = 64
latent = 4
[metrics.nll]
plugin = "likelihood"
)");
  const auto r = run_genlab("run --quiet " + vae.manifest.string());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string rank0 = final_state(vae.folder() / "train.log");
  REQUIRE_THAT(rank0, Contains(" 100"));
  CHECK(final_state(vae.folder() / "train.rank1.log") == rank0);
  CHECK(std::isfinite(vae.metric("nll.nll_nats")));
}

TEST_CASE("a rank that dies fails the run within seconds, with a reason naming that rank", "[distributed][faults]") {
  Run run(gmm(2, 10000000));
  const pid_t host = spawn_genlab({"run", "--quiet", run.manifest.string()}, run.dir.path() / "out.txt");
  REQUIRE(host > 0);
  // Rank 1 is killed once both train (rank 0 has written losses: they met).
  pid_t rank1 = -1;
  REQUIRE(wait_until(
      [&] {
        const fs::path folder = run.folder();
        if (folder.empty() || !fs::exists(folder / "losses.jsonl") || run.loss_lines() < 20) return false;
        rank1 = logged_pid(folder / "train.rank1.log");
        return rank1 > 0;
      },
      60));
  const auto killed = Clock::now();
  ::kill(rank1, SIGKILL);
  int status = 0;
  ::waitpid(host, &status, 0);
  const double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  INFO(read_text(run.dir.path() / "out.txt"));
  CHECK(seconds < 15);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(run.state(), Contains("failed") && Contains("rank 1 of 2") && Contains("killed by signal 9"));
}

TEST_CASE("a rank that fails before meeting the others fails the run with its own reason", "[distributed][faults]") {
  // Rank 0 then waits at the rendezvous, where nothing tells it that rank 1 is gone: its
  // watcher ends it after a grace of 3 s. Rank 1 fails here because its log cannot be opened.
  Run run(gmm(2, 20));
  REQUIRE(run_genlab("run --quiet " + run.manifest.string()).exit_code == 0);
  const fs::path folder = run.folder();
  fs::remove(folder / "train.rank1.log");
  fs::create_directory(folder / "train.rank1.log");
  const auto started = Clock::now();
  const auto r = run_genlab("worker train " + folder.string());
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(seconds < 15);
  CHECK_THAT(r.output,
             Contains("rank 1 of 2") && Contains("exited with status 1") && Contains("cannot write the log of rank 1"));
  CHECK_FALSE(fs::exists(folder / "dist"));
}

TEST_CASE("the processes stop after the same step on a time budget and on Ctrl-C", "[distributed][resume]") {
  SECTION("a time budget: both end with the same state after the same step") {
    Run run(gmm(2, 10000000, "max_seconds = 1.0\n"));
    const auto r = run_genlab("run --quiet " + run.manifest.string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string rank0 = final_state(run.folder() / "train.log");
    REQUIRE_FALSE(rank0.empty());
    CHECK(final_state(run.folder() / "train.rank1.log") == rank0);
  }
  SECTION("Ctrl-C: a checkpoint, and --resume ends where an uninterrupted run does, noise and all") {
    const std::string body = R"(seeds = [1]
steps = 600
batch_size = 32
checkpoint_every = 50
processes = 2
[evaluation]
samples = 64
[datasets.digits]
plugin = "digits-csv"
[models.vae]
plugin = "vae"
hidden = 32
latent = 4
)";
    Run interrupted(body), whole(body);
    const pid_t host =
        spawn_genlab({"run", "--quiet", interrupted.manifest.string()}, interrupted.dir.path() / "out.txt");
    REQUIRE(host > 0);
    REQUIRE(wait_until([&] { return !interrupted.folder().empty() && interrupted.loss_lines() > 100; }, 60));
    ::kill(host, SIGINT);
    int status = 0;
    ::waitpid(host, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 130);
    CHECK_THAT(interrupted.state(), Contains("cancelled"));
    const size_t lines_at_stop = interrupted.loss_lines();
    INFO("loss lines at the stop: " << lines_at_stop);
    REQUIRE(lines_at_stop < 600);

    const auto resumed = run_genlab("run --quiet --resume " + interrupted.manifest.string());
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    REQUIRE(run_genlab("run --quiet " + whole.manifest.string()).exit_code == 0);
    CHECK(read_text(interrupted.folder() / "losses.jsonl") == read_text(whole.folder() / "losses.jsonl"));
    CHECK(final_state(interrupted.folder() / "train.log") == final_state(whole.folder() / "train.log"));
    CHECK(final_state(interrupted.folder() / "train.rank1.log") == final_state(whole.folder() / "train.log"));
  }
}

TEST_CASE("under Slurm the ranks come from SLURM_PROCID and SLURM_NTASKS", "[distributed][slurm]") {
  // Trained first by the local executor; then its two ranks as srun would start them.
  Run run(gmm(2, 100));
  REQUIRE(run_genlab("run --quiet " + run.manifest.string()).exit_code == 0);
  const std::string local = final_state(run.folder() / "train.log");
  REQUIRE_FALSE(local.empty());
  const std::string folder = run.folder().string();

  SECTION("two tasks train the same run to the same state as the local executor") {
    ::setenv("SLURM_JOB_ID", "4242", 1);
    ::setenv("SLURM_STEP_ID", "0", 1);
    ::setenv("SLURM_NTASKS", "2", 1);
    ::setenv("SLURM_PROCID", "1", 1);
    const pid_t rank1 = spawn_genlab({"worker", "train", folder}, run.dir.path() / "rank1.txt");
    ::setenv("SLURM_PROCID", "0", 1);
    const auto rank0 = run_genlab("worker train " + folder);
    for (const char* name : {"SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_NTASKS", "SLURM_PROCID"}) ::unsetenv(name);
    int status = 0;
    ::waitpid(rank1, &status, 0);
    INFO(rank0.output << read_text(run.dir.path() / "rank1.txt"));
    REQUIRE(rank0.exit_code == 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK_THAT(rank0.output, Contains("dist/4242.0"));  // run by hand: rank 0 logs to stderr
    CHECK(final_state_in(rank0.output) == local);
    CHECK(final_state(run.folder() / "train.rank1.log") == local);
    CHECK_FALSE(fs::exists(run.folder() / "dist"));
  }
  SECTION("a task count other than experiment.processes is refused naming both") {
    const auto r = run_genlab("worker train " + folder, "SLURM_JOB_ID=4243 SLURM_NTASKS=3 SLURM_PROCID=0");
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Contains("SLURM_NTASKS=3") && Contains("experiment.processes = 2"));
  }
}

TEST_CASE("a batch_size that does not split evenly over the processes is refused by the manifest", "[distributed]") {
  Run run(
      "seeds = [1]\nsteps = 10\nbatch_size = 63\nprocesses = 2\n"
      "[datasets.ring]\nplugin = \"example-toy2d\"\n[models.gmm]\nplugin = \"example-gmm\"\n");
  const auto r = run_genlab("run --quiet " + run.manifest.string());
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.output, Contains("batch_size 63") && Contains("2 processes"));
  CHECK(run.folder().empty());
}
