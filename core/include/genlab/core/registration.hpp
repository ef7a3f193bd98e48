// What the host registers when a run's evaluation finishes: a model version with its
// lineage (run, manifest, dataset and its data's hash, plugin builds, seed), metrics, and
// artifacts (checkpoint, samples, training log). And `genlab sample`, which loads a
// registered version back through its plugin.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "genlab/core/experiment.hpp"
#include "genlab/registry/registry.hpp"

namespace genlab {

// Registers run `r` of `e`, trained in `run_dir` and evaluated in `eval_dir`. Idempotent.
registry::Version register_run(registry::Registry& reg, const Experiment& e, const RunPlan& r,
                               const std::filesystem::path& run_dir, const std::filesystem::path& eval_dir);

// A hash of the files a dataset reads: every string parameter naming an existing file or
// folder is hashed (a folder: its files, sorted). Empty when it reads none.
std::string dataset_content_hash(const toml::table& params);

// Generates `count` samples from a registered version, with `options` for the model's
// generate, and writes them as a PNG (a grid for images [N, C, H, W] in [0, 1], a scatter
// plot for 2-D points [N, 2]) or, when `png` ends in .txt, the output "text" (uint8 [N, L],
// UTF-8, zero-padded) one sample after another. Returns the seconds generate took.
double sample_version(registry::Registry& reg, const std::string& ref, int64_t count, const toml::table& options,
                      const std::filesystem::path& png, const std::vector<std::filesystem::path>& plugin_paths);

// Writes the first output of a generate call as a PNG (see sample_version).
void write_samples_png(const genlab_tensor_map& outputs, const std::filesystem::path& png);
// Writes the output "text" of a generate call (see sample_version).
void write_samples_text(const genlab_tensor_map& outputs, const std::filesystem::path& file);

}  // namespace genlab
