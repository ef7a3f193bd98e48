// [features]: the feature networks the evaluations of image runs need.
#include "genlab/util/error.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace manifest {

// [features]: the classifier the host trains per image dataset for the metrics that read
// features (FID, KID, precision/recall, class coverage). docs/manifest.md lists the keys.
FeatureSettings read_features(const fs::path& file, const toml::table& root, const Discovery& found) {
  FeatureSettings f;
  f.net.name = "features";
  f.net.plugin_name = "classifier";
  const toml::node* node = root.get("features");
  const toml::table* table = node ? node->as_table() : nullptr;
  if (node != nullptr && table == nullptr)
    throw HostError(where(node->source(), file) + ": expected [features] to be a table");
  f.at = node;
  const toml::node* plugin = table ? table->get("plugin") : nullptr;
  if (plugin) f.net.plugin_name = manifest_value<std::string>(*plugin, file, "features.plugin", "a string");
  if (table && table->get("enabled"))
    f.enabled = manifest_value<bool>(*table->get("enabled"), file, "features.enabled", "true or false");
  if (!f.enabled) return f;
  try {
    f.net.plugin = load_plugin(find_plugin(found, f.net.plugin_name));
  } catch (const HostError& e) {
    // Only an error when a run needs the network (see feature_run_for).
    if (plugin) throw HostError(where(plugin->source(), file) + ": " + e.what());
    return f;
  }
  if (f.net.plugin->kind() != GENLAB_PLUGIN_KIND_MODEL)
    throw HostError(where(plugin ? plugin->source() : node->source(), file) + ": features.plugin '" +
                    f.net.plugin_name + "' is a " + kind_name(f.net.plugin->kind()) +
                    ", expected a model (a classifier)");
  if (table == nullptr) return f;
  const ComponentSpec spec{"", f.net.plugin_name, f.net.plugin, table};  // keys read "features.KEY"
  for (const auto& [k, v] : *table) {
    const std::string key(k.str());
    if (key == "plugin" || key == "enabled") continue;
    if (key == "steps" || key == "batch_size" || key == "seed") {
      const int64_t value = manifest_value<int64_t>(v, file, "features." + key, "an integer");
      if (value < (key == "seed" ? 0 : 1))
        throw HostError(where(v.source(), file) + ": expected features." + key + (key == "seed" ? " >= 0" : " >= 1"));
      (key == "steps" ? f.steps : key == "batch_size" ? f.batch_size : f.seed) = value;
      continue;
    }
    if (is_sweep(v)) throw HostError(where(v.source(), file) + ": features." + key + " cannot be a sweep");
    check_param(file, "features", spec, key, v, k.source());
    f.net.params.insert_or_assign(key, v);
  }
  return f;
}

// Whether a run's evaluation gets a feature network: image data and a metric that reads it.
bool needs_features(const RunPlan& r) {
  const auto& modalities = r.dataset.plugin->description().modalities;
  return std::find(modalities.begin(), modalities.end(), "image") != modalities.end() &&
         std::any_of(r.metrics.begin(), r.metrics.end(),
                     [](const Component& m) { return m.plugin->has(GENLAB_CAPABILITY_READS_FEATURES); });
}

// The feature network of run `r`'s dataset: one per dataset configuration (and thread
// count and device, which are part of a run's identity), added to `e` on first use.
const RunPlan& feature_run_for(Experiment& e, const FeatureSettings& f, const RunPlan& r) {
  if (!f.net.plugin)
    throw HostError(e.file.string() + ": run '" + r.name +
                    "' has metrics that read features, but the feature network's plugin '" + f.net.plugin_name +
                    "' is not found (build the plugins, or set [features] enabled = false to compute "
                    "them on pixels)");
  RunPlan net;
  net.is_feature_net = true;
  net.model = f.net;
  net.dataset = r.dataset;
  // The network is the measuring instrument: it learns from all the training data, whatever
  // the run trains on (a subset, a class made rare), so that runs on selections of one
  // dataset are measured by one network and their FIDs compare.
  for (const char* selection : {"subset", "subset_mode", "subset_seed", "rare_class", "rare_share"})
    net.dataset.params.erase(selection);
  net.seed = f.seed;
  net.settings.budget.steps = f.steps;
  net.settings.batch_size = f.batch_size;
  net.settings.threads = r.settings.threads;
  net.settings.device = r.settings.device;
  net.settings.timeout = r.settings.timeout;
  net.settings.memory_limit_mb = r.settings.memory_limit_mb;
  net.settings.eval_split = r.settings.eval_split;
  net.settings.eval_samples = 10000;
  net.name = "features-" + r.dataset.name;
  assign_identity(net);
  for (const auto& existing : e.feature_runs)
    if (existing.id == net.id) return existing;
  e.feature_runs.push_back(std::move(net));
  return e.feature_runs.back();
}

}  // namespace manifest
}  // namespace genlab
