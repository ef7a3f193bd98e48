// Fault drills: the host killed with SIGKILL again and again, a disk that fills during a
// checkpoint write, and a plugin that corrupts memory (under the asan preset). A bad plugin
// or a full disk must cost one run at most, never finished results.
#include "catch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "genlab/core/safetensors.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/registry/registry.hpp"
#include "support.hpp"

using genlab::test::Contains;
using genlab::test::run_genlab;
using genlab::test::spawn_genlab;
using genlab::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string manifest(const fs::path& workspace, int steps, int checkpoint_every) {
  return "[experiment]\nname = \"drill\"\nworkspace = \"" + workspace.string() +
         "\"\nsteps = " + std::to_string(steps) +
         "\nbatch_size = 32\ncheckpoint_every = " + std::to_string(checkpoint_every) +
         "\nseeds = [1, 2, 3]\n"
         "[evaluation]\nsamples = 128\n"
         "[datasets.ring]\nplugin = \"example-toy2d\"\ntrain_size = 512\ntest_size = 128\n"
         "[models.gmm4]\nplugin = \"example-gmm\"\ncomponents = 4\n"
         "[models.gmm8]\nplugin = \"example-gmm\"\ncomponents = 8\n"
         "[metrics.mmd]\nplugin = \"example-mmd\"\nbandwidth = 0.3\n";
}

// Every finished evaluation of a workspace's experiment: run folder name -> metric lines
// (cost.* timings left out: they differ run to run).
std::map<std::string, std::string> finished_results(const fs::path& experiment) {
  std::map<std::string, std::string> out;
  if (!fs::exists(experiment / "runs")) return out;
  for (const auto& run : fs::directory_iterator(experiment / "runs"))
    for (const auto& e : fs::directory_iterator(run.path()))
      if (e.is_directory() && fs::exists(genlab::done_file(e.path(), genlab::NodeKind::Evaluate))) {
        std::istringstream in(genlab::test::read_text(e.path() / "results.json"));
        std::string line, metrics;
        while (std::getline(in, line))
          if (line.find("\"mmd.") != std::string::npos) metrics += line + "\n";
        out[run.path().filename().string()] = metrics;
      }
  return out;
}

}  // namespace

TEST_CASE("20 kill -9 of the host, each followed by --resume: nothing finished is lost", "[faults][resume]") {
  TempDir dir;
  // Six runs of 12k steps: the 20 kills land in training, evaluation and registration.
  const auto interrupted = dir.write("drill.toml", manifest(dir.path() / "ws", 12000, 500));
  const auto whole = dir.write("whole.toml", manifest(dir.path() / "ws-whole", 12000, 500));
  std::mt19937 rng(20261130);
  std::uniform_int_distribution<int> delay_ms(150, 1500);
  std::map<std::string, std::string> seen;  // results of runs once finished: must never change
  for (int kill = 0; kill < 20; ++kill) {
    const pid_t host = spawn_genlab({"run", "--quiet", "--resume", "--jobs", "2", interrupted.string()},
                                    dir.path() / ("out" + std::to_string(kill) + ".txt"));
    REQUIRE(host > 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(host, SIGKILL);
    int status = 0;
    ::waitpid(host, &status, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // workers die with their host
    const auto now = finished_results(dir.path() / "ws" / "drill");
    for (const auto& [run, metrics] : seen) {
      INFO("kill " << kill << ", run " << run);
      REQUIRE(now.count(run) == 1);   // no finished run lost
      CHECK(now.at(run) == metrics);  // nor changed
    }
    seen = now;
    // Every registry row has its artifacts, whole and matching their recorded hash.
    if (fs::exists(dir.path() / "ws" / "registry.db")) {
      genlab::registry::Registry reg(dir.path() / "ws");
      for (const auto& v : reg.store().versions(""))
        for (const auto& a : v.artifacts) CHECK_NOTHROW(reg.verified_artifact(a));
    }
  }
  INFO("finished before the last resume: " << seen.size() << " of 6");
  const auto last = run_genlab("run --quiet --resume --jobs 2 " + interrupted.string());
  INFO(last.output);
  REQUIRE(last.exit_code == 0);
  REQUIRE(run_genlab("run --quiet --jobs 2 " + whole.string()).exit_code == 0);
  const auto resumed = finished_results(dir.path() / "ws" / "drill");
  const auto reference = finished_results(dir.path() / "ws-whole" / "drill");
  REQUIRE(resumed.size() == 6);
  CHECK(resumed == reference);  // the same folders (identities) and the same metrics
  genlab::registry::Registry reg(dir.path() / "ws");
  CHECK(reg.store().versions("").size() == 6);
}

TEST_CASE("a disk that fills during a checkpoint write leaves the previous checkpoint intact", "[faults][disk]") {
  TempDir dir;
  const fs::path ws = dir.path() / "ws";
  fs::create_directories(ws);
  if (::mount("tmpfs", ws.c_str(), "tmpfs", 0, "size=8m") != 0) {
    GENLAB_SKIP("cannot mount a tmpfs here (" << std::strerror(errno) << "; it needs root or CAP_SYS_ADMIN)");
  }
  struct Unmount {
    fs::path at;
    ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
  } unmount{ws};
  const auto file = dir.write("disk.toml", manifest(ws, 20000, 100) +
                                               "[[exclude]]\nmodel = \"gmm8\"\n[[exclude]]\nseed = 2\n"
                                               "[[exclude]]\nseed = 3\n");
  const pid_t host = spawn_genlab({"run", "--quiet", file.string()}, dir.path() / "out.txt");
  REQUIRE(host > 0);
  // Once a checkpoint exists, fill the disk to the last byte.
  fs::path checkpoint;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (checkpoint.empty() && std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(ws / "drill" / "runs"))
      for (const auto& run : fs::directory_iterator(ws / "drill" / "runs"))
        if (fs::exists(genlab::checkpoint_file(run.path()))) checkpoint = genlab::checkpoint_file(run.path());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(!checkpoint.empty());
  {
    std::ofstream filler(ws / "filler", std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), block.size())) {
    }
  }
  int status = 0;
  ::waitpid(host, &status, 0);
  const std::string out = genlab::test::read_text(dir.path() / "out.txt");
  INFO(out);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);  // the run failed, the host did not
  CHECK_THAT(out, Contains("No space left on device"));
  // The checkpoint on disk is a whole one, of a step the run reached before the disk filled.
  const auto saved = genlab::read_safetensors(checkpoint);
  const int64_t step = std::stoll(saved.metadata.at("step"));
  CHECK(step % 100 == 0);
  CHECK(step >= 100);
  // With space again, --resume goes on from it.
  fs::remove(ws / "filler");
  const auto resumed = run_genlab("run --quiet --resume " + file.string());
  INFO(resumed.output);
  CHECK(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Contains("resuming from its checkpoint"));
}

TEST_CASE("a plugin that writes past its tensor's end is reported under AddressSanitizer", "[faults][asan]") {
#if !GENLAB_ASAN
  GENLAB_SKIP("memory corruption is only detectable in the asan preset build (cmake --preset asan)");
#else
  const auto r = run_genlab(std::string("plugins check ") + genlab::test::test_plugin("faulty-overflow").string());
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Contains("heap-buffer-overflow"));
#endif
}
