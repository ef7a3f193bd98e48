// What a `genlab run` of a manifest reuses from its workspace and what it computes, and
// why: the training of a run is reused when its folder (named by its identity) finished;
// an evaluation is reused when its folder finished, and otherwise takes the samples of an
// earlier evaluation of the same run with the same samples identity and the values of the
// metrics whose identity it shares (experiment.hpp). `genlab validate` prints this.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>
#include <toml++/toml.h>

#include "genlab/core/experiment.hpp"

namespace genlab {

// A finished evaluation of a run: its folder and its done file.
struct EarlierEvaluation {
  std::filesystem::path dir;
  toml::table result;
};

// The newest finished evaluation in `run_dir` other than `self` that drew samples with
// identity `samples_id` and kept them (samples.safetensors, and scores.safetensors when it
// scored). nullopt: none.
std::optional<EarlierEvaluation> find_earlier_evaluation(const std::filesystem::path& run_dir,
                                                         const std::filesystem::path& self,
                                                         const std::string& samples_id);

// One node's fate: "reuse", "resume", "train", "evaluate", ..., and why, in words.
struct NodeFate {
  std::string action;
  std::string why;
};

struct RunFate {
  NodeFate train, evaluate;
};

// What a run of `r` (whose folder is `run_dir`) would do now.
RunFate run_fate(const RunPlan& r, const std::filesystem::path& run_dir);

// "a.b: x -> y" for each leaf that differs between two tables (flattened key paths),
// "a.b: added x" / "a.b: removed"; only keys under one of `under` (all when empty).
std::vector<std::string> table_changes(const toml::table& before, const toml::table& after,
                                       const std::vector<std::string>& under = {});

}  // namespace genlab
