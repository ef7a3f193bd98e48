// Experiment manifests (a first schema) and the minimal sequential runner.
//
// A manifest names datasets, models and metrics, each with the plugin that serves it and
// that plugin's parameters, and an [experiment] table with the seeds, the step budget, the
// batch size and the workspace. The runs are models x datasets x seeds. docs/manifest.md
// documents the keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <toml++/toml.h>

#include "genlab/core/discovery.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"

namespace genlab {

// One dataset, model or metric section: its name in the manifest, its plugin, its params.
struct Component {
  std::string name;
  std::string plugin_name;
  toml::table params;               // the section without its `plugin` key
  std::shared_ptr<const Plugin> plugin;
};

struct ExperimentSettings {
  std::string name = "experiment";
  std::vector<int64_t> seeds = {0};
  int64_t steps = 100;
  int64_t batch_size = 64;
  int64_t eval_samples = 512;
  int32_t threads = 1;
  std::string device = "cpu";
  int64_t log_every = 0;            // 0: ten lines per run
  std::filesystem::path workspace = "genlab-runs";
  std::vector<std::filesystem::path> plugin_paths;
};

struct RunSpec {
  std::string id;                   // <model>-<dataset>-s<seed>
  const Component* model = nullptr;
  const Component* dataset = nullptr;
  int64_t seed = 0;
};

struct Experiment {
  std::filesystem::path file;
  ExperimentSettings settings;
  std::vector<Component> datasets, models, metrics;
  std::vector<RunSpec> runs;

  // The resolved plan as a TOML table (printed as JSON by `validate --json`).
  toml::table plan() const;
};

// Parses `file`, applies `overrides` ("experiment.steps=10", "models.gmm.lr=0.1"), finds
// and loads every plugin, checks every key, type, kind and modality. Throws HostError
// naming file:line:column and what was expected. Runs nothing.
Experiment load_experiment(const std::filesystem::path& file,
                           const std::vector<std::string>& overrides = {});

struct RunResult {
  std::string id;
  bool ok = false;
  std::string error;                 // when !ok
  std::vector<NamedScalar> final_losses;
  std::vector<std::pair<std::string, NamedScalar>> metrics;  // (metric section, scalar)
  double seconds = 0;
  std::filesystem::path folder;
};

// Runs every run in order, one after another, in this process. A failing run is recorded
// and the others go on. Writes <workspace>/<experiment>/<run>/{losses.jsonl,results.json}.
std::vector<RunResult> run_experiment(const Experiment& experiment, bool quiet);

}  // namespace genlab
