// [search] as the scheduler and the results see it (experiment.hpp's SearchSettings says
// what the manifest asks). With strategy = "asha" (Li et al., "A System for Massively
// Parallel Hyperparameter Tuning", MLSys 2020) every trial's training stops at the rungs
// r, r*eta, ... below its steps; a trial goes on from its checkpoint to the next rung when
// it is among the best floor(n/eta) of the n trials of its group that reached its rung so
// far; when nothing runs and none is promoted, the best at the highest rung goes on (so that
// each group ends with a trial trained to the end), and the trials left at a rung then are
// stopped there.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "genlab/core/experiment.hpp"

namespace genlab {

// One trial as ASHA ranks it: the metric at each rung it reached below the last, in order.
struct TrialProgress {
  std::vector<double> values;
  bool busy = false;  // running, finished or already promoted: not to be promoted now
};

// The trials to promote now, each from its last rung to the next; `rungs` counts the rungs
// below the end (a trial that reached all of them is promoted to the end). NaN ranks last.
std::vector<size_t> asha_promotions(const std::vector<TrialProgress>& trials, size_t rungs, int64_t eta,
                                    bool lower_is_better);

// When nothing runs and nothing more is promoted: the trial that ASHA sends on so that its
// group ends with a trial trained to the end (with few trials, floor(n/eta) is 0 at the
// higher rungs): the best of those at the highest rung reached. nullopt when a trial is
// finished (`busy` here means finished) or none reached a rung.
std::optional<size_t> asha_leader(const std::vector<TrialProgress>& trials, bool lower_is_better);

// The rungs a trial's folder records (rung-<step>.toml), read in order up to the first
// missing one, with the value of `metric` at each.
struct TrialRungs {
  std::vector<int64_t> steps;
  std::vector<double> values;
  std::string direction;   // the metric's, as the evaluation gave it ("lower", "higher", "none")
  double cpu_seconds = 0;  // training CPU seconds up to the last rung
  std::string problem;     // why a rung's file does not serve (no such value): the trial fails
};
TrialRungs read_trial_rungs(const std::filesystem::path& run_dir, const std::vector<int64_t>& rungs,
                            const std::string& metric);

// What a search group ended with, from the run folders: trials begun, finished and
// stopped at a rung, steps and training CPU seconds spent (against every trial trained to
// the end), and the best finished trial by the search metric of the final evaluation
// (the evaluation during training when the final one lacks it).
struct SearchOutcome {
  std::string group;  // "vae-digits-s0": the run name without the trial
  std::string model, dataset, metric, direction;
  std::vector<const RunPlan*> trials;
  int64_t begun = 0, finished = 0, stopped = 0;
  int64_t steps_spent = 0, steps_if_all_finished = 0;
  double cpu_seconds = 0;
  const RunPlan* best = nullptr;
  double best_value = 0;
  // Per trial: the metric where it got furthest (the final evaluation, or its last rung;
  // NaN: none yet) and the step that was.
  std::vector<double> values;
  std::vector<int64_t> steps;
};
std::vector<SearchOutcome> search_outcomes(const Experiment& e);

// The search's lines for the terminal: per group its trials, what they cost and the best.
std::string search_text(const Experiment& e);

}  // namespace genlab
