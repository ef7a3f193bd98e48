// The dashboard's reading of a workspace (workspace_view.hpp). The same readers as
// `genlab status` (run_status) and the report (group_runs, comparison_tables), over run
// folders whose run.toml is read without loading any plugin.
#include "workspace_view.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "genlab/core/executor.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/report.hpp"
#include "genlab/core/samples.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/registry/registry.hpp"
#include "genlab/serve/serve.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"

namespace genlab::serve {
namespace fs = std::filesystem;

namespace {

// The lines of a step series (losses.jsonl, during/evaluations.jsonl) that parse; a torn
// last line (a run writing it now) is skipped.
std::vector<Json> series_lines(const fs::path& file) {
  std::vector<Json> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    try {
      Json j = parse_json(line, file.string());
      if (j.is_object() && j.contains("step") && j["step"].is_number_integer()) out.push_back(std::move(j));
    } catch (const HostError&) {
    }
  }
  return out;
}

// A number of a series line; null for "NaN"/"inf" strings.
Json number_or_null(const Json& v) { return v.is_number() ? v : Json(nullptr); }

// The run folders of an experiment; an entry that leads out of the workspace (a symlink)
// is not read, and said in `problems`.
std::vector<fs::path> run_folders(const fs::path& workspace, const fs::path& experiment, Json& problems) {
  std::vector<fs::path> runs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(experiment / "runs", ec)) {
    const std::string name = entry.path().filename().string();
    if (!inside(workspace, {experiment.filename().string(), "runs", name}))
      problems.push_back(experiment.filename().string() + "/runs/" + name + ": leads out of the workspace; not read");
    else if (entry.is_directory()) runs.push_back(entry.path());
  }
  std::sort(runs.begin(), runs.end());
  return runs;
}

std::vector<int64_t> during_steps(const fs::path& run_dir) {
  std::vector<int64_t> steps;
  for (const auto& line : series_lines(during_series_file(run_dir))) steps.push_back(line["step"]);
  return steps;
}

Json run_entry(const fs::path& run_dir) {
  const RunStatus s = run_status(run_dir);
  Json run = {{"folder", run_dir.filename().string()},
              {"name", s.name},
              {"train", s.train},
              {"evaluate", s.evaluate},
              {"step", s.step},
              {"seconds", s.seconds},
              {"updated", s.updated},
              {"reason", s.reason},
              {"log_tail", s.log_tail}};
  const fs::path file = run_dir / "run.toml";
  toml::table plan;
  try {
    plan = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw HostError(file.string() + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  run["model"] = plan["model"]["name"].value_or(std::string());
  run["dataset"] = plan["dataset"]["name"].value_or(std::string());
  run["seed"] = plan["seed"].value_or(int64_t{0});
  run["total"] = plan["settings"]["steps"].value_or(int64_t{0});
  run["eval_every"] = plan["settings"]["eval_every"].value_or(int64_t{0});
  const std::string last = last_lines(run_dir / "losses.jsonl", 1);
  try {
    const Json line = parse_json(last.substr(0, last.find('\n')), "losses.jsonl");
    for (const auto& [k, v] : line.items())
      if (k != "step") {
        run["loss_name"] = k;
        run["loss"] = number_or_null(v);
        break;
      }
  } catch (const HostError&) {
  }
  run["during_steps"] = during_steps(run_dir);
  return run;
}

}  // namespace

Json workspace_json(const fs::path& workspace) {
  Json experiments = Json::array(), problems = Json::array();
  for (const auto& folder : experiment_folders(workspace)) {
    Json runs = Json::array();
    for (const auto& run_dir : run_folders(workspace, folder, problems)) {
      try {
        runs.push_back(run_entry(run_dir));
      } catch (const std::exception& e) {  // a corrupt run folder: said, and the rest shown
        problems.push_back(folder.filename().string() + "/runs/" + run_dir.filename().string() + ": " + e.what());
      }
    }
    experiments.push_back({{"name", folder.filename().string()},
                           {"runs", std::move(runs)},
                           {"report", fs::exists(folder / "report.html")}});
  }
  return {{"workspace", workspace.string()},
          {"experiments", std::move(experiments)},
          {"registry", fs::exists(workspace / "registry.db")},
          {"problems", std::move(problems)}};
}

Json run_json(const fs::path& run_dir, size_t points) {
  const std::vector<Json> lines = series_lines(run_dir / "losses.jsonl");
  Json losses = Json::array();
  std::string loss_name;
  const size_t stride = std::max<size_t>(1, (lines.size() + points - 1) / std::max<size_t>(1, points));
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i % stride != 0 && i + 1 != lines.size()) continue;
    for (const auto& [k, v] : lines[i].items())
      if (k != "step") {
        loss_name = k;
        losses.push_back({{"step", lines[i]["step"]}, {"loss", number_or_null(v)}});
        break;
      }
  }
  Json during = Json::array();
  for (const auto& line : series_lines(during_series_file(run_dir))) {
    const int64_t step = line["step"];
    Json metrics = Json::object();
    for (const auto& [k, v] : line.items())
      if (k.find('.') != std::string::npos) metrics[k] = number_or_null(v);
    Json entry = {
        {"step", step}, {"seconds", number_or_null(line.value("seconds", Json()))}, {"metrics", std::move(metrics)}};
    try {
      const auto texts = sample_texts(during_samples_file(run_dir, step), 2);
      if (!texts.empty()) entry["texts"] = texts;
    } catch (const HostError&) {
    }
    during.push_back(std::move(entry));
  }
  return {{"folder", run_dir.filename().string()},
          {"loss_name", loss_name},
          {"losses", std::move(losses)},
          {"during", std::move(during)}};
}

std::string during_png(const fs::path& run_dir, int64_t step, int64_t limit) {
  return samples_file_png(during_samples_file(run_dir, step), limit);
}

Json experiment_json(const fs::path& workspace, const std::string& name) {
  Experiment e;
  e.workspace = workspace;
  e.name = name;
  Json problems = Json::array();
  for (const auto& run_dir : run_folders(workspace, e.folder(), problems)) {
    try {
      const fs::path file = run_dir / "run.toml";
      e.runs.push_back(run_from_resolved(toml::parse_file(file.string()), file, Plugins::Skip));
    } catch (const std::exception& err) {
      problems.push_back("runs/" + run_dir.filename().string() + ": " + err.what());
    }
  }
  // The manifest's report.headline and the claims' verdicts, as the last report wrote them.
  Json claims = Json::array();
  try {
    if (fs::exists(e.folder() / "report.json")) {
      const Json report = parse_json(read_file(e.folder() / "report.json"), "report.json");
      if (report.contains("claims")) claims = report["claims"];
      if (report.contains("headline"))
        for (const auto& c : report["headline"]) e.report.headline.push_back(c.get<std::string>());
    }
  } catch (const std::exception& err) {
    problems.push_back(std::string("report.json: ") + err.what());
  }
  const std::vector<RunGroup> groups = group_runs(e);
  Json datasets = Json::array();
  for (const auto& t : comparison_tables(e, groups)) {
    Json rows = Json::array();
    for (const auto& r : t.rows)
      rows.push_back({{"label", r.label},
                      {"plugin", r.model_plugin},
                      {"finished", r.finished},
                      {"seeds", r.seeds},
                      {"cells", r.cells},
                      {"best", r.best}});
    datasets.push_back({{"dataset", t.dataset},
                        {"columns", t.columns},
                        {"titles", t.titles},
                        {"headline", t.headline},
                        {"rows", std::move(rows)}});
  }
  Json failed = Json::array();
  for (const auto& g : groups)
    for (const auto& r : g.runs)
      if (r.state.find("failed") != std::string::npos) {
        const RunStatus s = run_status(r.run_dir);
        failed.push_back({{"run", r.plan->name}, {"state", r.state}, {"reason", r.reason}, {"log_tail", s.log_tail}});
      }
  return {{"name", name},
          {"datasets", std::move(datasets)},
          {"failed", std::move(failed)},
          {"claims", std::move(claims)},
          {"problems", std::move(problems)}};
}

Json registry_json(const fs::path& workspace) {
  if (!fs::exists(workspace / "registry.db")) return {{"versions", Json::array()}, {"deleted", Json::array()}};
  registry::Registry reg(workspace, registry::Registry::Open::Existing);
  Json versions = Json::array();
  for (const auto& v : reg.store().versions("")) {
    Json metrics = Json::array();
    for (const auto& m : v.metrics)
      metrics.push_back({{"name", m.name},
                         {"value", std::isfinite(m.value) ? Json(m.value) : Json(nullptr)},
                         {"direction", m.direction}});
    Json lineage = {{"run_id", v.run_id},
                    {"eval_id", v.eval_id},
                    {"seed", v.seed},
                    {"dataset", v.dataset_plugin},
                    {"plugin", v.plugin.name + " " + v.plugin.version}};
    if (const auto run = reg.store().run(v.run_id)) {
      lineage["experiment"] = run->experiment;
      lineage["manifest"] = run->manifest;
      lineage["host"] = run->host;
      lineage["train_seconds"] = run->seconds;
    }
    if (v.replaces > 0) lineage["replaces"] = v.model + ":" + std::to_string(v.replaces);
    versions.push_back({{"ref", v.ref()},
                        {"model", v.model},
                        {"version", v.version},
                        {"created", v.created},
                        {"aliases", v.aliases},
                        {"metrics", std::move(metrics)},
                        {"lineage", std::move(lineage)},
                        {"card", reg.model_card(v)}});
  }
  Json deleted = Json::array();
  for (const auto& d : reg.store().deleted_versions(""))
    deleted.push_back({{"ref", d.ref()}, {"deleted_at", d.deleted_at}, {"restored", d.restored}});
  return {{"versions", std::move(versions)}, {"deleted", std::move(deleted)}};
}

}  // namespace genlab::serve
