// What the files of manifest/ share. load_experiment (experiment.cpp) is a pipeline of the
// steps declared here, each in the file of its job:
//   includes.cpp   the manifest read with its includes, the command line's overrides and a scale
//   settings.cpp   [experiment], [evaluation], [report] and [executor]
//   components.cpp [datasets], [models] and [metrics]: their plugins and keys
//   sweeps.cpp     a parameter's values and a component's sweep points
//   features.cpp   [features]: the feature network of the metrics that read features
//   runs.cpp       [[exclude]], [[overrides]] and the matrix of runs they shape
//   generate.cpp   the evaluation.generate options each model reads
//   identity.cpp   the identities of a run, its samples, metrics and evaluation
//   resolved.cpp   a run's resolved manifest (run.toml) and the plan as a table
//   messages.cpp   positions and values as error messages write them
// Internal to the core library.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>
#include <toml++/toml.h>

#include "genlab/core/discovery.hpp"
#include "genlab/core/experiment.hpp"

namespace genlab {
namespace manifest {

namespace fs = std::filesystem;

// ------------------------------------------------------------------- messages.cpp

std::string where(const toml::source_region& region, const fs::path& fallback);
const char* type_name(genlab_param_type t);
bool has_type(const toml::node& node, genlab_param_type t);
// `text` for a message: control characters escaped, at most 60 characters.
std::string printable(const std::string& text);
// A value as it appears in run names and plans: 0.1, 32, "x" -> x.
std::string short_text(const toml::node& node);
std::string short_number(double v);

// ------------------------------------------------------------------- includes.cpp

// Tables merged key by key (`from` wins); nodes are moved, keeping their positions.
void deep_merge(toml::table& into, toml::table&& from);
// `file` with its includes merged under it; every file read is appended to `read`.
toml::table read_with_includes(const fs::path& file, std::vector<fs::path>& stack, std::vector<fs::path>& read);
// The manifest as the experiment sees it: `file` with its includes, the command line's
// `overrides` and the scale it picks applied. Every file read is appended to `read`.
toml::table read_manifest(const fs::path& file, const std::vector<std::string>& overrides, std::vector<fs::path>& read);

// ------------------------------------------------------------------- settings.cpp

// A name that becomes a folder or file in the workspace (util/files.hpp says which).
void check_path_name(const std::string& name, const std::string& what, const toml::source_region& at,
                     const fs::path& file);
// Sets one run setting from [experiment] or an override. Returns false for a key that is
// not a run setting.
bool apply_setting(RunSettings& s, const std::string& key, const toml::node& node, const fs::path& file);
// Sets one evaluation setting from [evaluation] or an override. Returns false for a key
// that is not one.
bool apply_eval_setting(RunSettings& s, const std::string& key, const toml::node& v, const fs::path& file);

// What [experiment] says: the experiment's name and folders, and what every run starts from.
struct ExperimentSection {
  std::string name;
  fs::path workspace;  // absolute
  std::vector<fs::path> plugin_paths;
  RunSettings base;  // the settings of every run before [[overrides]]
  std::vector<int64_t> seeds;
};
ExperimentSection read_experiment_section(const toml::table& root, const fs::path& file);
// [evaluation]: sets the evaluation settings of `base`; returns the metrics it names
// (empty: every metric).
std::vector<std::string> read_evaluation_section(const toml::table& root, const fs::path& file, RunSettings& base);
// [report]; its title is the experiment's name unless set.
Report read_report_section(const toml::table& root, const fs::path& file, const std::string& experiment_name);
// [executor]: where the nodes run (local worker processes, or Slurm batch jobs).
ExecutorSettings read_executor(const toml::node& node, const fs::path& file);

// ------------------------------------------------------------------- components.cpp

struct ComponentSpec {
  std::string name;
  std::string plugin_name;
  std::shared_ptr<const Plugin> plugin;
  const toml::table* body = nullptr;  // in the merged manifest (positions intact)
};

// Checks `key = node` of a component against the plugin's declared parameters (sweeps too).
void check_param(const fs::path& file, const std::string& section, const ComponentSpec& c, const std::string& key,
                 const toml::node& node, const toml::source_region& key_source);
// Keys of a component's table that the host reads, not the plugin.
bool is_host_key(const std::string& section, const std::string& key);
bool serves(const Plugin& plugin, const std::string& modality);
int32_t device_type_of(const std::string& device);

// The [datasets.NAME], [models.NAME] and [metrics.NAME] sections, their plugins loaded.
struct ComponentSpecs {
  std::vector<ComponentSpec> datasets, models, metrics;
};
ComponentSpecs read_component_sections(const fs::path& file, const toml::table& root, const Discovery& found);

// The names a component's list `key` holds ("models", "datasets"), each defined in `defined`.
std::vector<std::string> names_in(const ComponentSpec& spec, const char* key, const std::vector<ComponentSpec>& defined,
                                  const fs::path& file, const char* section = "metrics");

// A metric applies to every run unless its `models` / `datasets` lists limit it.
struct ScopedMetric {
  Component metric;
  std::vector<std::string> models, datasets;
  bool applies(const std::string& model, const std::string& dataset) const {
    return (models.empty() || std::find(models.begin(), models.end(), model) != models.end()) &&
           (datasets.empty() || std::find(datasets.begin(), datasets.end(), dataset) != datasets.end());
  }
};
// The metrics the evaluation computes (those `eval_metrics` names; empty: all), with the
// runs each applies to.
std::vector<ScopedMetric> scope_metrics(const ComponentSpecs& specs, const std::vector<std::string>& eval_metrics,
                                        const fs::path& file);
// Every name of evaluation.metrics has its [metrics.NAME].
// evaluation.during: metrics the evaluation computes, and evaluation.every set with them.
void check_during_metrics(const RunSettings& base, const std::vector<ScopedMetric>& metrics, const fs::path& file);
void check_evaluation_metrics_defined(const std::vector<std::string>& eval_metrics,
                                      const std::vector<ComponentSpec>& metric_specs, const fs::path& file);

// ------------------------------------------------------------------- sweeps.cpp

bool is_sweep(const toml::node& node);
// A parameter's values (copies), each a one-entry table {"v": value}.
std::vector<toml::table> sweep_values(const toml::node& node, const fs::path& file, const std::string& key);

// A point of a component's sweeps (and, for a model with distributions, one trial of it).
struct Point {
  Component component;
  std::string label;  // "latent=16-lr=0.001": the swept values
  int64_t trial = -1;
  std::string trial_label;  // "t3-lr=0.00123": the trial and the values it drew
  toml::table searched;     // "models.vae.lr" -> the value drawn
};
// The points of a component's sweeps, times the trials of [search] where its parameters
// hold distributions (models only).
std::vector<Point> expand(const ComponentSpec& spec, const fs::path& file, const std::string& section,
                          const SearchSettings& search);

// ------------------------------------------------------------------- search.cpp

// {uniform = [a, b]}, {log_uniform = [a, b]}, {int_uniform = [a, b]} or {choice = [...]}.
bool is_distribution(const toml::node& node);
// The values that bound a distribution (its bounds, or its choices), each {"v": value}, to
// check against a parameter's type; throws naming the position when malformed.
std::vector<toml::table> distribution_values(const toml::node& node, const fs::path& file, const std::string& key);
// Trial `trial`'s value of a distribution ({"v": value}): a function of the search's seed,
// the parameter's path and the trial only; real numbers rounded to 4 significant digits.
toml::table draw(const toml::node& node, int64_t seed, const std::string& key, int64_t trial);
// [search]; trials == 0 when absent.
SearchSettings read_search_section(const toml::table& root, const fs::path& file);
// What ASHA needs of the runs: a metric of the evaluation during training, a step budget
// and a first rung below it. `any_distribution`: some model searches a parameter.
void check_search(const SearchSettings& s, const toml::table& root, const RunSettings& base, const fs::path& file,
                  bool any_distribution);

// ------------------------------------------------------------------- identity.cpp

// Sets the run's id, samples_id, each metric's id and eval_id.
void assign_identity(RunPlan& r);

// ------------------------------------------------------------------- features.cpp

// [features]: the classifier the host trains per image dataset for the metrics that read
// features (FID, KID, precision/recall, class coverage). docs/manifest.md lists the keys.
struct FeatureSettings {
  bool enabled = true;
  Component net;  // the plugin and its parameters
  int64_t steps = 2000;
  int64_t batch_size = 128;
  int64_t seed = 0;
  const toml::node* at = nullptr;
};
FeatureSettings read_features(const fs::path& file, const toml::table& root, const Discovery& found);
// Whether a run's evaluation gets a feature network: image data and a metric that reads it.
bool needs_features(const RunPlan& r);
// The feature network of run `r`'s dataset, added to `e` on first use.
const RunPlan& feature_run_for(Experiment& e, const FeatureSettings& f, const RunPlan& r);

// ------------------------------------------------------------------- generate.cpp

// Which evaluation.generate options the runs' models read, and those some run's model
// does not (where they were written). A plugin of ABI 1.5 declares its options; an older
// one is taken to read every option it is given.
struct GenerateKeysRead {
  std::set<std::string> keys;
  bool all = false;
  std::map<std::string, toml::source_region> unread;
  void insert(const GenerateKeysRead& other) {
    keys.insert(other.keys.begin(), other.keys.end());
    all |= other.all;
    unread.insert(other.unread.begin(), other.unread.end());
  }
};
// Keeps the evaluation.generate options of `r` that its model declares.
GenerateKeysRead keep_generate_options(RunPlan& r, const fs::path& file);
// An evaluation.generate option that no run's model reads is an error.
void check_generate_options_read(const Experiment& e, const GenerateKeysRead& read, const fs::path& file,
                                 const toml::table& root);

// ------------------------------------------------------------------- runs.cpp

// The runs an [[exclude]] or the `where` of an [[overrides]] entry matches (empty: any).
struct Match {
  std::string model, dataset;
  std::optional<int64_t> seed;
  const toml::node* node;
  bool matches(const RunPlan& r) const {
    return (model.empty() || model == r.model.name) && (dataset.empty() || dataset == r.dataset.name) &&
           (!seed || *seed == r.seed);
  }
  // Every seed of `model` on `dataset`.
  bool matches_pair(const std::string& model_name, const std::string& dataset_name) const {
    return !seed && (model.empty() || model == model_name) && (dataset.empty() || dataset == dataset_name);
  }
};
struct RunOverride {
  Match match;
  const toml::table* set;
};
// [[exclude]] and [[overrides]]: read once, applied per run.
struct RunRules {
  std::vector<Match> excludes;
  std::vector<RunOverride> overrides;
};
RunRules read_run_rules(const toml::table& root, const fs::path& file, const ComponentSpecs& specs);

// What the matrix of runs (models x datasets x seeds x sweep points) is made of.
struct RunInputs {
  const ComponentSpecs& components;
  const std::vector<ScopedMetric>& metrics;
  const RunSettings& base;
  const std::vector<int64_t>& seeds;
  const RunRules& rules;
  const FeatureSettings& features;
  const SearchSettings& search;
};
// Appends the runs of the matrix to e.runs (and their feature networks to e.feature_runs),
// checking each; returns the evaluation.generate options their models read.
GenerateKeysRead plan_runs(const RunInputs& in, Experiment& e);
// The seeds settle.toml adds to the cells of open claims (genlab run --settle), as runs
// like the first planned run of their seed group; a group the manifest no longer plans is
// passed over.
void add_settled_seeds(Experiment& e);

}  // namespace manifest
}  // namespace genlab
