// Data-parallel training (data_parallel.cpp): which of a run's processes this one is, the
// ranks a local rank 0 starts and watches, and the final state the ranks must agree on.
// Internal to the core library.
//
// A run with experiment.processes = N > 1 trains in N processes, each on its contiguous
// 1/N of every global batch (drawn the same way in all of them, from the run's seed). The
// model's SDK layer averages the gradients and the losses and agrees on when to stop (see
// genlab/sdk/distributed.hpp); the host gives each process its rank and a rendezvous file.
// Under Slurm the N tasks of one job step are the processes; with the local executor, rank
// 0 (the worker the scheduler started) starts ranks 1..N-1 itself and watches them. Only
// rank 0 writes the run's files; rank R > 0 logs to train.rank<R>.log.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "genlab/core/experiment.hpp"
#include "genlab/core/instances.hpp"

namespace genlab {

// This process's place among the processes that train one run.
struct Ranks {
  int32_t rank = 0;
  int32_t world_size = 1;
  std::filesystem::path rendezvous;  // the file where they meet (c10d's FileStore); empty for one
  bool starts_others = false;        // rank 0 of the local executor: starts and watches ranks 1..N-1
  bool started_by_rank0 = false;     // one of those: its stdout is a pipe back to rank 0
};

// The place of this process among those training run `r` (in folder `dir`): from the
// variables a local rank 0 set, from Slurm's, or rank 0 of the local executor.
Ranks ranks_of(const std::filesystem::path& dir, const RunPlan& r);

// Rank R > 0 logs to <dir>/train.rank<R>.log: its stderr (spdlog's sink) goes there.
void log_to_rank_file(const std::filesystem::path& dir, int32_t rank, bool resume);

// Passes SIGINT or SIGTERM on to the ranks this process started (LocalRanks): they must
// stop after the same step as this one. Async-signal-safe: the worker's signal handler
// calls it.
void forward_stop_signal_to_local_ranks(int sig);

// Ranks 1..N-1 of a run the local executor trains over N processes: children of rank 0
// running this binary, told their place by environment variables. They die with rank 0
// (PR_SET_PDEATHSIG), get its SIGINT and SIGTERM, log to train.rank<R>.log, and report on
// a pipe (their "error" line, the digests of their final state). A watcher thread reaps them:
// when one fails, rank 0 fails the node with that rank's reason rather than wait forever in
// a collective that rank will never join.
class LocalRanks {
 public:
  LocalRanks(const Ranks& ranks, const std::filesystem::path& dir, bool resume);
  ~LocalRanks();

  // Rank 0 failed with `own`: the error to report. Another rank's failure seen within
  // `wait` leads it, since rank 0's own error is then mostly Gloo's "connection closed".
  std::string failure_beside(const std::string& own, std::chrono::milliseconds wait);

  // Rank 0 ended its training: waits for the others, which end after the same step, and
  // returns the digests of their final states by tensor name, by rank from 1 (empty for a
  // rank that stopped cancelled). Throws naming a rank that failed or did not end within
  // `timeout`.
  std::vector<std::map<std::string, std::string>> finish(std::chrono::seconds timeout);

 private:
  struct Child {
    int32_t rank = 0;
    pid_t pid = -1;
    int out_fd = -1;
    bool exited = false;
    int status = 0;
    std::string out, error;                      // its stdout; its "error" line
    std::map<std::string, std::string> digests;  // its "tensor DIGEST NAME" lines: its final state
  };

  std::filesystem::path log_of(const Child& c) const;
  std::string describe(const Child& c) const;
  static void drain(Child& c);
  void watch();

  const int32_t world_size_;
  const std::filesystem::path dir_, rendezvous_;
  std::vector<Child> children_;
  const Child* first_failure_ = nullptr;
  // Who reports how rank 0 ended: its main thread, or the watcher when the main thread is stuck.
  enum class Reporter { None, Main, Watcher } reporter_ = Reporter::None;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread watcher_;
};

// Removes a rank 0's rendezvous file when the training ends (all ranks met long before), and
// its folder when that is left empty.
class RendezvousCleanup {
 public:
  explicit RendezvousCleanup(std::filesystem::path file) : file_(std::move(file)) {}
  ~RendezvousCleanup();
  RendezvousCleanup(const RendezvousCleanup&) = delete;
  RendezvousCleanup& operator=(const RendezvousCleanup&) = delete;

 private:
  std::filesystem::path file_;
};

// The ranks must end with the same trained state: each logs the digests of `model`'s state
// after `steps` steps, a rank started by rank 0 sends them on its stdout, and a local rank 0
// (`others` not null) waits for the others and compares theirs with its own, tensor by
// tensor. Throws when a trained tensor differs.
void agree_on_final_state(const std::filesystem::path& dir, ModelInstance& model, const Ranks& ranks,
                          LocalRanks* others, int64_t steps);

}  // namespace genlab
