// The training checkpoint (checkpoint.cpp): the model's state and the host's loop state in
// one safetensors file. Internal to the core library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <vector>

#include "genlab/core/experiment.hpp"
#include "genlab/core/instances.hpp"

namespace genlab {

// The host's part of the training state, saved in every checkpoint beside the model's, so
// a resumed run draws the same batches as an uninterrupted one.
struct LoopState {
  int64_t step = 0;
  std::mt19937_64 rng;
  std::vector<int64_t> order;  // the current epoch's permutation of the train split
  size_t cursor = 0;           // next position in `order`
  double elapsed = 0;          // training seconds before this process
  double cpu_seconds = 0;      // training CPU seconds before this process (0 in checkpoints older than it)
};

// The checkpoint metadata key of the model's trainable-parameter count (ABI 1.6); absent
// when the model did not state it.
constexpr const char* kTrainableParametersKey = "trainable_parameters";

// The trainable parameters a checkpoint's model stated (cost.parameters); -1: not stated.
int64_t checkpoint_trainable_parameters(const std::filesystem::path& file);

// Writes the model's state and `s` to `file`, in the format load_checkpoint_state reads.
void save_checkpoint(ModelInstance& model, const RunPlan& r, const LoopState& s, const std::filesystem::path& file);

// Loads a checkpoint into the model; returns the host's loop state from it. Everything is
// checked before the model sees it: the format, the run, the data's digest (safetensors.cpp),
// the step within the budget, the host's order a permutation of the train split, and every
// tensor's name, dtype and shape against what the model exports now. `train_size` < 0:
// loading weights only (evaluation), the loop state is not checked.
LoopState load_checkpoint_state(ModelInstance& model, const RunPlan& r, const std::filesystem::path& file,
                                int64_t train_size = -1, int64_t total_steps = 0);

}  // namespace genlab
