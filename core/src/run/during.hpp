// Evaluation during training (during.cpp): every evaluation.every steps, rank 0 of the
// training draws evaluation.during_samples samples from the model it is training, computes
// the metrics named in evaluation.during on them, and keeps both in the run's during/
// folder: during/evaluations.jsonl (one line per evaluation, read by the dashboard and the
// report) and during/step-<step>.safetensors (the samples). Internal to the core library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "genlab/core/experiment.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/workspace.hpp"

namespace genlab {

// What evaluations during training cost: wall and CPU seconds, apart from the training's.
struct DuringCost {
  int64_t evaluations = 0;
  double seconds = 0, cpu_seconds = 0;
};

class DuringTraining {
 public:
  // Draws the real examples the metrics compare with, so it must be made before anything
  // else calls the dataset (the training's prefetch thread). Does nothing when
  // evaluation.every is 0.
  DuringTraining(const std::filesystem::path& run_dir, const RunPlan& r, DatasetInstance& data);

  // On resume: drops what was evaluated after the checkpoint's step (the training repeats
  // those steps). On a fresh start: an empty series.
  void start_at(int64_t step);
  bool due(int64_t step) const { return every_ > 0 && step > 0 && step % every_ == 0; }
  // Samples and metrics after `step` steps; the model's training is left as it was (the
  // SDK gives generate and score a random stream of their own).
  void evaluate(ModelInstance& model, int64_t step);
  const DuringCost& cost() const { return cost_; }
  // The values of the latest evaluation, and the step it followed (-1: none yet).
  const std::vector<NamedScalar>& last_values() const { return last_values_; }
  int64_t last_step() const { return last_step_; }

 private:
  const std::filesystem::path run_dir_;
  const RunPlan& r_;
  const int64_t every_;
  std::vector<const Component*> metrics_;
  TensorMapPtr real_;
  bool render_views_ = false;
  bool wants_scores_ = false;
  DuringCost cost_;
  std::vector<NamedScalar> last_values_;
  int64_t last_step_ = -1;
};

}  // namespace genlab
