// Where everything of an experiment lives, Hydra-like: one folder per run holding its
// resolved manifest, logs, losses, checkpoint, state and results.
//
//   <workspace>/<experiment>/
//     summary.json, summary.md           the report node's output
//     data/<dataset>--<id>/              prepare: node.toml, prepare.{state,done}.toml, prepare.log
//     runs/<run name>--<id>/             train:   run.toml, train.{state,done}.toml, train.log,
//                                                 losses.jsonl, checkpoint.safetensors,
//                                                 during/ (evaluations during training),
//                                                 train.until.toml, rung-<step>.toml (ASHA)
//       eval-<eval id>/                  evaluate: run.toml (the run as this evaluation sees
//                                                 it: its metrics), evaluate.{state,done}.toml,
//                                                 evaluate.log, results.json,
//                                                 samples.safetensors, scores.safetensors
//
// run.toml files are written by the host from the manifest at every `genlab run` (when their
// text differs), so a worker always runs what the manifest says now, and a corrupt one mends.
//
// A node is finished exactly when its done file exists; done files are written atomically
// as a node's last act, so a kill -9 at any moment leaves a node finished or not, never half.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <toml++/toml.h>

#include "genlab/util/files.hpp"

namespace genlab {

enum class NodeKind { Prepare, Train, Evaluate };

const char* node_kind_name(NodeKind kind);
std::optional<NodeKind> parse_node_kind(const std::string& name);

inline std::filesystem::path done_file(const std::filesystem::path& dir, NodeKind kind) {
  return dir / (std::string(node_kind_name(kind)) + ".done.toml");
}
inline std::filesystem::path state_file(const std::filesystem::path& dir, NodeKind kind) {
  return dir / (std::string(node_kind_name(kind)) + ".state.toml");
}
inline std::filesystem::path log_file(const std::filesystem::path& dir, NodeKind kind) {
  return dir / (std::string(node_kind_name(kind)) + ".log");
}
inline std::filesystem::path checkpoint_file(const std::filesystem::path& run_dir) {
  return run_dir / "checkpoint.safetensors";
}
// A step count as file names hold it: at least 8 digits, so that names sort by step.
inline std::string padded_step(int64_t step) {
  std::string digits = std::to_string(step);
  if (digits.size() < 8) digits.insert(0, 8 - digits.size(), '0');
  return digits;
}
// Evaluation during training (core/src/run/during.cpp): a run's during/ folder, its series
// (a JSON line per evaluation) and the samples of the evaluation after `step` steps.
inline std::filesystem::path during_folder(const std::filesystem::path& run_dir) { return run_dir / "during"; }
inline std::filesystem::path during_series_file(const std::filesystem::path& run_dir) {
  return during_folder(run_dir) / "evaluations.jsonl";
}
inline std::filesystem::path during_samples_file(const std::filesystem::path& run_dir, int64_t step) {
  return during_folder(run_dir) / ("step-" + padded_step(step) + ".safetensors");
}

// ASHA's rungs ([search] strategy = "asha"): the scheduler writes the step a trial's
// training stops at (`until`) before it starts it; the training, stopped there, saves its
// checkpoint and writes the rung's file (step, cost, the evaluation's values) instead of
// its done file.
inline std::filesystem::path rung_target_file(const std::filesystem::path& run_dir) {
  return run_dir / "train.until.toml";
}
inline std::filesystem::path rung_file(const std::filesystem::path& run_dir, int64_t step) {
  return run_dir / ("rung-" + padded_step(step) + ".toml");
}

// A TOML file read whole; nullopt if it is missing or does not parse.
std::optional<toml::table> read_toml(const std::filesystem::path& file);
// The table as TOML text that reads back equal (every string on one line).
std::string toml_text(const toml::table& table);
// Writes a table atomically as TOML (durably unless told otherwise).
void write_toml(const std::filesystem::path& file, const toml::table& table,
                Durability durability = Durability::Durable);
// Writes `table` unless `file` already holds exactly its text; true when it wrote.
bool write_toml_if_changed(const std::filesystem::path& file, const toml::table& table);

}  // namespace genlab
