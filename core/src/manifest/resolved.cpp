// A run's resolved manifest (the run.toml its folder keeps and its worker reads), and an
// experiment's plan as a table.
#include "genlab/core/reuse.hpp"
#include "genlab/util/error.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

toml::array names_array(const std::vector<std::string>& names) {
  toml::array out;
  for (const auto& n : names) out.push_back(n);
  return out;
}

toml::table settings_table(const RunSettings& s) {
  return toml::table{{"steps", s.budget.steps},
                     {"epochs", s.budget.epochs},
                     {"max_seconds", s.budget.seconds},
                     {"batch_size", s.batch_size},
                     {"checkpoint_every", s.checkpoint_every},
                     {"device", s.device},
                     {"precision", s.precision},
                     {"threads", s.threads},
                     {"timeout", s.timeout},
                     {"memory_limit_mb", s.memory_limit_mb},
                     {"processes", s.processes},
                     {"eval_samples", s.eval_samples},
                     {"eval_split", s.eval_split},
                     {"eval_generate", s.eval_generate},
                     {"eval_every", s.eval_every},
                     {"eval_during", names_array(s.eval_during)},
                     {"eval_during_samples", s.eval_during_samples}};
}

toml::table component_table(const Component& c) {
  toml::table t{
      {"name", c.name}, {"plugin", c.plugin_name}, {"library", c.plugin->library().string()}, {"params", c.params}};
  if (!c.id.empty()) t.insert("id", c.id);
  return t;
}

Component component_from(const toml::table& t, const fs::path& file, Plugins plugins) {
  Component c;
  c.name = t["name"].value_or(std::string());
  c.plugin_name = t["plugin"].value_or(std::string());
  const std::string library = t["library"].value_or(std::string());
  if (c.name.empty() || library.empty()) throw HostError(file.string() + ": a component lacks its name or library");
  if (const toml::table* p = t["params"].as_table()) c.params = *p;
  c.id = t["id"].value_or(std::string());
  if (plugins == Plugins::Load) c.plugin = load_plugin_library(library);
  return c;
}

RunSettings settings_from(const toml::table& s) {
  RunSettings rs;
  rs.budget.steps = s["steps"].value_or(int64_t{0});
  rs.budget.epochs = s["epochs"].value_or(0.0);
  rs.budget.seconds = s["max_seconds"].value_or(0.0);
  rs.batch_size = s["batch_size"].value_or(int64_t{64});
  rs.checkpoint_every = s["checkpoint_every"].value_or(int64_t{0});
  rs.device = s["device"].value_or(std::string("cpu"));
  rs.precision = s["precision"].value_or(std::string("fp32"));
  rs.threads = s["threads"].value_or(1);
  rs.timeout = s["timeout"].value_or(0.0);
  rs.memory_limit_mb = s["memory_limit_mb"].value_or(int64_t{0});
  rs.processes = s["processes"].value_or(1);
  rs.eval_samples = s["eval_samples"].value_or(int64_t{1024});
  rs.eval_split = s["eval_split"].value_or(std::string("test"));
  if (const toml::table* generate = s["eval_generate"].as_table()) rs.eval_generate = *generate;
  rs.eval_every = s["eval_every"].value_or(int64_t{0});
  if (const toml::array* during = s["eval_during"].as_array())
    for (const auto& name : *during) rs.eval_during.push_back(name.value_or(std::string()));
  rs.eval_during_samples = s["eval_during_samples"].value_or(int64_t{32});
  return rs;
}

}  // namespace

toml::table RunPlan::resolved() const {
  toml::array metrics_out;
  for (const auto& m : metrics) metrics_out.push_back(component_table(m));
  toml::table t{{"id", id},
                {"samples_id", samples_id},
                {"eval_id", eval_id},
                {"name", name},
                {"seed", seed},
                {"settings", settings_table(settings)},
                {"model", component_table(model)},
                {"dataset", component_table(dataset)},
                {"metrics", std::move(metrics_out)}};
  if (!features_id.empty()) t.insert("features", toml::table{{"id", features_id}, {"dir", features_dir.string()}});
  if (is_feature_net) t.insert("role", "features");
  if (trial >= 0) t.insert("search", toml::table{{"trial", trial}, {"group", search_group}, {"searched", searched}});
  return t;
}

RunPlan run_from_resolved(const toml::table& t, const fs::path& file, Plugins plugins) {
  RunPlan r;
  r.id = t["id"].value_or(std::string());
  r.samples_id = t["samples_id"].value_or(std::string());
  r.eval_id = t["eval_id"].value_or(std::string());
  r.name = t["name"].value_or(std::string());
  r.seed = t["seed"].value_or(int64_t{0});
  const toml::table* s = t["settings"].as_table();
  const toml::table* model = t["model"].as_table();
  const toml::table* dataset = t["dataset"].as_table();
  if (r.id.empty() || s == nullptr || model == nullptr || dataset == nullptr)
    throw HostError(file.string() + ": not a resolved run (id, settings, model or dataset missing)");
  r.settings = settings_from(*s);
  r.model = component_from(*model, file, plugins);
  r.dataset = component_from(*dataset, file, plugins);
  r.features_id = t["features"]["id"].value_or(std::string());
  r.features_dir = t["features"]["dir"].value_or(std::string());
  r.is_feature_net = t["role"].value_or(std::string()) == "features";
  r.trial = t["search"]["trial"].value_or(int64_t{-1});
  r.search_group = t["search"]["group"].value_or(std::string());
  if (const toml::table* searched = t["search"]["searched"].as_table()) r.searched = *searched;
  if (const toml::array* metrics = t["metrics"].as_array())
    for (const auto& m : *metrics)
      if (const toml::table* mt = m.as_table()) r.metrics.push_back(component_from(*mt, file, plugins));
  return r;
}

toml::table Experiment::plan() const {
  toml::array runs_out;
  for (const auto& r : runs) {
    toml::table t = r.resolved();
    t.insert("folder", (folder() / "runs" / r.folder_name()).string());
    const RunFate fate = run_fate(r, folder() / "runs" / r.folder_name());
    t.insert("fate",
             toml::table{{"train", toml::table{{"action", fate.train.action}, {"why", fate.train.why}}},
                         {"evaluate", toml::table{{"action", fate.evaluate.action}, {"why", fate.evaluate.why}}}});
    runs_out.push_back(std::move(t));
  }
  toml::array features_out;
  for (const auto& r : feature_runs) {
    toml::table t = r.resolved();
    t.insert("folder", feature_folder(r).string());
    features_out.push_back(std::move(t));
  }
  toml::array files;
  for (const auto& f : includes) files.push_back(f.string());
  return toml::table{{"manifest", file.string()},   {"files", std::move(files)},
                     {"experiment", name},          {"workspace", workspace.string()},
                     {"runs", std::move(runs_out)}, {"feature_networks", std::move(features_out)}};
}

}  // namespace genlab
