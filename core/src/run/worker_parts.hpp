// What the worker's nodes share, and the nodes themselves: worker.cpp (the entry, signal
// handling, the host settings), prepare.cpp, train.cpp (with checkpoint.cpp, progress.cpp,
// data_parallel.cpp) and evaluate.cpp. Internal to the core library.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include "genlab/core/experiment.hpp"
#include "genlab/core/instances.hpp"

namespace genlab {

// Set by SIGINT/SIGTERM; plugins see it through genlab_host_api::is_cancelled.
extern std::shared_ptr<std::atomic<bool>> cancel_flag;

// A map of borrowed tensors to hand to a plugin or to the host's own writers (checkpoints).
struct BorrowedMap {
  std::vector<const char*> names;
  std::vector<DLManagedTensor*> tensors;
  genlab_tensor_map view() {
    return {GENLAB_TENSOR_MAP_STRUCT_SIZE, names.size(), names.data(), tensors.data(), nullptr};
  }
  void add(const char* name, DLManagedTensor* t) {
    names.push_back(name);
    tensors.push_back(t);
  }
};

// The host settings a component of run `r` gets (its seed, thread budget, ops).
HostSettings settings_for(const Component& c, const RunPlan& r);
DLDevice parse_device(const std::string& device);
// 0, 1, ..., count - 1
std::vector<int64_t> first_indices(int64_t count);
// Loads the weights of run `r`'s checkpoint into `model` (the host's loop state is ignored;
// checkpoint.cpp).
void load_weights(ModelInstance& model, const RunPlan& r, const std::filesystem::path& checkpoint);

// The prepare node of the dataset folder `dir` (prepare.cpp).
int prepare(const std::filesystem::path& dir);
// How train.done.toml's cpu_seconds were counted: from the first step, leaving out the
// loading of plugins and data (since 2026-12). A done file without it counted them.
inline constexpr const char* kCpuFromFirstStep = "first step";

// The train node of the run folder `dir`, from its checkpoint when `resume` (train.cpp).
int train(const std::filesystem::path& dir, bool resume);
// The evaluate node of the evaluation folder `dir` (evaluate.cpp).
int evaluate(const std::filesystem::path& dir);

}  // namespace genlab
