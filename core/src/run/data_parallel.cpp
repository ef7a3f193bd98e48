// Data-parallel training: this process's rank among the run's processes (from a local rank
// 0's variables or from Slurm's), the ranks 1..N-1 a local rank 0 starts, watches and
// forwards signals to, the rank logs, and the digests of the final state the ranks must
// agree on. Separate from the training loop, which only asks its rank and calls these at
// its start and end: process management and the checks between ranks are a job of their own.
#include "data_parallel.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <spdlog/spdlog.h>

#include "genlab/core/worker.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/sha256.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The other ranks of a data-parallel run that this process started (LocalRanks), to which
// it passes SIGINT and SIGTERM on: they must stop after the same step as this one.
constexpr int kMaxLocalProcesses = 256;
pid_t forward_pids[kMaxLocalProcesses];
std::atomic<int> forward_count{0};

// How a local rank 0 tells the ranks it starts their place.
constexpr const char* kRankVariable = "GENLAB_RANK";
constexpr const char* kWorldSizeVariable = "GENLAB_WORLD_SIZE";
constexpr const char* kRendezvousVariable = "GENLAB_RENDEZVOUS";

int32_t env_int(const char* name, int32_t low, int32_t high) {
  const char* text = std::getenv(name);
  if (text == nullptr) throw HostError("environment variable " + std::string(name) + " is not set");
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < low || value > high)
    throw HostError("environment variable " + std::string(name) + "=\"" + text + "\": expected an integer in [" +
                    std::to_string(low) + ", " + std::to_string(high) + "]");
  return static_cast<int32_t>(value);
}

// What a process's final state is, to compare the processes of a data-parallel run: a
// SHA-256 of each tensor (dtype, shape, bytes), of them all in order, and of the trained
// ones alone. Trained: by the host's convention for checkpoints, a tensor NAME beside the
// optimiser's moments P.m.NAME and P.v.NAME, and those moments. They must agree in every
// process; other tensors may not (BatchNorm's running statistics are each process's own,
// and rank 0's are saved), and a tensor not compact on the CPU is hashed by shape only.
struct StateDigest {
  std::string whole, trained;
  std::vector<std::pair<std::string, std::string>> tensors;  // name, digest
  std::set<std::string> trained_names;
};

StateDigest digest_state(const genlab_tensor_map& state) {
  StateDigest d;
  std::set<std::string> names;
  for (size_t i = 0; i < state.count; ++i) names.insert(state.names[i]);
  for (const auto& name : names) {
    const size_t m = name.find(".m.");
    if (m == std::string::npos) continue;
    const std::string prefix = name.substr(0, m), parameter = name.substr(m + 3);
    if (names.count(prefix + ".v." + parameter) == 0 || names.count(parameter) == 0) continue;
    d.trained_names.insert({name, prefix + ".v." + parameter, parameter});
  }
  Sha256 whole, trained;
  for (size_t i = 0; i < state.count; ++i) {
    const DLTensor& t = state.tensors[i]->dl_tensor;
    Sha256 one;
    const int32_t header[3] = {t.dtype.code, t.dtype.bits, t.ndim};
    one.update(header, sizeof header);
    one.update(t.shape, sizeof(int64_t) * static_cast<size_t>(t.ndim));
    if (genlab_util_is_cpu_compact(&t, t.dtype) && t.dtype.lanes == 1)
      one.update(static_cast<const char*>(t.data) + t.byte_offset,
                 static_cast<size_t>(genlab_util_numel(&t)) * ((t.dtype.bits + 7) / 8));
    const std::string digest = one.hex();
    const std::string line = std::string(state.names[i]) + '\0' + digest;
    whole.update(line);
    if (d.trained_names.count(state.names[i])) trained.update(line);
    d.tensors.emplace_back(state.names[i], digest);
  }
  d.whole = whole.hex();
  d.trained = trained.hex();
  return d;
}

// "a, b, c and 4 more": names for a message.
std::string join_first_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += " and " + std::to_string(names.size() - 5) + " more";
  return out;
}

}  // namespace

void forward_stop_signal_to_local_ranks(int sig) {
  const int n = forward_count.load();
  for (int i = 0; i < n; ++i) ::kill(forward_pids[i], sig);
}

Ranks ranks_of(const fs::path& dir, const RunPlan& r) {
  Ranks ranks;
  const int32_t processes = r.settings.processes;
  if (processes <= 1) return ranks;
  ranks.world_size = processes;
  auto id_part = [](const char* name) {  // a Slurm id, checked before it becomes a file name
    const char* text = std::getenv(name);
    std::string id = text ? text : "";
    const bool ok = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
    return ok ? id : std::string();
  };
  if (std::getenv(kRankVariable) != nullptr) {
    const int32_t world = env_int(kWorldSizeVariable, 2, kMaxLocalProcesses);
    if (world != processes)
      throw HostError(std::string(kWorldSizeVariable) + " is " + std::to_string(world) + " but run " + r.name +
                      " has experiment.processes = " + std::to_string(processes));
    ranks.rank = env_int(kRankVariable, 1, world - 1);
    const char* rendezvous = std::getenv(kRendezvousVariable);
    if (rendezvous == nullptr || *rendezvous == '\0')
      throw HostError(std::string(kRankVariable) + " is set but " + kRendezvousVariable + " is not");
    ranks.rendezvous = rendezvous;
    ranks.started_by_rank0 = true;
  } else if (std::getenv("SLURM_NTASKS") != nullptr) {
    const int32_t tasks = env_int("SLURM_NTASKS", 1, 1 << 20);
    if (tasks != processes)
      throw HostError("Slurm runs this step as SLURM_NTASKS=" + std::to_string(tasks) + " tasks, but run " + r.name +
                      " has experiment.processes = " + std::to_string(processes) + "; expected srun --ntasks=" +
                      std::to_string(processes) + " (or, for the local executor, no Slurm job around it)");
    ranks.rank = env_int("SLURM_PROCID", 0, tasks - 1);
    const std::string job = id_part("SLURM_JOB_ID"), step = id_part("SLURM_STEP_ID"),
                      restart = id_part("SLURM_RESTART_COUNT");
    if (job.empty()) throw HostError("SLURM_NTASKS is set but SLURM_JOB_ID is not (or is not an id)");
    // Fresh per launch: a requeued job keeps its id and restarts its step ids.
    ranks.rendezvous =
        dir / "dist" / (job + "." + (step.empty() ? "batch" : step) + (restart.empty() ? "" : ".r" + restart));
  } else {
    ranks.rendezvous = dir / "dist" / ("local-" + std::to_string(::getpid()));
    ranks.starts_others = true;
  }
  return ranks;
}

void log_to_rank_file(const fs::path& dir, int32_t rank, bool resume) {
  const fs::path log = dir / ("train.rank" + std::to_string(rank) + ".log");
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (resume ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0) throw HostError(log.string() + ": cannot write the log of rank " + std::to_string(rank));
  std::fflush(stderr);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
}

LocalRanks::LocalRanks(const Ranks& ranks, const fs::path& dir, bool resume)
    : world_size_(ranks.world_size), dir_(dir), rendezvous_(ranks.rendezvous) {
  if (world_size_ > kMaxLocalProcesses)
    throw HostError("experiment.processes = " + std::to_string(world_size_) + ": the local executor starts at most " +
                    std::to_string(kMaxLocalProcesses));
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args = {exe, "worker", "train", dir.string()};
  if (resume) args.push_back("--resume");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  for (int32_t rank = 1; rank < world_size_; ++rank) {
    // Everything the child needs is built before fork: after it, only exec.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      const std::string name = entry.substr(0, entry.find('='));
      if (name != kRankVariable && name != kWorldSizeVariable && name != kRendezvousVariable) env.push_back(entry);
    }
    env.push_back(std::string(kRankVariable) + "=" + std::to_string(rank));
    env.push_back(std::string(kWorldSizeVariable) + "=" + std::to_string(world_size_));
    env.push_back(std::string(kRendezvousVariable) + "=" + ranks.rendezvous.string());
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw HostError("cannot create a pipe for rank " + std::to_string(rank));
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out[0]);
      ::close(out[1]);
      throw HostError("cannot start rank " + std::to_string(rank) + " (fork failed)");
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with rank 0, even after a kill -9 of it
      if (::getppid() != parent) ::_exit(1);
      ::dup2(out[1], STDOUT_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    Child child;
    child.rank = rank;
    child.pid = pid;
    child.out_fd = out[0];
    children_.push_back(std::move(child));
    forward_pids[forward_count.load()] = pid;
    forward_count.fetch_add(1);
  }
  watcher_ = std::thread([this] { watch(); });
}

LocalRanks::~LocalRanks() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    for (const auto& c : children_)
      if (!c.exited) ::kill(c.pid, SIGKILL);
  }
  changed_.notify_all();
  watcher_.join();
  forward_count.store(0);
  for (auto& c : children_) {
    if (!c.exited) ::waitpid(c.pid, nullptr, 0);
    ::close(c.out_fd);
  }
}

std::string LocalRanks::failure_beside(const std::string& own, std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (reporter_ == Reporter::Watcher) {  // it is reporting a rank's failure and ending this process
    lock.unlock();
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  reporter_ = Reporter::Main;
  changed_.wait_for(lock, wait, [&] { return first_failure_ != nullptr; });
  if (first_failure_ == nullptr) return own;
  const std::string theirs = describe(*first_failure_);
  return first_failure_->error == own ? own : theirs + "; rank 0: " + own;  // the same error everywhere: once
}

std::vector<std::map<std::string, std::string>> LocalRanks::finish(std::chrono::seconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (reporter_ == Reporter::Watcher) {
    lock.unlock();
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  reporter_ = Reporter::Main;
  changed_.wait_for(lock, timeout, [&] {
    return std::all_of(children_.begin(), children_.end(), [](const Child& c) { return c.exited; });
  });
  std::vector<std::map<std::string, std::string>> digests;
  for (const auto& c : children_) {
    if (!c.exited)
      throw HostError("rank " + std::to_string(c.rank) + " of " + std::to_string(world_size_) + " (pid " +
                      std::to_string(c.pid) + ") did not end within " + std::to_string(timeout.count()) +
                      " s of rank 0; log: " + log_of(c).string());
    if (!WIFEXITED(c.status) || (WEXITSTATUS(c.status) != 0 && WEXITSTATUS(c.status) != kWorkerCancelled))
      throw HostError(describe(c));
    digests.push_back(c.digests);
  }
  return digests;
}

fs::path LocalRanks::log_of(const Child& c) const { return dir_ / ("train.rank" + std::to_string(c.rank) + ".log"); }

std::string LocalRanks::describe(const Child& c) const {
  std::string what =
      "rank " + std::to_string(c.rank) + " of " + std::to_string(world_size_) + " (pid " + std::to_string(c.pid) + ") ";
  if (WIFSIGNALED(c.status)) {
    what += "was killed by signal " + std::to_string(WTERMSIG(c.status)) + " (" + strsignal(WTERMSIG(c.status)) + ")";
  } else {
    what += "exited with status " + std::to_string(WEXITSTATUS(c.status));
    if (!c.error.empty()) what += ": " + c.error;
  }
  return what + "; log: " + log_of(c).string();
}

void LocalRanks::drain(Child& c) {
  char buffer[4096];
  ssize_t got;
  while ((got = ::read(c.out_fd, buffer, sizeof buffer)) > 0) c.out.append(buffer, static_cast<size_t>(got));
  size_t newline;
  while ((newline = c.out.find('\n')) != std::string::npos) {
    const std::string line = c.out.substr(0, newline);
    c.out.erase(0, newline + 1);
    if (line.rfind("error ", 0) == 0) {
      c.error = line.substr(6);
    } else if (line.rfind("tensor ", 0) == 0) {
      const size_t space = line.find(' ', 7);
      if (space != std::string::npos) c.digests[line.substr(space + 1)] = line.substr(7, space - 7);
    }
  }
}

// Polls the children (waitpid on their pids only: a plugin may have children of its own).
void LocalRanks::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  std::optional<Clock::time_point> failed_at;
  while (!stop_) {
    for (auto& c : children_) {
      if (c.exited) continue;
      drain(c);
      int status = 0;
      if (::waitpid(c.pid, &status, WNOHANG) != c.pid) continue;
      drain(c);
      c.exited = true;
      c.status = status;
      const bool failed = !WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != kWorkerCancelled);
      if (failed && first_failure_ == nullptr) {
        first_failure_ = &c;
        failed_at = Clock::now();
      }
      changed_.notify_all();
    }
    // Rank 0 usually notices at once (Gloo's connection to the dead rank closes) and
    // reports through failure_beside(); if it is still busy after a grace, it is stuck
    // (waiting at the rendezvous for a rank that will never come): end it from here.
    if (failed_at && reporter_ == Reporter::None && Clock::now() - *failed_at > std::chrono::seconds(3)) {
      reporter_ = Reporter::Watcher;
      const std::string reason = describe(*first_failure_);
      spdlog::error("{}", reason);
      std::printf("error %s\n", reason.c_str());
      std::fflush(stdout);
      for (const auto& c : children_)
        if (!c.exited) ::kill(c.pid, SIGKILL);
      std::error_code ec;
      fs::remove(rendezvous_, ec);
      if (fs::is_empty(rendezvous_.parent_path(), ec)) fs::remove(rendezvous_.parent_path(), ec);
      ::_exit(1);
    }
    changed_.wait_for(lock, std::chrono::milliseconds(20));
  }
}

RendezvousCleanup::~RendezvousCleanup() {
  if (file_.empty()) return;
  std::error_code ec;
  fs::remove(file_, ec);
  if (fs::is_empty(file_.parent_path(), ec)) fs::remove(file_.parent_path(), ec);
}

void agree_on_final_state(const fs::path& dir, ModelInstance& model, const Ranks& ranks, LocalRanks* others,
                          int64_t steps) {
  const int32_t world = ranks.world_size;
  const StateDigest mine = digest_state(*model.export_state());
  spdlog::info("rank {} of {}: final state checksum {}, trained tensors {}, after {} steps", ranks.rank, world,
               mine.whole, mine.trained, steps);
  if (ranks.started_by_rank0) {
    for (const auto& [name, digest] : mine.tensors) std::printf("tensor %s %s\n", digest.c_str(), name.c_str());
    std::fflush(stdout);
  }
  if (others == nullptr) return;
  const auto theirs = others->finish(std::chrono::seconds(60));
  for (size_t i = 0; i < theirs.size(); ++i) {
    if (theirs[i].empty()) continue;
    std::vector<std::string> trained, untrained;
    for (const auto& [name, digest] : mine.tensors) {
      const auto found = theirs[i].find(name);
      if (found != theirs[i].end() && found->second == digest) continue;
      (mine.trained_names.count(name) ? trained : untrained).push_back(name);
    }
    const std::string rank = "rank " + std::to_string(i + 1);
    if (!trained.empty())
      throw HostError("the processes diverged: " + rank + " ended with other values than rank 0 in " +
                      std::to_string(trained.size()) + " trained tensor(s): " + join_first_names(trained) +
                      " (logs: " + dir.string() + "/train.rank*.log)");
    if (!untrained.empty())
      spdlog::info(
          "{} keeps its own values of {}: statistics of its shards (BatchNorm's running means); "
          "rank 0's are saved",
          rank, join_first_names(untrained));
  }
}

}  // namespace genlab
