// The scheduler: an experiment's steps as a DAG (prepare data -> train -> evaluate, then
// one report), run by an executor (executor.hpp): the local one runs worker processes in
// parallel up to --jobs and within a thread budget; the Slurm one submits batch jobs. A
// node that crashes, aborts, hangs past its timeout or runs out of memory fails alone, with
// its reason and log tail recorded; its dependents are skipped; everything else goes on
// (unless --fail-fast). Finished nodes are never run again.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "genlab/core/experiment.hpp"
#include "genlab/core/workspace.hpp"

namespace genlab {

struct SchedulerOptions {
  int jobs = 1;                      // worker processes at once (Slurm: jobs submitted at once; 0: no cap)
  std::string executor;              // "local" or "slurm"; empty: the manifest's [executor] kind
  int thread_budget = 0;             // CPU threads shared by running nodes; 0: the machine's cores
  bool resume = false;               // continue interrupted training from its checkpoint
  bool restart = false;              // train interrupted runs again from step 0 (their checkpoints are deleted)
  bool fail_fast = false;            // stop at the first failure (default: keep going)
  bool quiet = false;                // plain periodic lines instead of live progress bars
  std::filesystem::path executable;  // the genlab binary that runs `genlab worker`
};

// Paused: a trial of ASHA stopped at a rung, waiting for the search to promote it; Pruned:
// one the search stopped there for good (and its evaluation), which is no failure.
enum class NodeState { Pending, Running, Finished, Failed, Skipped, Cancelled, Paused, Pruned };
const char* node_state_name(NodeState state);

struct NodeResult {
  NodeKind kind;
  std::string label;  // "train gmm8-ring-s1"
  std::filesystem::path dir;
  NodeState state = NodeState::Pending;
  bool reused = false;  // finished in an earlier invocation: not run again
  std::string reason;   // why it failed or was skipped
  double seconds = 0;
};

struct ScheduleResult {
  std::vector<NodeResult> nodes;
  bool interrupted = false;  // Ctrl-C: running nodes saved a checkpoint and stopped
  size_t failed() const;
};

ScheduleResult run_scheduler(const Experiment& experiment, const SchedulerOptions& options);

// Writes summary.json and summary.md into the experiment's folder (the report node).
void write_summary(const Experiment& experiment, const ScheduleResult& result);

// The experiment folders of a workspace (those with a runs/ folder), sorted; throws
// HostError when `workspace` is no folder.
std::vector<std::filesystem::path> experiment_folders(const std::filesystem::path& workspace);

// A run as its folder tells it: the states of its train and evaluate nodes ("finished",
// "running", "interrupted", "failed", "pending", "slurm <job>"...), the steps done (-1:
// none logged), seconds, when its train state was last written (unix seconds), and why it
// failed, with the end of its log.
struct RunStatus {
  std::string name, train, evaluate, reason, log_tail;
  int64_t step = -1;
  double seconds = 0;
  int64_t updated = 0;
};
RunStatus run_status(const std::filesystem::path& run_dir);

// `genlab status`: every run of every experiment under `workspace`, as a table.
std::string workspace_status(const std::filesystem::path& workspace);

}  // namespace genlab
