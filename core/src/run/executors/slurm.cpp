// The Slurm executor: each ready node becomes one batch job running `genlab worker KIND DIR`
// on a compute node (with --ntasks = the run's processes, started by srun). Dependencies
// are kept by the scheduler: a node is submitted when its inputs are finished, so a failed
// input skips its dependents here as it does locally. Jobs are tracked with squeue while
// queued or running and, once they end, with `scontrol show job` (or sacct where Slurm keeps
// accounting). Results, logs and checkpoints are the worker's files in the shared workspace:
// nothing is copied back.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "genlab/util/error.hpp"
#include "genlab/core/executor.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/util/files.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs a program (no shell: paths may hold anything) and collects its output.
CommandResult run_command(const std::vector<std::string>& args) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw HostError("cannot create a pipe to run " + args[0]);
  const pid_t pid = ::fork();
  if (pid < 0) throw HostError("cannot run " + args[0] + " (fork failed)");
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    const std::string message = std::string("cannot run ") + args[0] + ": " + std::strerror(errno);
    (void)!::write(STDERR_FILENO, message.data(), message.size());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  CommandResult r;
  // Both pipes are read to the end; Slurm's clients print little, so stderr cannot fill
  // its pipe while stdout is being read.
  auto read_all = [](int fd, std::string& into) {
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(fd, buffer, sizeof buffer)) > 0) into.append(buffer, static_cast<size_t>(got));
    ::close(fd);
  };
  read_all(out_pipe[0], r.out);
  read_all(err_pipe[0], r.err);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t first = 0;
  while (first < s.size() && std::isspace(static_cast<unsigned char>(s[first]))) ++first;
  return s.substr(first);
}

std::string command_text(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    const bool plain = a.find_first_of(" \t'\"$\\;&|<>()*?`") == std::string::npos && !a.empty();
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += (out.empty() ? "" : " ") + (plain ? a : quoted + "'");
  }
  return out;
}

// The value of `Key=` in one line of `scontrol show job -o` (fields are space-separated).
std::string scontrol_field(const std::string& line, const std::string& key) {
  const std::string needle = key + "=";
  for (size_t at = line.find(needle); at != std::string::npos; at = line.find(needle, at + 1)) {
    if (at != 0 && line[at - 1] != ' ') continue;
    const size_t begin = at + needle.size();
    return line.substr(begin, line.find(' ', begin) - begin);
  }
  return {};
}

// Where a job stands, as squeue, scontrol or sacct said.
struct JobState {
  std::string state;      // Slurm's word: PENDING, RUNNING, COMPLETED, ...
  std::string reason;     // why it is pending
  std::string exit_code;  // "N:S", once ended
};

// Active jobs of this user: squeue lists nothing for a job that has ended.
std::map<std::string, JobState> queued_jobs(const std::vector<std::string>& ids) {
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  // --states=all, so a job squeue still shows in a final state is returned as such; an id
  // squeue has forgotten makes it fail ("Invalid job id") only when no id is known at all.
  const CommandResult r = run_command({"squeue", "-h", "--states=all", "-o", "%i|%T|%r", "-j", list});
  std::map<std::string, JobState> out;
  if (r.exit_code != 0) {
    if (r.err.find("Invalid job id") != std::string::npos) return out;
    throw HostError("squeue failed (exit " + std::to_string(r.exit_code) + "): " + trimmed(r.err));
  }
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find('|'), b = line.find('|', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    out[trimmed(line.substr(0, a))] = JobState{line.substr(a + 1, b - a - 1), trimmed(line.substr(b + 1)), ""};
  }
  return out;
}

// A job's final state: scontrol keeps it for MinJobAge seconds, sacct for as long as the
// cluster keeps accounting. Empty state when neither knows the job.
JobState final_state(const std::string& id) {
  const CommandResult s = run_command({"scontrol", "show", "job", "-o", id});
  if (s.exit_code == 0) {
    const std::string state = scontrol_field(s.out, "JobState");
    if (!state.empty()) return JobState{state, scontrol_field(s.out, "Reason"), scontrol_field(s.out, "ExitCode")};
  }
  const CommandResult a = run_command({"sacct", "-n", "-P", "-X", "-j", id, "-o", "State,ExitCode"});
  if (a.exit_code == 0) {
    const std::string line = trimmed(a.out.substr(0, a.out.find('\n')));
    if (const size_t bar = line.find('|'); bar != std::string::npos)
      return JobState{line.substr(0, line.find_first_of(" |")), "", line.substr(bar + 1)};
  }
  return {};
}

class SlurmExecutor final : public Executor {
 public:
  SlurmExecutor(const ExecutorSettings& x, const SchedulerOptions& o) : x_(x), o_(o) {
    genlab_ = x.genlab.empty() ? o.executable : fs::path(x.genlab);
    const CommandResult probe = run_command({"sbatch", "--version"});
    if (probe.exit_code != 0)
      throw HostError("the Slurm executor needs Slurm's client commands (sbatch, squeue, scontrol, scancel) on PATH: " +
                      (trimmed(probe.err).empty() ? "sbatch --version failed" : trimmed(probe.err)));
  }

  bool has_room(size_t running, int, int) const override {
    return o_.jobs <= 0 || running < static_cast<size_t>(o_.jobs);
  }

  void start(size_t id, const NodeJob& job, NodeProgress& progress) override {
    const std::string kind = node_kind_name(job.kind);
    const fs::path out = job.dir / (kind + ".out");  // the worker's stdout: progress lines
    std::error_code ignored;
    fs::remove(out, ignored);
    std::string name = "genlab:" + job.label;  // "genlab:train:gmm-ring-s1"
    std::replace(name.begin(), name.end(), ' ', ':');
    std::vector<std::string> args = {
        "sbatch",
        "--parsable",
        "--job-name=" + name,
        "--output=" + out.string(),
        "--error=" + log_file(job.dir, job.kind).string(),
        std::string("--open-mode=") + (job.resume ? "append" : "truncate"),
        "--ntasks=" + std::to_string(job.processes),
        "--cpus-per-task=" + std::to_string(x_.cpus_per_run > 0 ? x_.cpus_per_run : job.threads)};
    if (!x_.partition.empty()) args.push_back("--partition=" + x_.partition);
    if (!x_.account.empty()) args.push_back("--account=" + x_.account);
    if (x_.gpus_per_run > 0) args.push_back("--gpus-per-task=" + std::to_string(x_.gpus_per_run));
    const int64_t memory = x_.memory_mb_per_run > 0 ? x_.memory_mb_per_run : job.memory_limit_mb;
    if (memory > 0) args.push_back("--mem=" + std::to_string(memory * job.processes) + "M");
    if (!x_.time_limit.empty()) args.push_back("--time=" + x_.time_limit);
    else if (job.timeout > 0)
      args.push_back("--time=" + std::to_string(static_cast<int64_t>(std::ceil(job.timeout / 60))));
    for (const auto& extra : x_.sbatch_options) args.push_back(extra);
    const fs::path script = job.dir / (kind + ".sbatch");
    args.push_back(script.string());
    write_file_atomic(script, batch_script(job, args), Durability::AtomicOnly);
    fs::permissions(script, fs::perms::owner_exec, fs::perm_options::add, ignored);

    const CommandResult r = run_command(args);
    const std::string id_text = trimmed(r.out.substr(0, r.out.find(';')));  // "123" or "123;cluster"
    if (r.exit_code != 0 || id_text.empty() || id_text.find_first_not_of("0123456789_") != std::string::npos)
      throw HostError("sbatch refused the job (exit " + std::to_string(r.exit_code) +
                      "): " + (trimmed(r.err).empty() ? trimmed(r.out) : trimmed(r.err)) +
                      "; the command: " + command_text(args));
    progress.status = "submitted as Slurm job " + id_text;
    jobs_[id] = Job{job, &progress, id_text, out, 0, Clock::now()};
    next_query_ = Clock::now();  // learn the new job's state soon
  }

  bool reattach(size_t id, const NodeJob& job, const toml::table& state, NodeProgress& progress) override {
    if (state["executor"].value_or(std::string()) != "slurm") return false;
    const std::string job_id = state["slurm_job"].value_or(std::string());
    if (job_id.empty()) return false;
    const auto active = queued_jobs({job_id});
    const auto it = active.find(job_id);
    if (it == active.end() || slurm_phase(it->second.state) == SlurmPhase::Ended) return false;
    progress.status = "re-attached to Slurm job " + job_id;
    const fs::path out = job.dir / (std::string(node_kind_name(job.kind)) + ".out");
    jobs_[id] = Job{job, &progress, job_id, out, 0, Clock::now()};
    return true;
  }

  std::vector<std::pair<size_t, NodeOutcome>> poll(int timeout_ms) override {
    std::vector<std::pair<size_t, NodeOutcome>> ended;
    if (detached_) {  // Ctrl-C: the jobs go on without us
      for (auto& [id, j] : jobs_)
        ended.emplace_back(id, NodeOutcome{NodeOutcome::Kind::Detached,
                                           "left running as Slurm job " + j.slurm_id +
                                               ": `genlab run` again re-attaches to it, `genlab cancel` cancels it",
                                           seconds_since(j.submitted)});
      jobs_.clear();
      return ended;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    for (auto& [id, j] : jobs_) read_progress(j);
    if (jobs_.empty() || Clock::now() < next_query_) return ended;
    next_query_ = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(x_.poll_seconds * 1000));

    std::vector<std::string> ids;
    for (const auto& [id, j] : jobs_) ids.push_back(j.slurm_id);
    std::map<std::string, JobState> active;
    try {
      active = queued_jobs(ids);
    } catch (const HostError& err) {
      // The controller may be restarting: say so and ask again at the next poll.
      for (auto& [id, j] : jobs_) j.progress->status = std::string("squeue failed, retrying: ") + err.what();
      return ended;
    }
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      Job& j = it->second;
      JobState state;
      if (auto a = active.find(j.slurm_id); a != active.end()) state = a->second;
      const SlurmPhase phase = slurm_phase(state.state);
      if (phase == SlurmPhase::Queued || phase == SlurmPhase::Running) {
        if (phase == SlurmPhase::Queued)
          j.progress->status =
              "queued as Slurm job " + j.slurm_id + (state.reason.empty() ? "" : " (" + state.reason + ")");
        else if (j.progress->step == 0) j.progress->status = "running as Slurm job " + j.slurm_id;
        ++it;
        continue;
      }
      if (phase != SlurmPhase::Ended || state.exit_code.empty()) {
        const JobState last = final_state(j.slurm_id);
        if (!last.state.empty()) state = last;
      }
      if (slurm_phase(state.state) != SlurmPhase::Ended && !state.state.empty()) {  // e.g. between states
        ++it;
        continue;
      }
      read_progress(j);
      const bool done = fs::exists(finished_file(j.job));
      NodeOutcome outcome;
      if (state.state.empty()) {
        outcome.kind = done ? NodeOutcome::Kind::Finished : NodeOutcome::Kind::Failed;
        if (!done)
          outcome.reason = "Slurm no longer knows job " + j.slurm_id +
                           " and the node wrote no done file: " + failure_line(log_file(j.job.dir, j.job.kind));
      } else {
        const std::string why =
            j.progress->error.empty() ? failure_line(log_file(j.job.dir, j.job.kind)) : j.progress->error;
        outcome = slurm_outcome(state.state, done, state.exit_code, why);
        if (outcome.kind != NodeOutcome::Kind::Finished) outcome.reason += " [Slurm job " + j.slurm_id + "]";
      }
      outcome.seconds = seconds_since(j.submitted);
      ended.emplace_back(it->first, std::move(outcome));
      it = jobs_.erase(it);
    }
    return ended;
  }

  std::string interrupt() override {
    detached_ = true;
    return "interrupted: the Slurm jobs go on; `genlab run` again re-attaches to them, `genlab cancel` cancels them";
  }

  void stop(size_t id) override {
    if (auto it = jobs_.find(id); it != jobs_.end()) run_command({"scancel", it->second.slurm_id});
  }

  toml::table where(size_t id) const override {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return {};
    return toml::table{{"executor", "slurm"}, {"slurm_job", it->second.slurm_id}};
  }

 private:
  struct Job {
    NodeJob job;
    NodeProgress* progress = nullptr;
    std::string slurm_id;
    fs::path out;         // the worker's stdout on the shared workspace
    uint64_t offset = 0;  // how much of it was read
    Clock::time_point submitted;
  };

  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

  // Progress lines come through the shared file system: read what was appended since.
  static void read_progress(Job& j) {
    std::ifstream in(j.out, std::ios::binary);
    if (!in) return;
    in.seekg(0, std::ios::end);
    const auto size = static_cast<uint64_t>(in.tellg());
    if (size < j.offset) j.offset = 0;  // truncated by a new job
    if (size == j.offset) return;
    in.seekg(static_cast<std::streamoff>(j.offset));
    std::string text(size - j.offset, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    j.offset = size;
    j.progress->feed(text.data(), text.size());
  }

  std::string batch_script(const NodeJob& job, const std::vector<std::string>& sbatch) const {
    std::vector<std::string> worker = {genlab_.string(), "worker", node_kind_name(job.kind), job.dir.string()};
    if (job.resume) worker.push_back("--resume");
    const std::string threads = std::to_string(job.threads);
    std::ostringstream s;
    s << "#!/bin/bash\n"
      << "# genlab: " << job.label << "\n"
      << "# submitted with: " << command_text(sbatch) << "\n"
      << "# The host owns both thread pools: LibTorch's OpenMP and OpenBLAS's.\n"
      << "export OMP_NUM_THREADS=" << threads << " OPENBLAS_NUM_THREADS=" << threads << " MKL_NUM_THREADS=" << threads
      << "\n";
    // Several processes: srun starts one task each; the worker takes its rank and the world
    // size from SLURM_PROCID and SLURM_NTASKS. One task that fails ends the others.
    if (job.processes > 1) s << "exec srun --kill-on-bad-exit=1 " << command_text(worker) << "\n";
    else s << "exec " << command_text(worker) << "\n";
    return s.str();
  }

  const ExecutorSettings& x_;
  const SchedulerOptions& o_;
  fs::path genlab_;
  std::map<size_t, Job> jobs_;
  Clock::time_point next_query_;
  bool detached_ = false;
};

}  // namespace

SlurmPhase slurm_phase(const std::string& state) {
  static const std::vector<std::string> queued = {"PENDING",     "CONFIGURING", "REQUEUED", "REQUEUE_HOLD",
                                                  "REQUEUE_FED", "RESIZING",    "SUSPENDED"};
  static const std::vector<std::string> running = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "STOPPED"};
  static const std::vector<std::string> ended = {"COMPLETED", "FAILED",        "TIMEOUT",     "CANCELLED",
                                                 "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",   "BOOT_FAIL",
                                                 "DEADLINE",  "REVOKED",       "SPECIAL_EXIT"};
  // sacct writes "CANCELLED by 0"; the first word is the state.
  const std::string word = state.substr(0, state.find(' '));
  auto in = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), word) != v.end(); };
  if (in(queued)) return SlurmPhase::Queued;
  if (in(running)) return SlurmPhase::Running;
  if (in(ended)) return SlurmPhase::Ended;
  return SlurmPhase::Unknown;
}

NodeOutcome slurm_outcome(const std::string& state, bool done, const std::string& exit_code,
                          const std::string& failure) {
  const std::string word = state.substr(0, state.find(' '));
  NodeOutcome out;
  out.kind = NodeOutcome::Kind::Failed;
  if (done && word == "COMPLETED") {
    out.kind = NodeOutcome::Kind::Finished;
  } else if (word == "COMPLETED") {
    out.reason = "the job completed but the worker wrote no done file: " + failure;
  } else if (word == "FAILED") {
    out.reason = failure + " (Slurm: FAILED, exit code " + exit_code + ")";
  } else if (word == "TIMEOUT") {
    out.reason =
        "reached Slurm's time limit (executor.time_limit or the node's timeout); `genlab run --resume` "
        "continues from its last checkpoint";
  } else if (word == "CANCELLED") {
    out.reason = "cancelled on Slurm (scancel); `genlab run --resume` continues from its last checkpoint";
  } else if (word == "OUT_OF_MEMORY") {
    out.reason = "out of memory (Slurm: OUT_OF_MEMORY); raise executor.memory_mb_per_run";
  } else if (word == "NODE_FAIL") {
    out.reason = "the compute node failed (Slurm: NODE_FAIL); `genlab run --resume` runs it again";
  } else if (word == "PREEMPTED") {
    out.reason = "preempted by Slurm; `genlab run --resume` continues from its last checkpoint";
  } else {
    out.reason = "the job ended in Slurm state " + state + " (exit code " + exit_code + "): " + failure;
  }
  return out;
}

std::unique_ptr<Executor> make_slurm_executor(const ExecutorSettings& settings, const SchedulerOptions& options) {
  return std::make_unique<SlurmExecutor>(settings, options);
}

// ------------------------------------------------------------------------------ cancel

std::vector<std::string> cancel_experiment(const Experiment& e) {
  std::vector<fs::path> dirs;
  auto add_tree = [&](const fs::path& root) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) return;
    for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_directory(ec)) dirs.push_back(it->path());
  };
  add_tree(e.folder());
  for (const auto& net : e.feature_runs) add_tree(e.feature_folder(net));
  std::sort(dirs.begin(), dirs.end());
  std::vector<std::string> cancelled;
  for (const auto& dir : dirs) {
    for (auto kind : {NodeKind::Prepare, NodeKind::Train, NodeKind::Evaluate}) {
      const auto state = read_toml(state_file(dir, kind));
      if (!state || (*state)["state"].value_or(std::string()) != "running") continue;
      const std::string label = (*state)["label"].value_or(dir.string());
      if (const auto job = (*state)["slurm_job"].value<std::string>()) {
        const CommandResult r = run_command({"scancel", *job});
        if (r.exit_code != 0) throw HostError("scancel " + *job + " (" + label + ") failed: " + trimmed(r.err));
        cancelled.push_back(label + ": Slurm job " + *job + " cancelled");
      } else if (const auto pid = (*state)["pid"].value<int64_t>()) {
        // Only while a host holds the node's lock: otherwise the pid is stale (a dead host's
        // workers died with it) and may belong to another process by now.
        FolderLock probe(dir);
        if (probe.try_acquire()) continue;
        if (::kill(static_cast<pid_t>(*pid), SIGTERM) == 0)
          cancelled.push_back(label + ": worker " + std::to_string(*pid) + " asked to checkpoint and stop");
      }
    }
  }
  return cancelled;
}

}  // namespace genlab
