// [datasets], [models] and [metrics]: each section's plugin, found and loaded, and its keys
// checked against the parameters the plugin declares.
#include <cmath>

#include "genlab/util/error.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace manifest {
namespace {

std::vector<ComponentSpec> read_components(const fs::path& file, const toml::table& root, const char* section,
                                           genlab_plugin_kind kind, const Discovery& found) {
  std::vector<ComponentSpec> out;
  const toml::node* node = root.get(section);
  if (node == nullptr) return out;
  const toml::table* table = node->as_table();
  if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [" + section + ".NAME] tables");
  for (const auto& [k, entry] : *table) {
    ComponentSpec c;
    c.name = std::string(k.str());
    const toml::table* body = entry.as_table();
    if (body == nullptr)
      throw HostError(where(entry.source(), file) + ": expected [" + section + "." + c.name + "] to be a table");
    c.body = body;
    check_path_name(c.name, std::string(section) + " name", k.source(), file);
    const toml::node* plugin = body->get("plugin");
    if (plugin == nullptr)
      throw HostError(where(k.source(), file) + ": [" + section + "." + c.name + "] lacks 'plugin = \"NAME\"'");
    c.plugin_name = manifest_value<std::string>(*plugin, file, "plugin", "a string");
    try {
      c.plugin = load_plugin(find_plugin(found, c.plugin_name));
    } catch (const HostError& e) {
      throw HostError(where(plugin->source(), file) + ": " + e.what());
    }
    if (c.plugin->kind() != kind)
      throw HostError(where(plugin->source(), file) + ": plugin '" + c.plugin_name + "' is a " +
                      kind_name(c.plugin->kind()) + ", but [" + section + "] needs a " + kind_name(kind));
    for (const auto& [pk, pv] : *body)
      if (!is_host_key(section, std::string(pk.str())))
        check_param(file, section, c, std::string(pk.str()), pv, pk.source());
    for (const auto& p : c.plugin->description().params)
      if (!p.default_value && !body->get(p.name))
        throw HostError(where(k.source(), file) + ": [" + section + "." + c.name + "] lacks the required key '" +
                        p.name + "' (" + p.doc + ")");
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

// Checks `key = node` of a component against the plugin's declared parameters (sweeps too).
void check_param(const fs::path& file, const std::string& section, const ComponentSpec& c, const std::string& key,
                 const toml::node& node, const toml::source_region& key_source) {
  const auto& declared = c.plugin->description().params;
  if (declared.empty()) return;  // the plugin did not declare its keys: it checks them itself
  std::vector<std::string> names;
  for (const auto& p : declared) names.push_back(p.name);
  auto it = std::find_if(declared.begin(), declared.end(), [&](const ParamSpec& p) { return p.name == key; });
  const std::string path = section + (c.name.empty() ? "" : "." + c.name) + "." + key;
  if (it == declared.end())
    throw HostError(where(key_source, file) + ": unknown key '" + path + "' for plugin '" + c.plugin_name + "'" +
                    did_you_mean(key, names) + "; it reads " + join_names(names));
  const bool distribution = is_distribution(node);
  if (distribution && it->type == GENLAB_PARAM_INT && !node.as_table()->contains("int_uniform") &&
      !node.as_table()->contains("choice"))
    throw HostError(where(node.source(), file) + ": '" + path + "' is an integer; " +
                    std::string(node.as_table()->begin()->first.str()) +
                    " draws real numbers: use {int_uniform = [a, b]} or {choice = [...]}");
  for (const auto& value : distribution ? distribution_values(node, file, path) : sweep_values(node, file, path)) {
    const toml::node& v = *value.get("v");
    if (!has_type(v, it->type))
      throw HostError(where(node.source(), file) + ": expected '" + path + "' to be " + type_name(it->type) +
                      (is_sweep(node) ? " in every point of its sweep"
                       : distribution ? " in every value of its distribution"
                                      : ""));
    if (v.is_floating_point() && !std::isfinite(v.as_floating_point()->get()))
      throw HostError(where(node.source(), file) + ": expected '" + path + "' to be a finite number, got " +
                      short_text(v));
  }
}

// Keys of a component's table that the host reads, not the plugin: `plugin`, for a metric
// the runs it applies to (`models`, `datasets`), for a model the datasets it trains on.
bool is_host_key(const std::string& section, const std::string& key) {
  return key == "plugin" || (section == "metrics" && (key == "models" || key == "datasets")) ||
         (section == "models" && key == "datasets");
}

bool serves(const Plugin& plugin, const std::string& modality) {
  const auto& m = plugin.description().modalities;
  return m.empty() || std::find(m.begin(), m.end(), modality) != m.end();
}

int32_t device_type_of(const std::string& device) { return device == "cpu" ? kDLCPU : kDLCUDA; }

ComponentSpecs read_component_sections(const fs::path& file, const toml::table& root, const Discovery& found) {
  ComponentSpecs specs;
  specs.datasets = read_components(file, root, "datasets", GENLAB_PLUGIN_KIND_DATASET, found);
  specs.models = read_components(file, root, "models", GENLAB_PLUGIN_KIND_MODEL, found);
  specs.metrics = read_components(file, root, "metrics", GENLAB_PLUGIN_KIND_METRIC, found);
  if (specs.datasets.empty()) throw HostError(file.string() + ": no [datasets.NAME] section: a run needs data");
  if (specs.models.empty()) throw HostError(file.string() + ": no [models.NAME] section: nothing to train");
  return specs;
}

std::vector<std::string> names_in(const ComponentSpec& spec, const char* key, const std::vector<ComponentSpec>& defined,
                                  const fs::path& file, const char* section) {
  std::vector<std::string> out;
  const toml::node* node = spec.body->get(key);
  if (node == nullptr) return out;
  const std::string path = std::string(section) + "." + spec.name + "." + key;
  const toml::array* array = node->as_array();
  if (array == nullptr)
    throw HostError(where(node->source(), file) + ": expected '" + path + "' to be a list of names");
  for (const auto& item : *array) {
    out.push_back(manifest_value<std::string>(item, file, path, "a name"));
    if (std::none_of(defined.begin(), defined.end(), [&](const ComponentSpec& c) { return c.name == out.back(); }))
      throw HostError(where(item.source(), file) + ": '" + path + "' names '" + out.back() + "', which no [" +
                      (std::string(key) == "models" ? "models." : "datasets.") + out.back() + "] defines");
  }
  return out;
}

std::vector<ScopedMetric> scope_metrics(const ComponentSpecs& specs, const std::vector<std::string>& eval_metrics,
                                        const fs::path& file) {
  std::vector<ScopedMetric> metrics;
  for (const auto& spec : specs.metrics) {
    if (!eval_metrics.empty() && std::find(eval_metrics.begin(), eval_metrics.end(), spec.name) == eval_metrics.end())
      continue;
    auto points = expand(spec, file, "metrics", SearchSettings{});
    if (points.size() != 1)
      throw HostError(file.string() + ": metric '" + spec.name +
                      "' has a sweep; sweep models and datasets, not metrics");
    metrics.push_back({points[0].component, names_in(spec, "models", specs.models, file),
                       names_in(spec, "datasets", specs.datasets, file)});
  }
  return metrics;
}

void check_evaluation_metrics_defined(const std::vector<std::string>& eval_metrics,
                                      const std::vector<ComponentSpec>& metric_specs, const fs::path& file) {
  for (const auto& name : eval_metrics)
    if (std::none_of(metric_specs.begin(), metric_specs.end(), [&](const ComponentSpec& m) { return m.name == name; }))
      throw HostError(file.string() + ": evaluation.metrics names '" + name + "', which no [metrics." + name +
                      "] defines");
}

void check_during_metrics(const RunSettings& base, const std::vector<ScopedMetric>& metrics, const fs::path& file) {
  if (!base.eval_during.empty() && base.eval_every == 0)
    throw HostError(file.string() +
                    ": evaluation.during names metrics, but evaluation.every is not set; set it to "
                    "the steps between evaluations during training");
  std::vector<std::string> evaluated;
  for (const auto& m : metrics) evaluated.push_back(m.metric.name);
  for (const auto& name : base.eval_during)
    if (std::find(evaluated.begin(), evaluated.end(), name) == evaluated.end())
      throw HostError(file.string() + ": evaluation.during names '" + name +
                      "', which is not a metric of the evaluation" + did_you_mean(name, evaluated) +
                      "; expected one of " + join_names(evaluated));
}

}  // namespace manifest
}  // namespace genlab
