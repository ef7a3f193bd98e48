// Experiment manifests: parsing, includes, sweeps, overrides and checks, resolved into a
// plan of runs. docs/manifest.md documents every key; configs/ holds examples.
//
// A run is one model trained on one dataset with one seed and one point of each sweep. Its
// identity is a hash of everything that decides its result: the resolved parameters, the
// settings that change training, the plugin builds (name, version, library sha256) and the
// content of the data files the dataset reads. Its evaluation has identities of its own:
// one for the samples (and scores) it draws, one per metric computed on them, and one for
// the whole, so that a changed evaluation recomputes only what the change decides.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>
#include <toml++/toml.h>

#include "genlab/util/error.hpp"

#include "genlab/core/claims.hpp"
#include "genlab/core/loader.hpp"

namespace genlab {

// A dataset, model or metric section: its manifest name, its plugin and its parameters.
struct Component {
  std::string name;
  std::string plugin_name;
  toml::table params;  // resolved: sweeps expanded, overrides applied, `plugin` removed
  std::shared_ptr<const Plugin> plugin;
  // A metric's identity: its build and parameters, the samples it reads and, when it reads
  // features, the feature network. Empty for models and datasets.
  std::string id;
};

// When a run's training stops: the first of the limits that is set (0 = unset).
struct Budget {
  int64_t steps = 0;
  double epochs = 0;
  double seconds = 0;
};

// What one run does beyond its components. Keys of [experiment], overridable per run.
struct RunSettings {
  Budget budget;
  int64_t batch_size = 64;
  int64_t checkpoint_every = 0;    // steps; 0: only at the end
  std::string device = "cpu";      // "cpu", "cuda", "cuda:1"
  std::string precision = "fp32";  // "fp32", "bf16" or "fp16" (genlab_precision): the model's compute
  int32_t threads = 1;             // CPU threads the run may use (LibTorch and BLAS pools)
  double timeout = 0;              // seconds a node may run before it is killed; 0: none
  int64_t memory_limit_mb = 0;     // address-space limit of the worker; 0: none
  int32_t processes = 1;           // data-parallel training processes (c10d); batch_size is global
  int64_t eval_samples = 1024;     // real and generated examples given to the metrics
  std::string eval_split = "test";
  toml::table eval_generate;  // options given to the model's generate at evaluation
  // Evaluation during training (evaluation.every, .during, .during_samples): every that many
  // steps (0: never) a few samples and the named metrics, kept in the run's during/ folder.
  int64_t eval_every = 0;
  std::vector<std::string> eval_during;
  int64_t eval_during_samples = 32;
};

// [search]: trials of the parameters given as distributions ({uniform = [a, b]}, ...),
// each trial a run with its own identity. docs/search.md documents the keys.
struct SearchSettings {
  int64_t trials = 0;               // trials per search group; 0: no [search]
  int64_t seed = 0;                 // draws the trials' values (with the trial's index and the key)
  std::string strategy = "random";  // "random": every trial to the end; "asha": successive halving
  std::string metric;               // "mmd.mmd2": a value of the evaluation during training
  std::string goal;                 // "min" or "max"; empty: the metric's own direction
  int64_t min_steps = 0;            // ASHA's first rung r; the rungs are r, r*eta, ... below the steps
  int64_t eta = 3;                  // ASHA: the top 1/eta of a rung go on to the next
  double cpu_seconds = 0;           // budget: no new trial of a group begins once its training CPU seconds reach it
  bool asha() const { return strategy == "asha"; }
  // ASHA's rungs for a run of `steps` steps: r, r*eta, ... (each below `steps`), then `steps`.
  std::vector<int64_t> rungs(int64_t steps) const;
};

struct RunPlan {
  std::string name;        // readable: <model>-<dataset>-s<seed>[-<key>=<value>...]
  std::string id;          // hex sha256 of the identity (see identity())
  std::string samples_id;  // the evaluation's samples and scores: the training, eval split, count, generate options
  std::string eval_id;     // the whole evaluation: the samples and every metric's id
  Component model, dataset;
  std::vector<Component> metrics;
  int64_t seed = 0;
  RunSettings settings;
  // The feature network whose "features" and "logits" the evaluation appends to real and
  // generated images for the metrics that read them: its run id and folder; empty: none.
  std::string features_id;
  std::filesystem::path features_dir;
  bool is_feature_net = false;  // this run trains a feature network (evaluated by accuracy)
  // A trial of [search]: its index (-1: not a trial), the group its trials compete in (the
  // run's name without the trial: model, dataset, seed and sweep point) and the values
  // drawn ("models.vae.lr" -> 0.0013).
  int64_t trial = -1;
  std::string search_group;
  toml::table searched;
  // A seed that `genlab run --settle` added to this run's cell (settle.toml), beyond the
  // manifest's seeds.
  bool settled = false;

  // The run's resolved manifest: what the worker runs, and what its folder keeps.
  toml::table resolved() const;
  // The folder of this run under an experiment folder.
  std::string folder_name() const { return name + "--" + id.substr(0, 12); }
  // The folder of its evaluation under the run's folder.
  std::string eval_folder_name() const { return "eval-" + eval_id.substr(0, 12); }
};

struct Report {
  std::string title;
  std::string sort_by;  // a metric ("mmd.mmd2") to rank runs by; empty: manifest order
  std::string quality;  // the metric of the quality-vs-speed chart; empty: the first with a direction
  // The metrics of each dataset's headline table (at most 5; samples/s and train seconds
  // follow); empty: the first value with a direction of each metric.
  std::vector<std::string> headline;
};

// Where the nodes of an experiment execute: [executor] of the manifest, or
// `genlab run --executor`. Not part of any run's identity: a run's result does not depend
// on where it ran. docs/cluster.md documents the keys.
struct ExecutorSettings {
  std::string kind = "local";  // "local": worker processes on this machine; "slurm": batch jobs
  // Slurm only (empty or 0: Slurm's default, or as said).
  std::string partition;
  std::string account;
  std::string time_limit;                   // sbatch --time, e.g. "01:30:00"; empty: the node's timeout if set
  int64_t cpus_per_run = 0;                 // cpus per task; 0: the run's threads
  int64_t gpus_per_run = 0;                 // --gpus-per-task
  int64_t memory_mb_per_run = 0;            // --mem; 0: the run's memory_limit_mb if set
  std::vector<std::string> sbatch_options;  // added to every job's #SBATCH lines, verbatim
  double poll_seconds = 5;                  // how often squeue is asked
  std::string genlab;                       // the genlab binary on the nodes; empty: this one's path
};

struct Experiment {
  std::filesystem::path file;
  std::string name;
  std::filesystem::path workspace;
  std::vector<std::filesystem::path> plugin_paths;
  std::vector<std::filesystem::path> includes;  // every file read, in order
  std::vector<RunPlan> runs;
  // The feature networks the runs' evaluations need, one per image dataset configuration.
  // They live in the workspace, not the experiment, so other experiments reuse them.
  std::vector<RunPlan> feature_runs;
  Report report;
  ExecutorSettings executor;
  std::vector<Claim> claims;  // [[claims]]: judged in the report (claims.hpp)
  SearchSettings search;      // [search]; trials == 0: none

  std::filesystem::path folder() const { return workspace / name; }
  std::filesystem::path feature_folder(const RunPlan& feature_run) const {
    return workspace / "features" / feature_run.folder_name();
  }
  // The plan as a table (printed as JSON by `validate --json`).
  toml::table plan() const;
};

// Reads `file` (and its includes), applies `overrides` ("models.vae.latent=32"), loads
// every plugin and checks every key, type, kind, modality, capability, device and the
// workspace. Throws HostError naming file:line:column, what was expected and the fix.
// Runs nothing.
Experiment load_experiment(const std::filesystem::path& file, const std::vector<std::string>& overrides = {});

// "file:line:column" of a manifest's node; "--set" for a value from the command line.
std::string manifest_position(const toml::source_region& region, const std::filesystem::path& file);

// A manifest value of type T (a number also takes an integer), or a HostError
// "file:line:column: expected 'KEY' to be EXPECTED".
template <class T>
T manifest_value(const toml::node& node, const std::filesystem::path& file, const std::string& key,
                 const char* expected) {
  if constexpr (std::is_same_v<T, double>) {
    if (node.is_integer()) return static_cast<double>(node.as_integer()->get());
  }
  auto value = node.value_exact<T>();
  if (!value) throw HostError(manifest_position(node.source(), file) + ": expected '" + key + "' to be " + expected);
  return *value;
}

// " (did you mean 'X'?)" for the closest of `known`, or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& known);
// "a, b, c"
std::string join_names(const std::vector<std::string>& names);

// Applies one "a.b.c=value" to `root`; the value is parsed as TOML (so 32, 0.1, true, "x",
// [1, 2] keep their types) and falls back to a plain string. Errors name `flag`.
void apply_override(toml::table& root, const std::string& text, const std::string& flag = "--set");

// Refuses an option that a model plugin's generate does not declare (ABI 1.5; an older
// plugin's options are not checked), or one of the wrong type; errors start with `flag`.
void check_generate_options(const Plugin& plugin, const toml::table& options, const std::string& flag = "--option");

// The sha256 of a plugin library, computed once per process.
std::string library_sha256(const std::filesystem::path& library);

// The run's name without "-s<seed>": the label its seeds share (a row of the report).
std::string seed_group(const RunPlan& r);

// The seeds `genlab run --settle` added to the cells of claims that stayed open, kept in
// <experiment folder>/settle.toml (seed group -> seeds) and planned by every load_experiment
// beside the manifest's seeds.
std::filesystem::path settle_file(const Experiment& e);

// A RunPlan read back from the run.toml that resolved() wrote (in a worker process).
// Plugins::Skip leaves each component's plugin null: for readers of a workspace (the
// dashboard) that must not load code.
enum class Plugins { Load, Skip };
RunPlan run_from_resolved(const toml::table& resolved, const std::filesystem::path& where,
                          Plugins plugins = Plugins::Load);

}  // namespace genlab
