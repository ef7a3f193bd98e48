// The local executor: each node in a `genlab worker` process on this machine. A worker that
// crashes, aborts, hangs past its timeout or runs out of memory ends alone; the host reads
// its exit status and the log it left.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <csignal>
#include <map>
#include <thread>

#include "genlab/util/error.hpp"
#include "genlab/core/executor.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/util/files.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// ASan and TSan map terabytes of shadow memory: an address-space limit would stop every
// worker of a sanitizer build at start, so such builds do not set one.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizedBuild = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitizedBuild = true;
#else
constexpr bool kSanitizedBuild = false;
#endif
#else
constexpr bool kSanitizedBuild = false;
#endif

class LocalExecutor final : public Executor {
 public:
  explicit LocalExecutor(const SchedulerOptions& o) : o_(o) {
    budget_ =
        o.thread_budget > 0 ? o.thread_budget : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }

  bool has_room(size_t running, int running_threads, int threads) const override {
    if (running >= static_cast<size_t>(std::max(1, o_.jobs))) return false;
    return running == 0 || running_threads + threads <= budget_;
  }

  void start(size_t id, const NodeJob& job, NodeProgress& progress) override {
    Worker w;
    w.job = job;
    w.progress = &progress;
    w.lock = std::make_unique<FolderLock>(job.dir);
    if (!w.lock->try_acquire())
      throw HostError("another genlab process is running this node (" + (job.dir / ".lock").string() + ")");
    std::vector<std::string> args = {o_.executable.string(), "worker", node_kind_name(job.kind), job.dir.string()};
    if (job.resume) args.push_back("--resume");
    const fs::path log = log_file(job.dir, job.kind);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw HostError("cannot create a pipe for a worker");
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (job.resume ? O_APPEND : O_TRUNC), 0644);
    if (log_fd < 0) {
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      throw HostError(log.string() + ": cannot write the worker's log");
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw HostError("cannot start a worker process (fork failed)");
    if (pid == 0) {
      // The worker dies with the host, so a kill -9 of the host leaves no orphan behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      // The host owns both thread pools: LibTorch's OpenMP and OpenBLAS's.
      const std::string threads = std::to_string(job.threads);
      ::setenv("OMP_NUM_THREADS", threads.c_str(), 1);
      ::setenv("OPENBLAS_NUM_THREADS", threads.c_str(), 1);
      ::setenv("MKL_NUM_THREADS", threads.c_str(), 1);
      // A host running inside a Slurm allocation starts its own ranks: the worker must not
      // take the allocation's task count for its run's.
      ::unsetenv("SLURM_NTASKS");
      ::unsetenv("SLURM_PROCID");
      if (job.memory_limit_mb > 0 && !kSanitizedBuild) {
        const rlimit limit{static_cast<rlim_t>(job.memory_limit_mb) << 20, static_cast<rlim_t>(job.memory_limit_mb)
                                                                               << 20};
        ::setrlimit(RLIMIT_AS, &limit);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      const std::string message = "error: cannot start " + args[0] + ": " + std::strerror(errno) + "\n";
      (void)!::write(STDERR_FILENO, message.data(), message.size());
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    ::close(log_fd);
    ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    w.pid = pid;
    w.out_fd = pipe_fds[0];
    workers_[id] = std::move(w);
  }

  std::vector<std::pair<size_t, NodeOutcome>> poll(int timeout_ms) override {
    wait_for_output(timeout_ms);
    enforce_timeouts();
    return reap();
  }

  std::string interrupt() override {
    for (auto& [id, w] : workers_) ::kill(w.pid, SIGINT);
    return "interrupted: the running nodes save a checkpoint and stop (resume with --resume)";
  }

  void stop(size_t id) override {
    if (auto it = workers_.find(id); it != workers_.end()) ::kill(it->second.pid, SIGTERM);
  }

  toml::table where(size_t id) const override {
    auto it = workers_.find(id);
    if (it == workers_.end()) return {};
    return toml::table{{"executor", "local"}, {"pid", static_cast<int64_t>(it->second.pid)}};
  }

 private:
  struct Worker {
    NodeJob job;
    NodeProgress* progress = nullptr;
    pid_t pid = -1;
    int out_fd = -1;
    bool timed_out = false;
    bool term_sent = false;
    std::unique_ptr<FolderLock> lock;
  };

  void wait_for_output(int timeout_ms) {
    std::vector<pollfd> fds;
    for (const auto& [id, w] : workers_)
      if (w.out_fd >= 0) fds.push_back(pollfd{w.out_fd, POLLIN, 0});
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
      return;
    }
    ::poll(fds.data(), fds.size(), timeout_ms);
    for (auto& [id, w] : workers_) drain(w);
  }

  static void drain(Worker& w) {
    if (w.out_fd < 0) return;
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(w.out_fd, buffer, sizeof buffer)) > 0) w.progress->feed(buffer, static_cast<size_t>(got));
  }

  void enforce_timeouts() {
    const auto now = Clock::now();
    for (auto& [id, w] : workers_) {
      if (w.job.timeout <= 0) continue;
      const double seconds = std::chrono::duration<double>(now - w.progress->started).count();
      if (seconds > w.job.timeout && !w.term_sent) {
        w.timed_out = w.term_sent = true;
        ::kill(w.pid, SIGTERM);
      } else if (seconds > w.job.timeout + 3) {
        ::kill(w.pid, SIGKILL);  // it ignored SIGTERM (a hang in plugin code)
      }
    }
  }

  std::vector<std::pair<size_t, NodeOutcome>> reap() {
    std::vector<std::pair<size_t, NodeOutcome>> ended;
    for (auto it = workers_.begin(); it != workers_.end();) {
      Worker& w = it->second;
      int status = 0;
      if (::waitpid(w.pid, &status, WNOHANG) != w.pid) {
        ++it;
        continue;
      }
      drain(w);
      ::close(w.out_fd);
      NodeOutcome out;
      out.seconds = std::chrono::duration<double>(Clock::now() - w.progress->started).count();
      const fs::path log = log_file(w.job.dir, w.job.kind);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && fs::exists(finished_file(w.job))) {
        out.kind = NodeOutcome::Kind::Finished;
      } else if (w.timed_out) {
        // Its own timeout, whether it then saved a checkpoint (exit 130) or had to be killed.
        out.reason =
            "timed out after " + format_duration(w.job.timeout) +
            (WIFEXITED(status) && WEXITSTATUS(status) == 130 ? " (a checkpoint was saved)" : " and was killed");
      } else if (WIFEXITED(status) && WEXITSTATUS(status) == 130) {
        out.kind = NodeOutcome::Kind::Cancelled;
        out.reason = "interrupted after a checkpoint; resume with --resume";
      } else if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        out.reason = std::string("killed by signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")";
        if (sig == SIGKILL) out.reason += ": out of memory, or killed from outside";
      } else {
        out.reason = w.progress->error.empty() ? failure_line(log) : w.progress->error;
      }
      ended.emplace_back(it->first, std::move(out));
      it = workers_.erase(it);
    }
    return ended;
  }

  const SchedulerOptions& o_;
  int budget_ = 1;
  std::map<size_t, Worker> workers_;
};

}  // namespace

std::unique_ptr<Executor> make_local_executor(const SchedulerOptions& options) {
  return std::make_unique<LocalExecutor>(options);
}

}  // namespace genlab
