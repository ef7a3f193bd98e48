#include "report_data.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "genlab/core/registration.hpp"
#include "genlab/core/samples.hpp"
#include "genlab/core/safetensors.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/genlab_util.h"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/json.hpp"
#include "statistics.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

// One run as its folders hold it: finished with its metrics, or why not.
RunOutcome read_outcome(const Experiment& e, const RunPlan& r) {
  RunOutcome o;
  o.plan = &r;
  o.run_dir = e.folder() / "runs" / r.folder_name();
  o.eval_dir = o.run_dir / r.eval_folder_name();
  if (const auto done = read_toml(done_file(o.eval_dir, NodeKind::Evaluate))) {
    o.state = "finished";
    if (const toml::table* metrics = (*done)["metrics"].as_table())
      for (const auto& [k, v] : *metrics) o.metrics[std::string(k.str())] = v.is_number() ? v.value_or(0.0) : NAN;
    if (const toml::table* directions = (*done)["directions"].as_table())
      for (const auto& [k, v] : *directions) o.directions[std::string(k.str())] = v.value_or(std::string("none"));
    if (const toml::array* order = (*done)["value_order"].as_array())
      for (const auto& k : *order) o.order.push_back(k.value_or(std::string()));
    if (const toml::table* conventions = (*done)["conventions"].as_table())
      for (const auto& [k, v] : *conventions) o.conventions[std::string(k.str())] = v.value_or(std::string());
    std::ifstream log(log_file(o.eval_dir, NodeKind::Evaluate));
    std::string line;
    while (std::getline(log, line))
      if (const size_t at = line.find("] warning "); at != std::string::npos)
        o.warnings.push_back(line.substr(at + 10));
    return o;
  }
  o.state = "not run";
  for (NodeKind kind : {NodeKind::Train, NodeKind::Evaluate}) {
    const fs::path dir = kind == NodeKind::Train ? o.run_dir : o.eval_dir;
    if (const auto state = read_toml(state_file(dir, kind))) {
      const std::string s = (*state)["state"].value_or(std::string());
      if (s == "failed" || s == "cancelled" || s == "running" || s == "pruned") {
        o.state = std::string(node_kind_name(kind)) + " " + s;
        o.reason = (*state)["reason"].value_or(std::string());
        break;
      }
    }
  }
  return o;
}

// The group of run `r` in `groups`, added when it is the first of its seeds.
RunGroup& group_of(std::vector<RunGroup>& groups, const RunPlan& r) {
  const std::string label = seed_group(r);
  auto it = std::find_if(groups.begin(), groups.end(), [&](const RunGroup& g) { return g.label == label; });
  if (it != groups.end()) return *it;
  RunGroup g;
  g.label = label;
  g.model = r.model.name;
  g.model_plugin = r.model.plugin_name;
  g.dataset = r.dataset.name;
  if (r.dataset.plugin != nullptr) {  // null where plans were read without plugins (the dashboard)
    const auto& modalities = r.dataset.plugin->description().modalities;
    g.modality = modalities.empty() ? "" : modalities.front();
  }
  groups.push_back(std::move(g));
  return groups.back();
}

}  // namespace

std::vector<RunGroup> group_runs(const Experiment& e) {
  std::vector<RunGroup> groups;
  for (const auto& r : e.runs) {
    RunOutcome o = read_outcome(e, r);
    // A trial the search stopped early is no result to compare: the search's summary
    // (search.hpp) accounts for it.
    if (o.state == "train pruned") continue;
    RunGroup& g = group_of(groups, r);
    for (const auto& [k, d] : o.directions) g.directions[k] = d;
    for (const auto& [k, c] : o.conventions) {
      std::string& group_convention = g.conventions[k];
      if (group_convention.empty()) group_convention = c;
      else if (group_convention != c && group_convention.find(c) == std::string::npos) group_convention += " | " + c;
    }
    g.runs.push_back(std::move(o));
  }
  for (auto& g : groups) {
    std::map<std::string, std::vector<double>> values;
    for (const auto& run : g.runs)
      for (const auto& [k, v] : run.metrics) values[k].push_back(v);
    for (const auto& [k, v] : values) g.stats[k] = summarize(v);
  }
  return groups;
}

std::vector<std::string> datasets_of(const std::vector<RunGroup>& groups) {
  std::vector<std::string> datasets;
  for (const auto& g : groups)
    if (std::find(datasets.begin(), datasets.end(), g.dataset) == datasets.end()) datasets.push_back(g.dataset);
  return datasets;
}

std::vector<const RunGroup*> groups_of(const std::vector<RunGroup>& groups, const std::string& dataset) {
  std::vector<const RunGroup*> out;
  for (const auto& g : groups)
    if (g.dataset == dataset) out.push_back(&g);
  return out;
}

std::string stats_text(const Stats& s) {
  if (s.n == 0) return s.not_finite ? "NaN" : "";
  std::string text = number_text(s.mean);
  if (s.n > 1) text += " ± " + number_text(s.half_width, 2);
  if (s.not_finite) text += " (" + std::to_string(s.not_finite) + " NaN)";
  return text;
}

bool better(const std::string& direction, double a, double b) { return direction == "higher" ? a > b : a < b; }

namespace {
constexpr size_t run_metrics_limit = 1u << 20;
}  // namespace

std::vector<std::string> metric_columns(const std::vector<const RunGroup*>& groups) {
  std::vector<std::string> columns;
  auto add = [&](const std::string& key) {
    if (key.find(".recall_class_") == std::string::npos && key.find(".share_class_") == std::string::npos &&
        std::find(columns.begin(), columns.end(), key) == columns.end())
      columns.push_back(key);
  };
  // Within a metric, its values in the order the plugin gave them (its main value first),
  // where the evaluation kept that order; else by name.
  for (const auto* g : groups)
    for (const auto& run : g->runs)
      for (const auto& key : run.order)
        if (run.metrics.count(key)) add(key);
  for (const auto* g : groups)
    for (const auto& run : g->runs)
      for (const auto& [key, value] : run.metrics) add(key);
  // In the manifest's order of metrics, then the host's costs.
  auto rank = [&](const std::string& key) {
    const std::string metric = key.substr(0, key.find('.'));
    for (const auto* g : groups)
      for (const auto& run : g->runs)
        for (size_t i = 0; i < run.plan->metrics.size(); ++i)
          if (run.plan->metrics[i].name == metric) return i;
    return run_metrics_limit;
  };
  std::stable_sort(columns.begin(), columns.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  return columns;
}

std::map<std::string, std::map<std::string, int>> mixed_conventions(const std::vector<const RunGroup*>& groups,
                                                                    const std::vector<std::string>& columns) {
  std::map<std::string, std::map<std::string, int>> out;
  for (const auto& c : columns) {
    std::map<std::string, int> tags;
    for (const auto* g : groups)
      if (g->stats.count(c)) tags.emplace(g->convention(c), 0);
    if (tags.size() < 2) continue;
    int next = 1;
    for (auto& [convention, tag] : tags) tag = next++;
    out[c] = std::move(tags);
  }
  return out;
}

// The quality metric of a dataset's chart: report.quality if they have it, else the first
// metric that has a direction and is not a cost.
std::string quality_metric(const Experiment& e, const std::vector<const RunGroup*>& groups) {
  const auto columns = metric_columns(groups);
  if (!e.report.quality.empty() && std::find(columns.begin(), columns.end(), e.report.quality) != columns.end())
    return e.report.quality;
  for (const auto& c : columns) {
    if (c.rfind("cost.", 0) == 0 || c.rfind("classifier.", 0) == 0 ||
        c.find("classifier_accuracy") != std::string::npos)
      continue;
    for (const auto* g : groups)
      if (auto it = g->directions.find(c); it != g->directions.end() && it->second != "none") return c;
  }
  return "";
}

std::string samples_file_png(const fs::path& samples, int64_t limit) {
  if (!fs::exists(samples)) return "";
  SafetensorsContents contents = read_safetensors(samples);
  if (contents.tensors->count == 0) return "";
  DLManagedTensor* first = contents.tensors->tensors[0];
  const DLTensor& t = first->dl_tensor;
  const bool image = t.ndim == 4 && (t.shape[1] == 1 || t.shape[1] == 3);
  const bool points = t.ndim == 2 && t.shape[1] == 2;
  if (!image || !genlab_util_is_cpu_compact(&t, genlab_util_dtype_float32())) {
    if (!points) return "";
  }
  DLManagedTensor view = *first;
  std::vector<int64_t> shape(t.shape, t.shape + t.ndim);
  if (image) shape[0] = std::min(shape[0], limit);
  view.dl_tensor.shape = shape.data();
  view.deleter = nullptr;
  DLManagedTensor* views[] = {&view};
  const char* names[] = {contents.tensors->names[0]};
  const genlab_tensor_map map{GENLAB_TENSOR_MAP_STRUCT_SIZE, 1, names, views, nullptr};
  return samples_png(map);
}

std::vector<std::string> sample_texts(const fs::path& samples, size_t limit) {
  std::vector<std::string> out;
  if (!fs::exists(samples)) return out;
  SafetensorsContents contents = read_safetensors(samples);
  const long at = genlab_util_tensor_map_find(contents.tensors.get(), "text");
  if (at < 0) return out;
  const DLTensor& t = contents.tensors->tensors[at]->dl_tensor;
  if (t.ndim != 2 || t.dtype.code != kDLUInt || t.dtype.bits != 8) return out;
  const auto* bytes = static_cast<const char*>(t.data) + t.byte_offset;
  for (int64_t i = 0; i < t.shape[0] && out.size() < limit; ++i) {
    std::string s(bytes + i * t.shape[1], static_cast<size_t>(t.shape[1]));
    s.resize(std::strlen(s.c_str()));
    out.push_back(s);
  }
  return out;
}

std::vector<std::pair<int64_t, double>> loss_curve(const fs::path& losses, size_t points, std::string& name) {
  std::vector<std::pair<int64_t, double>> all;
  std::ifstream in(losses);
  std::string line;
  while (std::getline(in, line)) {
    try {
      const Json v = parse_json(line, losses.string());
      if (!v.is_object() || v.size() < 2) continue;
      auto step = v.begin(), first_loss = std::next(step);  // {"step": N, "<loss>": x, ...}
      if (step.key() != "step" || !step->is_number_integer() || !first_loss->is_number()) continue;
      name = first_loss.key();
      all.emplace_back(step->get<int64_t>(), first_loss->get<double>());
    } catch (const HostError&) {
      break;  // a torn last line of an interrupted run
    }
  }
  if (all.size() <= points) return all;
  // Mean over windows, so the curve shows the trend rather than one noisy batch.
  std::vector<std::pair<int64_t, double>> thinned;
  const size_t window = (all.size() + points - 1) / points;
  for (size_t i = 0; i < all.size(); i += window) {
    double sum = 0;
    size_t n = 0;
    for (size_t j = i; j < std::min(all.size(), i + window); ++j, ++n) sum += all[j].second;
    thinned.emplace_back(all[std::min(all.size() - 1, i + window - 1)].first, sum / static_cast<double>(n));
  }
  return thinned;
}

}  // namespace genlab
