// Executors: where the scheduler's nodes run. The scheduler owns the DAG (what is ready,
// what is skipped, state files, the display); an executor starts a ready node, reports its
// progress and how it ended, and stops it when asked. Two exist:
//   local  worker processes on this machine, within --jobs and a thread budget (the default)
//   slurm  one batch job per node on a Slurm cluster, tracked with squeue and scontrol/sacct
// Both run the same `genlab worker KIND DIR`, which reads its node's folder and writes its
// results there, so a cluster needs only the workspace (and the plugins) shared.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <toml++/toml.h>

#include "genlab/core/experiment.hpp"
#include "genlab/core/workspace.hpp"

namespace genlab {

// One node as an executor sees it.
struct NodeJob {
  NodeKind kind = NodeKind::Train;
  std::string label;  // "train gmm8-ring-s1"
  std::filesystem::path dir;
  int threads = 1;
  int processes = 1;  // data-parallel processes of a train node
  double timeout = 0;
  int64_t memory_limit_mb = 0;
  bool resume = false;  // continue from the node's checkpoint
  int64_t until = 0;    // a train node of ASHA stopping at a rung: that step (0: the budget's end)
};

// The file whose presence says a node did what it was started for: its done file, or the
// rung's file of a trial that stops at a rung.
inline std::filesystem::path finished_file(const NodeJob& job) {
  return job.until > 0 ? rung_file(job.dir, job.until) : done_file(job.dir, job.kind);
}

// The worker's progress lines ("progress <step> <total> <loss name> <loss>", "error <text>"),
// parsed from its stdout, wherever that goes (a pipe, or a file on shared storage).
struct NodeProgress {
  using Clock = std::chrono::steady_clock;
  Clock::time_point started;
  int64_t step = 0, total = 0;
  int64_t first_step = -1;  // the first progress line: rates leave start-up out
  Clock::time_point first_step_time;
  std::string loss_name;
  double loss = NAN;
  std::string error;   // the worker's "error ..." line, if any
  std::string status;  // what the executor says while the node is not yet running ("queued: Resources")

  // Appends output and parses every complete line.
  void feed(const char* data, size_t size);

 private:
  std::string buffer_;
};

// How a node ended.
struct NodeOutcome {
  enum class Kind { Finished, Failed, Cancelled, Detached } kind = Kind::Failed;
  std::string reason;  // why it failed, was cancelled or was left running
  double seconds = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;

  // Whether a node needing `threads` may start now, with `running` nodes running.
  virtual bool has_room(size_t running, int running_threads, int threads) const = 0;
  // Starts `job` as node `id`; `progress` lives until the node ends. Throws HostError (the
  // node then fails with that reason).
  virtual void start(size_t id, const NodeJob& job, NodeProgress& progress) = 0;
  // A node that an earlier `genlab run` started and whose state file says it was running:
  // true if it is still running somewhere and is now tracked again instead of started.
  virtual bool reattach(size_t /*id*/, const NodeJob& /*job*/, const toml::table& /*state*/,
                        NodeProgress& /*progress*/) {
    return false;
  }
  // Waits up to `timeout_ms` for news; returns the nodes that ended since the last call.
  virtual std::vector<std::pair<size_t, NodeOutcome>> poll(int timeout_ms) = 0;
  // Ctrl-C on the host: local nodes checkpoint and stop; cluster jobs are left running.
  // Returns what happens, for the user.
  virtual std::string interrupt() = 0;
  // --fail-fast after another node failed: stop this one.
  virtual void stop(size_t id) = 0;
  // What the node's state file records about where it runs (a pid, a Slurm job id).
  virtual toml::table where(size_t id) const = 0;
};

struct SchedulerOptions;
std::unique_ptr<Executor> make_local_executor(const SchedulerOptions& options);
std::unique_ptr<Executor> make_slurm_executor(const ExecutorSettings& settings, const SchedulerOptions& options);

// `genlab cancel`: cancels what runs the experiment's nodes (Slurm jobs with scancel, local
// workers with SIGTERM, which checkpoint and stop). Returns one line per node cancelled.
std::vector<std::string> cancel_experiment(const Experiment& experiment);

// Slurm's job states as genlab sees them (exposed for tests).
enum class SlurmPhase { Queued, Running, Ended, Unknown };
SlurmPhase slurm_phase(const std::string& state);
// How a job that ended in `state` ends its node; `done` says whether the worker wrote the
// node's done file; `exit_code` is Slurm's "N:S".
NodeOutcome slurm_outcome(const std::string& state, bool done, const std::string& exit_code,
                          const std::string& failure_line);

// The last `count` non-empty lines of a file, and the reason a worker gave for failing (its
// last error line, else its last line).
std::string last_lines(const std::filesystem::path& file, size_t count);
std::string failure_line(const std::filesystem::path& log);
std::string format_duration(double seconds);

}  // namespace genlab
