// [[exclude]] and [[overrides]], and the matrix of runs they shape: models x datasets x
// seeds x sweep points, each run checked, named and given its identity.
#include "genlab/util/error.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace manifest {
namespace {

// The `model`, `dataset` and `seed` of an [[exclude]] entry or an [[overrides]] `where`.
Match read_match(const toml::table& t, const toml::node& at, const char* section, const ComponentSpecs& specs,
                 const fs::path& file) {
  Match m{{}, {}, {}, &at};
  static const std::vector<std::string> known = {"model", "dataset", "seed"};
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (key == "model") m.model = manifest_value<std::string>(v, file, "model", "a model name");
    else if (key == "dataset") m.dataset = manifest_value<std::string>(v, file, "dataset", "a dataset name");
    else if (key == "seed") m.seed = manifest_value<int64_t>(v, file, "seed", "an integer");
    else
      throw HostError(where(k.source(), file) + ": unknown key '" + key + "' in " + section + did_you_mean(key, known) +
                      "; expected model, dataset or seed");
  }
  const auto& models = specs.models;
  const auto& datasets = specs.datasets;
  if (!m.model.empty() && std::none_of(models.begin(), models.end(), [&](auto& c) { return c.name == m.model; }))
    throw HostError(where(at.source(), file) + ": " + section + " names model '" + m.model + "', which is not defined");
  if (!m.dataset.empty() &&
      std::none_of(datasets.begin(), datasets.end(), [&](auto& c) { return c.name == m.dataset; }))
    throw HostError(where(at.source(), file) + ": " + section + " names dataset '" + m.dataset +
                    "', which is not defined");
  return m;
}

std::vector<Match> read_excludes(const toml::table& root, const fs::path& file, const ComponentSpecs& specs) {
  std::vector<Match> excludes;
  if (const toml::node* node = root.get("exclude")) {
    const toml::array* array = node->as_array();
    if (array == nullptr) throw HostError(where(node->source(), file) + ": expected [[exclude]] entries");
    for (const auto& entry : *array) {
      if (!entry.is_table()) throw HostError(where(entry.source(), file) + ": expected [[exclude]] to hold tables");
      excludes.push_back(read_match(*entry.as_table(), entry, "[[exclude]]", specs, file));
    }
  }
  return excludes;
}

std::vector<RunOverride> read_overrides(const toml::table& root, const fs::path& file, const ComponentSpecs& specs) {
  std::vector<RunOverride> run_overrides;
  if (const toml::node* node = root.get("overrides")) {
    const toml::array* array = node->as_array();
    if (array == nullptr) throw HostError(where(node->source(), file) + ": expected [[overrides]] entries");
    for (const auto& entry : *array) {
      const toml::table* t = entry.as_table();
      const toml::table* where_t = t ? (*t)["where"].as_table() : nullptr;
      const toml::table* set_t = t ? (*t)["set"].as_table() : nullptr;
      if (t == nullptr || set_t == nullptr || t->size() != (where_t ? 2u : 1u))
        throw HostError(
            where(entry.source(), file) +
            ": expected [[overrides]] with 'where = {model = ..., dataset = ..., seed = ...}' and 'set = {...}'");
      run_overrides.push_back(
          {where_t ? read_match(*where_t, entry, "[[overrides]].where", specs, file) : Match{{}, {}, {}, &entry},
           set_t});
    }
  }
  return run_overrides;
}

// A model that only maps inputs to outputs has nothing to sample, and a model trains only
// on data of the modalities it serves.
void check_model_trains_on(const ComponentSpec& model_spec, const ComponentSpec& data_spec, const fs::path& file) {
  if (model_spec.plugin->has(GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS))
    throw HostError(where(model_spec.body->source(), file) + ": model '" + model_spec.name + "' (plugin '" +
                    model_spec.plugin_name + "') only maps inputs to outputs, it has nothing to sample: it can " +
                    "serve as the feature network ([features] plugin = \"" + model_spec.plugin_name + "\"), not " +
                    "as a model of an experiment");
  for (const auto& modality : data_spec.plugin->description().modalities)
    if (!serves(*model_spec.plugin, modality))
      throw HostError(where(model_spec.body->source(), file) + ": model '" + model_spec.name + "' (plugin '" +
                      model_spec.plugin_name + "', modalities " +
                      join_names(model_spec.plugin->description().modalities) + ") cannot train on dataset '" +
                      data_spec.name + "' of modality '" + modality +
                      "'; leave the pair out with [[exclude]] model = \"" + model_spec.name + "\", dataset = \"" +
                      data_spec.name + "\"");
}

// The metrics of the runs of `model_spec` on `data_spec`: those that apply to the pair,
// each checked to serve the data's modalities and to get the scores it needs.
std::vector<Component> metrics_of_pair(const std::vector<ScopedMetric>& metrics, const ComponentSpec& model_spec,
                                       const ComponentSpec& data_spec, const fs::path& file) {
  std::vector<Component> run_metrics;
  for (const auto& m : metrics) {
    if (!m.applies(model_spec.name, data_spec.name)) continue;
    const std::string pair = "metric '" + m.metric.name + "' (plugin '" + m.metric.plugin_name + "')";
    const std::string fix =
        "; limit the metric to the runs it serves with models = [...] or datasets = [...] in [metrics." +
        m.metric.name + "]";
    for (const auto& modality : data_spec.plugin->description().modalities)
      if (!serves(*m.metric.plugin, modality))
        throw HostError(file.string() + ": " + pair + " cannot evaluate model '" + model_spec.name + "' on dataset '" +
                        data_spec.name + "' of modality '" + modality + "' (it serves " +
                        join_names(m.metric.plugin->description().modalities) + ")" + fix);
    if (m.metric.plugin->has(GENLAB_CAPABILITY_NEEDS_SCORES) && !model_spec.plugin->has(GENLAB_CAPABILITY_SCORE))
      throw HostError(file.string() + ": " + pair + " needs a likelihood (score), which model '" + model_spec.name +
                      "' (plugin '" + model_spec.plugin_name + "') does not offer" + fix);
    run_metrics.push_back(m.metric);
  }
  return run_metrics;
}

// Sets `key = v` of the `set` of an [[overrides]] entry in run `r`.
void apply_override_key(RunPlan& r, const toml::key& k, const toml::node& v, const fs::path& file) {
  const std::string key(k.str());
  const size_t dot = key.find('.');
  const std::string head = key.substr(0, dot);
  const std::string rest = dot == std::string::npos ? "" : key.substr(dot + 1);
  if (head == "experiment" && apply_setting(r.settings, rest, v, file)) return;
  if (head == "evaluation" && apply_eval_setting(r.settings, rest, v, file)) return;
  const size_t dot2 = rest.find('.');
  const std::string name = rest.substr(0, dot2), param = dot2 == std::string::npos ? "" : rest.substr(dot2 + 1);
  Component* target = head == "models" && name == r.model.name       ? &r.model
                      : head == "datasets" && name == r.dataset.name ? &r.dataset
                                                                     : nullptr;
  if (target == nullptr || param.empty())
    throw HostError(where(k.source(), file) + ": an override sets '" + key +
                    "'; expected experiment.<setting>, evaluation.samples|split|generate or models.<name>.<key> / "
                    "datasets.<name>.<key> of "
                    "the runs it matches");
  if (is_sweep(v) || is_distribution(v))
    throw HostError(where(k.source(), file) + ": an override sets '" + key +
                    "' to a sweep or a distribution; expected one value (sweeps and [search] distributions belong "
                    "in the [" +
                    head + "." + name + "] table)");
  ComponentSpec spec{target->name, target->plugin_name, target->plugin, nullptr};
  check_param(file, head, spec, param, v, k.source());
  target->params.insert_or_assign(param, v);
}

// The [[overrides]] entries that match `r`, applied in order.
void apply_run_overrides(RunPlan& r, const std::vector<RunOverride>& overrides, const fs::path& file) {
  for (const auto& [match, set] : overrides) {
    if (!match.matches(r)) continue;
    for (const auto& [k, v] : *set) apply_override_key(r, k, v, file);
  }
}

std::string device_names(const std::vector<int32_t>& devices) {
  std::vector<std::string> names;
  for (int32_t d : devices) names.push_back(device_type_name(d));
  return join_names(names);
}

// Evaluation during training: at least once within a step budget, and only metrics that
// need nothing the training lacks (the feature network trains beside the runs).
void check_during_training(const RunPlan& r, const fs::path& file) {
  const RunSettings& s = r.settings;
  if (s.eval_every > 0 && s.budget.steps > 0 && s.eval_every > s.budget.steps)
    throw HostError(file.string() + ": run '" + r.model.name + "' on '" + r.dataset.name + "': evaluation.every = " +
                    std::to_string(s.eval_every) + " is larger than its " + std::to_string(s.budget.steps) +
                    " steps, so no evaluation would run during training; expected at most " +
                    std::to_string(s.budget.steps));
  for (const auto& m : r.metrics)
    if (std::find(s.eval_during.begin(), s.eval_during.end(), m.name) != s.eval_during.end() &&
        m.plugin->has(GENLAB_CAPABILITY_READS_FEATURES))
      throw HostError(file.string() + ": evaluation.during names '" + m.name + "' (plugin '" + m.plugin_name +
                      "'), which reads the feature network's outputs: those come with the final evaluation only; "
                      "keep it in evaluation.metrics and name cheaper metrics in evaluation.during");
}

// What a run's settings ask of its model and data, after its overrides: a budget, an
// evaluation split of whole views, a batch that splits over the processes, a device and a
// precision the model runs on. (Overrides change parameters and settings, never names.)
void check_run(const RunPlan& r, const fs::path& file) {
  const Component& model = r.model;
  const Component& data = r.dataset;
  if (r.settings.budget.steps == 0 && r.settings.budget.epochs == 0 && r.settings.budget.seconds == 0)
    throw HostError(file.string() + ": run '" + model.name + "' on '" + data.name +
                    "' has no budget: set experiment.steps, epochs or max_seconds");
  // Posed-view data serves rays in "train" and whole views elsewhere (genlab.h):
  // a radiance field is evaluated on views it renders for their poses.
  const auto& modalities = r.dataset.plugin->description().modalities;
  if (std::find(modalities.begin(), modalities.end(), "rays") != modalities.end() && r.settings.eval_split == "train")
    throw HostError(file.string() + ": run '" + model.name + "' on '" + data.name +
                    "' evaluates on split 'train', which holds rays of a posed-view dataset; set "
                    "evaluation.split to a split of whole views (\"test\", \"val\" or \"train-views\")");
  // Each process trains on its shard of the global batch.
  if (r.settings.batch_size % r.settings.processes != 0)
    throw HostError(file.string() + ": run '" + model.name + "' on '" + data.name + "': batch_size " +
                    std::to_string(r.settings.batch_size) + " does not split evenly over " +
                    std::to_string(r.settings.processes) + " processes; expected a multiple of experiment.processes");
  check_during_training(r, file);
  const int32_t device = device_type_of(r.settings.device);
  const auto& devices = r.model.plugin->description().device_types;
  if (std::find(devices.begin(), devices.end(), device) == devices.end())
    throw HostError(file.string() + ": model '" + model.name + "' (plugin '" + model.plugin_name + "') cannot run on " +
                    r.settings.device + "; it runs on " + device_names(devices));
  // Mixed precision: only a model that says it computes correctly under it, and
  // fp16 (which needs CUDA's autocast and a loss scale) only on CUDA.
  if (r.settings.precision != "fp32" && !r.model.plugin->has(GENLAB_CAPABILITY_MIXED_PRECISION))
    throw HostError(file.string() + ": model '" + model.name + "' (plugin '" + model.plugin_name +
                    "') cannot run at precision " + r.settings.precision +
                    ": it does not declare mixed precision (capability mixed_precision); use fp32");
  if (r.settings.precision == "fp16" && r.settings.device == "cpu")
    throw HostError(file.string() + ": model '" + model.name + "' (plugin '" + model.plugin_name +
                    "') cannot run at precision fp16 on the CPU (LibTorch's CPU autocast is bf16); use bf16 "
                    "or device = \"cuda\"");
}

// <model>-<dataset>-s<seed>[-<key>=<value>...][-t<trial>-<key>=<value>...], with '/', ' ' and '"' made '_'.
std::string run_name(const RunPlan& r, const std::string& model_label, const std::string& data_label,
                     const std::string& trial_label = "") {
  std::string name = r.model.name + "-" + r.dataset.name + "-s" + std::to_string(r.seed);
  for (const std::string* label : {&model_label, &data_label, &trial_label})
    if (!label->empty()) name += "-" + *label;
  for (char& c : name)
    if (c == '/' || c == ' ' || c == '"') c = '_';
  return name;
}

// Appends the runs of `model_spec` on `data_spec` (seeds x the sweep points of both) to
// e.runs; returns the evaluation.generate options their models read.
GenerateKeysRead plan_pair_runs(const RunInputs& in, const ComponentSpec& model_spec, const ComponentSpec& data_spec,
                                const std::vector<Component>& run_metrics, Experiment& e) {
  const fs::path& file = e.file;
  GenerateKeysRead read;
  const auto model_points = expand(model_spec, file, "models", in.search);
  const auto data_points = expand(data_spec, file, "datasets", in.search);
  for (int64_t seed : in.seeds) {
    for (const auto& model_point : model_points) {
      for (const auto& data_point : data_points) {
        RunPlan r;
        r.model = model_point.component;
        r.dataset = data_point.component;
        r.metrics = run_metrics;
        r.seed = seed;
        r.settings = in.base;
        const auto& excludes = in.rules.excludes;
        if (std::any_of(excludes.begin(), excludes.end(), [&](const Match& m) { return m.matches(r); })) continue;
        apply_run_overrides(r, in.rules.overrides, file);
        check_run(r, file);
        r.name = run_name(r, model_point.label, data_point.label);
        if (model_point.trial >= 0) {
          r.trial = model_point.trial;
          r.searched = model_point.searched;
          r.search_group = r.name;
          r.name = run_name(r, model_point.label, data_point.label, model_point.trial_label);
        }
        if (in.features.enabled && needs_features(r)) {
          const RunPlan& net = feature_run_for(e, in.features, r);
          r.features_id = net.id;
          r.features_dir = fs::absolute(e.feature_folder(net));
        }
        read.insert(keep_generate_options(r, file));
        assign_identity(r);
        e.runs.push_back(std::move(r));
      }
    }
  }
  return read;
}

// The run `r` with another seed: renamed, its identity computed anew.
RunPlan with_seed(const RunPlan& r, int64_t seed) {
  RunPlan out = r;
  const std::string group = seed_group(r);
  const size_t prefix = r.model.name.size() + 1 + r.dataset.name.size();
  out.seed = seed;
  out.name = group.substr(0, prefix) + "-s" + std::to_string(seed) + group.substr(prefix);
  if (!out.search_group.empty()) {
    RunPlan plain = r;
    plain.name = r.search_group;
    const std::string search = seed_group(plain);
    out.search_group = search.substr(0, prefix) + "-s" + std::to_string(seed) + search.substr(prefix);
  }
  out.settled = true;
  assign_identity(out);
  return out;
}

}  // namespace

void add_settled_seeds(Experiment& e) {
  const fs::path file = settle_file(e);
  if (!fs::exists(file)) return;
  toml::table added;
  try {
    added = toml::parse_file(file.string());
  } catch (const toml::parse_error& err) {
    throw HostError(file.string() + ": " + std::string(err.description()) + " (written by genlab run --settle; " +
                    "delete it to plan the manifest's seeds only)");
  }
  const toml::table* groups = added["seeds"].as_table();
  if (groups == nullptr) return;
  const size_t planned = e.runs.size();
  for (const auto& [group, seeds] : *groups) {
    const toml::array* list = seeds.as_array();
    auto first = std::find_if(e.runs.begin(), e.runs.begin() + static_cast<std::ptrdiff_t>(planned),
                              [&](const RunPlan& r) { return seed_group(r) == group.str(); });
    if (list == nullptr || first == e.runs.begin() + static_cast<std::ptrdiff_t>(planned))
      continue;  // no longer planned
    const RunPlan like = *first;
    for (const auto& seed : *list) {
      const auto value = seed.value<int64_t>();
      if (!value)
        throw HostError(file.string() + ": expected the seeds of '" + std::string(group.str()) + "' to be integers");
      const bool planned_already = std::any_of(e.runs.begin(), e.runs.end(), [&](const RunPlan& r) {
        return r.seed == *value && seed_group(r) == group.str();
      });
      if (!planned_already) e.runs.push_back(with_seed(like, *value));
    }
  }
}

RunRules read_run_rules(const toml::table& root, const fs::path& file, const ComponentSpecs& specs) {
  RunRules rules;
  rules.excludes = read_excludes(root, file, specs);
  rules.overrides = read_overrides(root, file, specs);
  return rules;
}

GenerateKeysRead plan_runs(const RunInputs& in, Experiment& e) {
  const fs::path& file = e.file;
  const auto& models = in.components.models;
  const auto& datasets = in.components.datasets;
  const auto& excludes = in.rules.excludes;
  GenerateKeysRead read;
  for (const auto& model_spec : models) {
    const std::vector<std::string> trains_on = names_in(model_spec, "datasets", datasets, file, "models");
    for (const auto& data_spec : datasets) {
      const bool all_excluded = std::any_of(excludes.begin(), excludes.end(), [&](const Match& m) {
        return m.matches_pair(model_spec.name, data_spec.name);
      });
      if (all_excluded) continue;
      if (!trains_on.empty() && std::find(trains_on.begin(), trains_on.end(), data_spec.name) == trains_on.end())
        continue;
      check_model_trains_on(model_spec, data_spec, file);
      const std::vector<Component> run_metrics = metrics_of_pair(in.metrics, model_spec, data_spec, file);
      read.insert(plan_pair_runs(in, model_spec, data_spec, run_metrics, e));
    }
  }
  return read;
}

}  // namespace manifest

std::string seed_group(const RunPlan& r) {
  const std::string seed = "-s" + std::to_string(r.seed);
  const size_t prefix = r.model.name.size() + 1 + r.dataset.name.size();
  if (r.name.compare(prefix, seed.size(), seed) == 0) {
    const size_t end = prefix + seed.size();
    if (end == r.name.size() || r.name[end] == '-') return r.name.substr(0, prefix) + r.name.substr(end);
  }
  return r.name;
}

std::filesystem::path settle_file(const Experiment& e) { return e.folder() / "settle.toml"; }

}  // namespace genlab
