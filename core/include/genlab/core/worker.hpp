// Worker mode: `genlab worker KIND DIR [--resume]`, one node of an experiment in its own
// process, started by the scheduler. Whatever a plugin does here (segfault, abort, hang,
// exhaust memory) ends this process only; the scheduler records it.
//
// The worker reads its node's folder (run.toml or node.toml), writes its log to stderr
// (the scheduler sends that to the node's log file) and progress lines to stdout:
//   progress <step> <total or 0> <first loss name> <first loss value>
// and, as its last act, the node's done file. Exit codes: 0 done, 1 failed (the reason is
// the last log line), 130 cancelled after a checkpoint (SIGINT or SIGTERM).
#pragma once

#include <filesystem>

#include "genlab/core/workspace.hpp"

namespace genlab {

constexpr int kWorkerCancelled = 130;

int run_worker(NodeKind kind, const std::filesystem::path& dir, bool resume);

}  // namespace genlab
