// `genlab status|compare|report|sample`: what the runs of a workspace produced.
#include <algorithm>
#include <iostream>

#include "command.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/registration.hpp"
#include "genlab/core/report.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/util/error.hpp"

namespace fs = std::filesystem;

namespace genlab::cli {

int status_command(const std::vector<std::string>& args) {
  po::options_description options("status");
  add_workspace_option(options, "workspace folder");
  po::positional_options_description positional;
  positional.add("workspace", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab status [WORKSPACE]")) return kOk;
  const fs::path workspace = vm["workspace"].as<std::string>();
  require_folder(workspace, "workspace");
  // A folder with no experiment in it is not a workspace: say so rather than print an empty table.
  bool any = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(workspace, ec))
    any = any || fs::is_directory(entry.path() / "runs", ec);
  if (!any)
    throw HostError(workspace.string() +
                    ": no experiment has run in this workspace (no EXPERIMENT/runs/ folder in it)" +
                    (fs::is_directory(workspace / "runs", ec)
                         ? "; it is an experiment's folder: its workspace is " + clean(workspace).parent_path().string()
                         : std::string()));
  std::cout << workspace_status(workspace);
  return kOk;
}

namespace {

// `compare --metric M` that matches nothing: an error naming the metrics the results have,
// and the closest of them (or of their parts: "fid" of "fid.fid").
[[noreturn]] void no_such_metric(const Experiment& e, const std::string& only) {
  std::vector<std::string> names, candidates;
  auto add = [](std::vector<std::string>& v, const std::string& s) {
    if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  for (const auto& g : group_runs(e))
    for (const auto& run : g.runs)
      for (const auto& [key, value] : run.metrics) {
        if (key.find(".recall_class_") != std::string::npos || key.find(".share_class_") != std::string::npos) continue;
        add(names, key);
        add(candidates, key);
        const size_t dot = key.find('.');
        if (dot != std::string::npos) {
          add(candidates, key.substr(0, dot));
          add(candidates, key.substr(dot + 1));
        }
      }
  if (names.empty())
    throw HostError("no metric matching '" + only + "': experiment '" + e.name +
                    "' has no finished evaluation yet (`genlab run " + e.file.string() + "` first)");
  throw HostError("no metric matching '" + only + "' in the results of experiment '" + e.name + "'" +
                  did_you_mean(only, candidates) + "; they have " + join_names(names));
}

}  // namespace

int compare_command(const std::vector<std::string>& args) {
  po::options_description options("compare");
  po::positional_options_description positional;
  add_manifest_options(options, positional);
  options.add_options()("metric", po::value<std::string>()->default_value(""),
                        "only metrics whose name contains this (e.g. fid, cost.)");
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab compare MANIFEST [--metric M] [--set KEY=VALUE]...")) return kOk;
  const Experiment e = load_experiment(manifest_of(vm), overrides(vm));
  const std::string metric = vm["metric"].as<std::string>();
  const std::string text = compare_text(e, metric);
  if (!metric.empty() && text.rfind("no finished evaluations", 0) == 0) no_such_metric(e, metric);
  std::cout << text;
  return kOk;
}

int report_command(const std::vector<std::string>& args) {
  po::options_description options("report");
  po::positional_options_description positional;
  add_manifest_options(options, positional);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab report MANIFEST [--set KEY=VALUE]...")) return kOk;
  const Experiment e = load_experiment(manifest_of(vm), overrides(vm));
  if (!fs::is_directory(e.folder()))
    throw HostError("experiment '" + e.name + "' has not run: no folder " + e.folder().string() + " (`genlab run " +
                    e.file.string() + "` first)");
  const fs::path page = write_report(e);
  std::cout << claims_text(e) << "report: " << page.string() << "\n";
  return kOk;
}

int sample_command(const std::vector<std::string>& args) {
  po::options_description options("sample");
  options.add_options()("ref", po::value<std::string>()->required(), "NAME[:VERSION|@ALIAS]")(
      "n", po::value<int64_t>()->default_value(64), "how many samples")(
      "out", po::value<std::string>()->default_value("samples.png"),
      "the PNG to write (FILE.txt: a text model's text)")(
      "option", po::value<std::vector<std::string>>()->composing(),
      "KEY=VALUE for the model's generate, e.g. sampler=ddpm (repeatable; docs/manifest.md lists them)");
  add_workspace_option(options);
  add_plugin_path_option(options);
  po::positional_options_description positional;
  positional.add("ref", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "genlab sample NAME[:VERSION|@ALIAS] [--n 64] [--out grid.png] [--option KEY=VALUE]..."))
    return kOk;
  toml::table generate_options;
  if (vm.count("option"))
    for (const auto& o : vm["option"].as<std::vector<std::string>>()) apply_override(generate_options, o, "--option");
  auto reg = open_registry(vm);
  const int64_t n = vm["n"].as<int64_t>();
  const double seconds = sample_version(reg, vm["ref"].as<std::string>(), n, generate_options,
                                        vm["out"].as<std::string>(), plugin_paths(vm));
  std::cout << "wrote " << vm["out"].as<std::string>() << ": " << n << " samples in " << seconds << " s ("
            << static_cast<double>(n) / seconds << " samples/s)\n";
  return kOk;
}

}  // namespace genlab::cli
