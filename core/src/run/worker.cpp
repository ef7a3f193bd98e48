// The worker's entry (`genlab worker KIND DIR [--resume]`): installs the stop-signal
// handlers, runs the node (prepare.cpp, train.cpp, evaluate.cpp) and reports its error on
// stdout; also what every node shares, the cancel flag and the host settings a component
// gets. The nodes' jobs live in their own files; this one only starts them.
#include "genlab/core/worker.hpp"
#include "data_parallel.hpp"
#include "worker_parts.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <spdlog/spdlog.h>

#include "genlab/core/discovery.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/ops.hpp"

namespace genlab {
namespace fs = std::filesystem;

std::shared_ptr<std::atomic<bool>> cancel_flag = std::make_shared<std::atomic<bool>>(false);

namespace {

extern "C" void on_stop_signal(int sig) {
  cancel_flag->store(true);
  forward_stop_signal_to_local_ranks(sig);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

HostSettings settings_for(const Component& c, const RunPlan& r) {
  HostSettings s;
  s.plugin_name = c.plugin_name;
  s.seed = static_cast<uint64_t>(r.seed);
  s.num_threads = r.settings.threads;
  // The run's precision is the model's compute; datasets and metrics read float32.
  if (&c == &r.model)
    s.precision = r.settings.precision == "bf16"   ? GENLAB_PRECISION_BF16
                  : r.settings.precision == "fp16" ? GENLAB_PRECISION_FP16
                                                   : GENLAB_PRECISION_FP32;
  s.cancel = cancel_flag;
  // The backends serving this run's ops (run_op) share its thread budget; they are found
  // where the model's own plugin folder is (a manifest's plugin_paths), on GENLAB_PLUGIN_PATH
  // and among the built-ins. A worker runs one run, so one dispatcher per process.
  static const auto ops = std::make_shared<OpDispatcher>(
      plugin_search_path({r.model.plugin->library().parent_path().parent_path()}), r.settings.threads);
  s.ops = ops;
  return s;
}

DLDevice parse_device(const std::string& device) {
  if (device == "cpu") return DLDevice{kDLCPU, 0};
  // "cuda:N", N checked as at most 4 digits when the manifest was read.
  const int32_t index = device.size() > 5 ? static_cast<int32_t>(std::strtol(device.c_str() + 5, nullptr, 10)) : 0;
  return DLDevice{kDLCUDA, index};
}

std::vector<int64_t> first_indices(int64_t count) {
  std::vector<int64_t> v(static_cast<size_t>(count));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

int run_worker(NodeKind kind, const fs::path& dir, bool resume) {
  install_signal_handlers();
  try {
    switch (kind) {
      case NodeKind::Prepare: return prepare(dir);
      case NodeKind::Train: return train(dir, resume);
      case NodeKind::Evaluate: return evaluate(dir);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    // Also on stdout, the scheduler's pipe: the log may be on a disk that is full.
    std::string line = e.what();
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::printf("error %s\n", line.c_str());
    std::fflush(stdout);
    return 1;
  }
  return 1;
}

}  // namespace genlab
