// The genlab command line. Exit codes: 0 ok, 1 failure, 2 usage error.
#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <boost/program_options.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "data_command.hpp"
#include "genlab/core/conformance.hpp"
#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"
#include "genlab/core/executor.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/registration.hpp"
#include "genlab/core/reuse.hpp"
#include "genlab/core/report.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/util/files.hpp"
#include "genlab/core/worker.hpp"
#include "genlab/genlab.h"
#include <boost/dll/runtime_symbol_info.hpp>

#ifndef GENLAB_VERSION
#define GENLAB_VERSION "0.0.0"
#endif

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace genlab;

namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* kOverview = R"(genlab — a runtime and model registry for generative models, built as plugins.

Usage: genlab [--verbose] COMMAND [ARGS...]

Commands:
  plugins list [--json]            the plugins found (built-in, GENLAB_PLUGIN_PATH, --plugin-path)
  plugins info NAME [--json]       one plugin's description, capabilities and parameters
  plugins check PATH               conformance check of a plugin folder or library
  validate MANIFEST [--json]       resolve a manifest and print its run plan; runs nothing
  run MANIFEST [--jobs N] [--executor local|slurm] [--resume | --restart] [--threads N]
      [--fail-fast | --keep-going]
                                   run an experiment: each step in a worker process (or a
                                   Slurm job), finished runs skipped, interrupted ones resumed
                                   with --resume (or begun again with --restart), Slurm jobs
                                   still running re-attached
  cancel MANIFEST                  cancel what runs an experiment's nodes (Slurm jobs, local
                                   workers: they checkpoint and stop)
  status [WORKSPACE]               the runs of a workspace: state, progress, time, failures
  compare MANIFEST [--metric M]    per metric, the models ranked over their seeds (mean, 95% CI)
  report MANIFEST                  write report.html and report.md again from the runs' results,
                                   and print the verdicts of the manifest's [[claims]]
  registry list|show|alias|compare|export|delete|restore|gc
                                   the model registry of a workspace (genlab-runs/registry.db)
  sample REF [--n 64] [--out F] [--option K=V]...
                                   draw samples from a registered model (NAME[:VERSION|@ALIAS]),
                                   with options for its generate (sampler=ddim, steps=50, ...)
  data render-views MESH --out DIR [--size 100] [--train 100] [--val 10] [--test 20]
                                   posed views of a mesh (.off, .obj) in the NeRF-synthetic
                                   (Blender) layout; `genlab data --help` for the data commands

Global options:
  -h, --help       this text; `genlab COMMAND --help` for a command's options
  --version        the genlab and ABI versions
  -v, --verbose    debug logging

Exit codes: 0 ok, 1 failure, 2 usage error.
)";

// Parses a subcommand's options; --help prints them and returns false.
bool parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map& vm,
           const std::string& usage) {
  po::options_description all(options);
  all.add_options()("help,h", "this text");
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << "Usage: " << usage << "\n\n" << all;
    return false;
  }
  po::notify(vm);
  return true;
}

std::vector<fs::path> paths(const po::variables_map& vm) {
  std::vector<fs::path> out;
  if (vm.count("plugin-path"))
    for (const auto& p : vm["plugin-path"].as<std::vector<std::string>>()) out.emplace_back(p);
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

toml::array to_array(const std::vector<std::string>& v) {
  toml::array a;
  for (const auto& s : v) a.push_back(s);
  return a;
}

int plugins_list(const std::vector<std::string>& args) {
  po::options_description options("plugins list");
  options.add_options()("json", "print JSON")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "also search DIR (repeatable)");
  po::variables_map vm;
  if (!parse(args, options, {}, vm, "genlab plugins list [--json] [--plugin-path DIR]...")) return kOk;
  const Discovery found = discover_plugins(plugin_search_path(paths(vm)));
  if (vm.count("json")) {
    toml::array plugins, problems;
    for (const auto& p : found.plugins)
      plugins.push_back(toml::table{{"name", p.name},         {"kind", kind_name(p.kind)},
                                    {"version", p.version},   {"abi_version", p.abi_version()},
                                    {"family", p.family},     {"summary", p.summary},
                                    {"modalities", to_array(p.modalities)}, {"folder", p.folder.string()}});
    for (const auto& problem : found.problems) problems.push_back(problem);
    std::cout << to_json(toml::table{{"plugins", std::move(plugins)}, {"problems", std::move(problems)}}) << "\n";
    return kOk;
  }
  // Columns as wide as their widest cell, so the table reads at any name length.
  std::vector<std::vector<std::string>> rows = {{"NAME", "KIND", "VERSION", "ABI", "FAMILY", "MODALITIES", "SUMMARY"}};
  for (const auto& p : found.plugins)
    rows.push_back({p.name, kind_name(p.kind), p.version, p.abi_version(), p.family, join(p.modalities, ","), p.summary});
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  for (const auto& row : rows) {
    for (size_t c = 0; c + 1 < row.size(); ++c) std::cout << std::left << std::setw(static_cast<int>(widths[c] + 2)) << row[c];
    std::cout << row.back() << "\n";
  }
  for (const auto& problem : found.problems) std::cerr << "warning: " << problem << "\n";
  return kOk;
}

const char* type_name(genlab_param_type t) {
  switch (t) {
    case GENLAB_PARAM_INT: return "int";
    case GENLAB_PARAM_DOUBLE: return "double";
    case GENLAB_PARAM_BOOL: return "bool";
    case GENLAB_PARAM_STRING: return "string";
  }
  return "?";
}

std::vector<std::string> capability_names(uint64_t caps) {
  static const std::pair<uint64_t, const char*> names[] = {
      {GENLAB_CAPABILITY_TRAIN, "train"},           {GENLAB_CAPABILITY_GENERATE, "generate"},
      {GENLAB_CAPABILITY_SCORE, "score"},           {GENLAB_CAPABILITY_STATE, "state"},
      {GENLAB_CAPABILITY_NEEDS_SCORES, "needs_scores"}, {GENLAB_CAPABILITY_NEEDS_REAL, "needs_real"},
      {GENLAB_CAPABILITY_NEEDS_GENERATED, "needs_generated"}, {GENLAB_CAPABILITY_READS_FEATURES, "reads_features"},
      {GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS, "generate_needs_inputs"}, {GENLAB_CAPABILITY_DATA_PARALLEL, "data_parallel"},
      {GENLAB_CAPABILITY_MIXED_PRECISION, "mixed_precision"}};
  std::vector<std::string> out;
  for (const auto& [bit, name] : names)
    if (caps & bit) out.push_back(name);
  return out;
}

int plugins_info(const std::vector<std::string>& args) {
  po::options_description options("plugins info");
  options.add_options()("name", po::value<std::string>()->required(), "plugin name")("json", "print JSON")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "also search DIR (repeatable)");
  po::positional_options_description positional;
  positional.add("name", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab plugins info NAME [--json]")) return kOk;
  const Discovery found = discover_plugins(plugin_search_path(paths(vm)));
  const PluginManifest& manifest = find_plugin(found, vm["name"].as<std::string>());
  auto plugin = load_plugin(manifest);
  const auto& d = plugin->description();
  std::vector<std::string> devices;
  for (int32_t t : d.device_types) devices.push_back(device_type_name(t));
  if (vm.count("json")) {
    auto specs = [](const std::vector<ParamSpec>& list) {
      toml::array out;
      for (const auto& p : list) {
        toml::table t{{"name", p.name}, {"type", type_name(p.type)}, {"doc", p.doc}};
        if (p.default_value) t.insert("default", *p.default_value);
        out.push_back(std::move(t));
      }
      return out;
    };
    toml::table info{{"name", d.name}, {"kind", kind_name(d.kind)}, {"version", d.version},
                     {"abi_version", manifest.abi_version()}, {"family", d.family},
                     {"summary", d.summary}, {"modalities", to_array(d.modalities)},
                     {"capabilities", to_array(capability_names(d.capabilities))},
                     {"devices", to_array(devices)}, {"params", specs(d.params)},
                     {"library", plugin->library().string()}};
    if (d.declares_generate_params) info.insert("generate_options", specs(d.generate_params));
    std::cout << to_json(info) << "\n";
    return kOk;
  }
  std::cout << d.name << " " << d.version << " — " << d.summary << "\n"
            << "  kind:         " << kind_name(d.kind) << "\n"
            << "  family:       " << d.family << "\n"
            << "  abi:          " << plugin->api().abi_major << "." << plugin->api().abi_minor << "\n"
            << "  modalities:   " << join(d.modalities) << "\n"
            << "  capabilities: " << join(capability_names(d.capabilities)) << "\n"
            << "  devices:      " << join(devices) << "\n"
            << "  library:      " << plugin->library().string() << "\n";
  auto list = [](const char* heading, const std::vector<ParamSpec>& specs) {
    std::cout << heading;
    for (const auto& p : specs)
      std::cout << "    " << std::left << std::setw(18) << p.name << std::setw(8) << type_name(p.type)
                << std::setw(12) << (p.default_value ? "= " + *p.default_value : std::string("(required)")) + " "
                << p.doc << "\n";
  };
  if (!d.params.empty()) list("  parameters:\n", d.params);
  if (d.kind == GENLAB_PLUGIN_KIND_MODEL) {
    if (!d.declares_generate_params) std::cout << "  generate options: not declared (ABI < 1.5): passed on unchecked\n";
    else if (d.generate_params.empty()) std::cout << "  generate options: none\n";
    else list("  generate options:\n", d.generate_params);
  }
  return kOk;
}

int plugins_check(const std::vector<std::string>& args) {
  po::options_description options("plugins check");
  options.add_options()("path", po::value<std::string>()->required(), "plugin folder or library")(
      "dataset", po::value<std::string>()->default_value(""), "dataset plugin to feed a model or metric")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "also search DIR (repeatable)");
  po::positional_options_description positional;
  positional.add("path", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab plugins check PATH [--dataset NAME]")) return kOk;
  CheckOptions check;
  check.dataset = vm["dataset"].as<std::string>();
  check.plugin_paths = paths(vm);
  const auto items = check_plugin(vm["path"].as<std::string>(), check);
  size_t failed = 0;
  for (const auto& item : items) {
    failed += !item.passed;
    std::cout << (item.passed ? "PASS  " : "FAIL  ") << item.name << (item.detail.empty() ? "" : ": " + item.detail)
              << "\n";
  }
  std::cout << (items.size() - failed) << " passed, " << failed << " failed\n";
  return failed == 0 && !items.empty() ? kOk : kFailure;
}

std::vector<std::string> overrides(const po::variables_map& vm) {
  return vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

void add_manifest_options(po::options_description& options, po::positional_options_description& positional) {
  options.add_options()("manifest", po::value<std::string>()->required(), "experiment manifest (TOML)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override KEY=VALUE (repeatable)");
  positional.add("manifest", 1);
}

std::string manifest_of(const po::variables_map& vm);  // below: a mistyped manifest gets a did-you-mean

int validate(const std::vector<std::string>& args) {
  po::options_description options("validate");
  po::positional_options_description positional;
  add_manifest_options(options, positional);
  options.add_options()("json", "print the plan as JSON");
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab validate MANIFEST [--json] [--set KEY=VALUE]...")) return kOk;
  const Experiment e = load_experiment(manifest_of(vm), overrides(vm));
  if (vm.count("json")) {
    std::cout << to_json(e.plan()) << "\n";
    return kOk;
  }
  std::cout << e.file.string() << ": ok — experiment '" << e.name << "', " << e.runs.size()
            << " run(s), workspace " << e.folder().string() << "\n";
  for (const auto& r : e.feature_runs)
    std::cout << "  " << r.name << "  [" << r.id.substr(0, 12) << "]  feature network " << r.model.plugin_name << " on "
              << r.dataset.name << ", " << r.settings.budget.steps << " steps (" << e.feature_folder(r).string()
              << (fs::exists(done_file(e.feature_folder(r), NodeKind::Train)) ? ", trained" : "") << ")\n";
  for (const auto& r : e.runs) {
    const auto& b = r.settings.budget;
    std::cout << "  " << r.name << "  [" << r.id.substr(0, 12) << "]  model " << r.model.name << " ("
              << r.model.plugin_name << ") on " << r.dataset.name << " (" << r.dataset.plugin_name << "), seed " << r.seed
              << ", " << (b.steps ? std::to_string(b.steps) + " steps " : "")
              << (b.epochs > 0 ? std::to_string(b.epochs) + " epochs " : "")
              << (b.seconds > 0 ? std::to_string(b.seconds) + " s " : "") << "batch " << r.settings.batch_size << ", "
              << r.settings.device << ", " << r.settings.threads << " thread(s)\n";
    const RunFate fate = run_fate(r, e.folder() / "runs" / r.folder_name());
    std::cout << "      train: " << fate.train.action << " (" << fate.train.why << ")\n"
              << "      evaluate: " << fate.evaluate.action << " (" << fate.evaluate.why << ")\n";
  }
  std::map<std::string, std::vector<std::string>> metric_runs;  // metric -> the runs it evaluates
  std::vector<std::string> metric_order;
  for (const auto& r : e.runs)
    for (const auto& m : r.metrics) {
      const std::string key = m.name + " (" + m.plugin_name + ")";
      if (metric_runs[key].empty()) metric_order.push_back(key);
      metric_runs[key].push_back(r.name);
    }
  for (const auto& key : metric_order)
    std::cout << "  metric " << key
              << (metric_runs[key].size() == e.runs.size() ? std::string(": every run")
                                                             : ": " + std::to_string(metric_runs[key].size()) + " run(s)")
              << "\n";
  for (const auto& c : e.claims)
    std::cout << "  claim " << c.id << ": " << c.text << " (" << c.checks.size() << " check(s))\n";
  return kOk;
}

int run(const std::vector<std::string>& args) {
  po::options_description options("run");
  po::positional_options_description positional;
  add_manifest_options(options, positional);
  options.add_options()("jobs,j", po::value<int>(),
                        "worker processes at once (default 1); with Slurm, jobs submitted at once (default: no cap)")(
      "executor", po::value<std::string>(), "local or slurm (default: the manifest's [executor] kind, else local)")(
      "threads", po::value<int>()->default_value(0), "CPU threads shared by running nodes (0: all cores)")(
      "resume", "continue interrupted training from its last checkpoint")(
      "restart", "train interrupted runs again from step 0, deleting their checkpoints")(
      "fail-fast", "stop at the first failure")("keep-going", "go on past failures (the default)")(
      "quiet,q", "plain periodic progress lines instead of live bars");
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "genlab run MANIFEST [--jobs N] [--executor local|slurm] [--resume|--restart] [--fail-fast] [--set KEY=VALUE]... "
             "[--quiet]"))
    return kOk;
  if (vm.count("fail-fast") && vm.count("keep-going")) throw UsageError("--fail-fast and --keep-going exclude each other");
  if (vm.count("jobs") && (vm["jobs"].as<int>() < 1 || vm["jobs"].as<int>() > 1024))
    throw UsageError("--jobs must be in [1, 1024], got " + std::to_string(vm["jobs"].as<int>()));
  if (vm["threads"].as<int>() < 0 || vm["threads"].as<int>() > 1024)
    throw UsageError("--threads must be in [0, 1024] (0: all cores), got " + std::to_string(vm["threads"].as<int>()));
  const Experiment e = load_experiment(manifest_of(vm), overrides(vm));
  SchedulerOptions o;
  if (vm.count("executor")) {
    o.executor = vm["executor"].as<std::string>();
    if (o.executor != "local" && o.executor != "slurm")
      throw UsageError("--executor must be local or slurm, got '" + o.executor + "'");
  }
  const bool on_slurm = (o.executor.empty() ? e.executor.kind : o.executor) == "slurm";
  o.jobs = vm.count("jobs") ? vm["jobs"].as<int>() : on_slurm ? 0 : 1;
  o.thread_budget = vm["threads"].as<int>();
  o.resume = vm.count("resume") > 0;
  o.restart = vm.count("restart") > 0;
  if (o.resume && o.restart) throw UsageError("--resume and --restart exclude each other");
  // An interrupted run's checkpoint is never thrown away by accident: say what to do first.
  if (!o.resume && !o.restart) {
    std::vector<std::string> interrupted;
    for (const auto& r : e.runs)
      if (run_fate(r, e.folder() / "runs" / r.folder_name()).train.action == "resume") interrupted.push_back(r.name);
    for (const auto& r : e.feature_runs)
      if (run_fate(r, e.feature_folder(r)).train.action == "resume") interrupted.push_back(r.name);
    if (!interrupted.empty())
      throw UsageError(std::to_string(interrupted.size()) + " run(s) were interrupted and keep a checkpoint (" +
                       join(interrupted) + "): genlab run --resume continues them, --restart trains them again from step 0");
  }
  o.fail_fast = vm.count("fail-fast") > 0;
  o.quiet = vm.count("quiet") > 0;
  o.executable = boost::dll::program_location().string();
  spdlog::info("experiment '{}': {} run(s), {}, workspace {}", e.name, e.runs.size(),
               on_slurm ? "on Slurm" : std::to_string(o.jobs) + " job(s)", e.folder().string());
  const ScheduleResult result = run_scheduler(e, o);
  // Every evaluated run becomes a model version (registering again is a no-op).
  std::vector<std::string> registered;
  try {
    registry::Registry reg(e.workspace);
    auto register_evaluated = [&](const RunPlan& r, const fs::path& run_dir) {
      const fs::path eval_dir = run_dir / r.eval_folder_name();
      if (!fs::exists(done_file(eval_dir, NodeKind::Evaluate))) return;
      try {
        const std::string ref = register_run(reg, e, r, run_dir, eval_dir).ref();
        if (!r.is_feature_net) registered.push_back(ref);
      } catch (const std::exception& err) {
        spdlog::warn("run {} not registered: {}", r.name, err.what());
      }
    };
    for (const auto& r : e.feature_runs) register_evaluated(r, e.feature_folder(r));
    for (const auto& r : e.runs) register_evaluated(r, e.folder() / "runs" / r.folder_name());
  } catch (const std::exception& err) {
    spdlog::warn("registry {} unavailable: {}", (e.workspace / "registry.db").string(), err.what());
  }
  size_t reused = 0;
  for (const auto& n : result.nodes) reused += n.reused;
  std::cout << read_file(e.folder() / "summary.md");
  if (!e.claims.empty()) std::cout << "\n" << claims_text(e);
  std::cout << "\n" << result.nodes.size() << " node(s): " << (result.nodes.size() - result.failed()) << " ok ("
            << reused << " already done), " << result.failed() << " failed or skipped\n";
  if (!registered.empty()) std::cout << "registered: " << join(registered) << "\n";
  std::cout << "summary: " << (e.folder() / "summary.md").string() << "\n"
            << "report: " << (e.folder() / "report.html").string() << "\n";
  if (result.interrupted) return 130;
  return result.failed() == 0 ? kOk : kFailure;
}

int cancel(const std::vector<std::string>& args) {
  po::options_description options("cancel");
  po::positional_options_description positional;
  add_manifest_options(options, positional);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab cancel MANIFEST [--set KEY=VALUE]...")) return kOk;
  const Experiment e = load_experiment(manifest_of(vm), overrides(vm));
  const std::vector<std::string> cancelled = cancel_experiment(e);
  for (const auto& line : cancelled) std::cout << line << "\n";
  std::cout << (cancelled.empty() ? "nothing of '" + e.name + "' is running" : std::to_string(cancelled.size()) + " node(s) cancelled")
            << "\n";
  return kOk;
}

int worker(const std::vector<std::string>& args) {
  po::options_description options("worker");
  options.add_options()("kind", po::value<std::string>()->required(), "prepare, train or evaluate")(
      "dir", po::value<std::string>()->required(), "the node's folder")("resume", "resume from the checkpoint");
  po::positional_options_description positional;
  positional.add("kind", 1).add("dir", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab worker KIND DIR [--resume]  (started by `genlab run`)")) return kOk;
  const auto kind = parse_node_kind(vm["kind"].as<std::string>());
  if (!kind) throw UsageError("worker kind must be prepare, train or evaluate");
  return run_worker(*kind, vm["dir"].as<std::string>(), vm.count("resume") > 0);
}

// `path` made absolute and normal, without a trailing separator (so it has a file name).
fs::path clean(const fs::path& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  return p.filename().empty() ? p.parent_path() : p;
}

// The names in the folder of `path` that `keep` accepts: what a mistyped `path` may have meant.
std::vector<std::string> names_beside(const fs::path& path, const std::function<bool(const fs::directory_entry&)>& keep) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(clean(path).parent_path(), ec))
    if (keep(entry)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A folder a command reads must exist: a mistyped one is an error with the closest folder beside it.
void require_folder(const fs::path& folder, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(folder, ec)) return;
  const auto folders = names_beside(folder, [](const fs::directory_entry& e) {
    std::error_code ignored;
    return e.is_directory(ignored);
  });
  throw HostError(folder.string() + ": no such " + what + " folder" + did_you_mean(clean(folder).filename().string(), folders));
}

// The manifest argument: a missing file is an error naming the closest .toml beside it.
std::string manifest_of(const po::variables_map& vm) {
  const std::string manifest = vm["manifest"].as<std::string>();
  std::error_code ec;
  if (fs::is_regular_file(manifest, ec)) return manifest;
  const auto manifests = names_beside(manifest, [](const fs::directory_entry& e) { return e.path().extension() == ".toml"; });
  throw HostError(manifest + ": no such manifest" + did_you_mean(clean(manifest).filename().string(), manifests));
}

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

int compare(const std::vector<std::string>& args) {
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

int report(const std::vector<std::string>& args) {
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

int status(const std::vector<std::string>& args) {
  po::options_description options("status");
  options.add_options()("workspace", po::value<std::string>()->default_value("genlab-runs"), "workspace folder");
  po::positional_options_description positional;
  positional.add("workspace", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab status [WORKSPACE]")) return kOk;
  const fs::path workspace = vm["workspace"].as<std::string>();
  require_folder(workspace, "workspace");
  // A folder with no experiment in it is not a workspace: say so rather than print an empty table.
  bool any = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(workspace, ec)) any = any || fs::is_directory(entry.path() / "runs", ec);
  if (!any)
    throw HostError(workspace.string() + ": no experiment has run in this workspace (no EXPERIMENT/runs/ folder in it)" +
                    (fs::is_directory(workspace / "runs", ec)
                         ? "; it is an experiment's folder: its workspace is " + clean(workspace).parent_path().string()
                         : std::string()));
  std::cout << workspace_status(workspace);
  return kOk;
}

// Reading commands open an existing registry only: a mistyped workspace is an error, never
// a new, empty registry.
registry::Registry open_registry(const po::variables_map& vm) {
  const fs::path workspace = vm["workspace"].as<std::string>();
  require_folder(workspace, "workspace");
  return registry::Registry(workspace, registry::Registry::Open::Existing);
}

std::string metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  std::ostringstream out;
  out << std::setprecision(6) << v;
  return out.str();
}

toml::table version_table(const registry::Version& v) {
  toml::table metrics;
  for (const auto& m : v.metrics) {
    if (std::isfinite(m.value)) metrics.insert(m.name, m.value);
    else metrics.insert(m.name, metric_value(m.value));
  }
  toml::array artifacts;
  for (const auto& a : v.artifacts)
    artifacts.push_back(toml::table{{"kind", a.kind}, {"path", a.path}, {"sha256", a.sha256}, {"size", a.size}});
  return toml::table{{"ref", v.ref()},
                     {"model", v.model},
                     {"version", v.version},
                     {"created", v.created},
                     {"aliases", to_array(v.aliases)},
                     {"run_id", v.run_id},
                     {"plugin", toml::table{{"name", v.plugin.name}, {"version", v.plugin.version},
                                            {"abi_version", v.plugin.abi_version}, {"library_sha256", v.plugin.library_sha256}}},
                     {"dataset", toml::table{{"plugin", v.dataset_plugin}, {"params", v.dataset_params}, {"sha256", v.dataset_hash}}},
                     {"seed", v.seed},
                     {"config", v.config},
                     {"metrics", std::move(metrics)},
                     {"artifacts", std::move(artifacts)},
                     {"replaces", v.replaces}};  // the deleted version it registers again (0: none)
}

int registry_command(const std::vector<std::string>& args) {
  if (args.empty()) throw UsageError("`genlab registry` needs list, show, alias, compare, export, delete, restore or gc");
  const std::string sub = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  po::options_description options("registry " + sub);
  options.add_options()("workspace", po::value<std::string>()->default_value("genlab-runs"), "the workspace (registry.db)");
  po::positional_options_description positional;
  po::variables_map vm;
  if (sub == "list") {
    options.add_options()("name", po::value<std::string>()->default_value(""), "only this model")("json", "print JSON");
    positional.add("name", 1);
    if (!parse(rest, options, positional, vm, "genlab registry list [NAME] [--json] [--workspace W]")) return kOk;
    auto reg = open_registry(vm);
    const auto deleted = reg.store().deleted_versions(vm["name"].as<std::string>());
    if (!vm["name"].as<std::string>().empty() && deleted.empty()) reg.require_model(vm["name"].as<std::string>());
    const auto versions = reg.store().versions(vm["name"].as<std::string>());
    if (vm.count("json")) {
      toml::array out, gone;
      for (const auto& v : versions) out.push_back(version_table(v));
      for (const auto& d : deleted)
        gone.push_back(toml::table{{"ref", d.ref()}, {"run_id", d.run_id}, {"deleted_at", d.deleted_at}, {"restored", d.restored}});
      std::cout << to_json(toml::table{{"versions", std::move(out)}, {"deleted", std::move(gone)}}) << "\n";
      return kOk;
    }
    std::cout << std::left << std::setw(24) << "VERSION" << std::setw(16) << "ALIASES" << std::setw(16) << "PLUGIN"
              << std::setw(16) << "DATASET" << "RUN\n";
    for (const auto& v : versions)
      std::cout << std::left << std::setw(24) << v.ref() << std::setw(16) << join(v.aliases, ",") << std::setw(16)
                << v.plugin.name << std::setw(16) << v.dataset_plugin << v.run_id.substr(0, 12)
                << (v.replaces ? "  (replaces " + v.model + ":" + std::to_string(v.replaces) + ")" : "") << "\n";
    // Deleted numbers are never given again, nor their runs registered again unless restored.
    std::vector<std::string> gone;
    for (const auto& d : deleted) gone.push_back(d.ref() + (d.restored ? " (restored)" : ""));
    if (!gone.empty())
      std::cout << "deleted: " << join(gone) << " (numbers never given again; `genlab run` registers a deleted version's "
                << "run again only once `genlab registry restore NAME:VERSION` allows it, as a new version)\n";
    return kOk;
  }
  if (sub == "show") {
    options.add_options()("ref", po::value<std::string>()->required(), "NAME[:VERSION|@ALIAS]")("json", "print JSON");
    positional.add("ref", 1);
    if (!parse(rest, options, positional, vm, "genlab registry show NAME[:VERSION|@ALIAS] [--json]")) return kOk;
    auto reg = open_registry(vm);
    const auto v = reg.resolve(vm["ref"].as<std::string>());
    if (vm.count("json")) {
      std::cout << to_json(version_table(v)) << "\n";
      return kOk;
    }
    std::cout << v.ref() << (v.aliases.empty() ? "" : "  @" + join(v.aliases, " @")) << "\n"
              << "  plugin:   " << v.plugin.name << " " << v.plugin.version << " (ABI " << v.plugin.abi_version
              << ", library sha256 " << v.plugin.library_sha256.substr(0, 16) << "...)\n"
              << "  dataset:  " << v.dataset_plugin << (v.dataset_hash.empty() ? "" : ", data sha256 " + v.dataset_hash.substr(0, 16) + "...") << "\n"
              << "  run:      " << v.run_id << ", seed " << v.seed << "\n";
    if (v.replaces) std::cout << "  replaces: " << v.model << ":" << v.replaces << " (deleted)\n";
    if (auto run = reg.store().run(v.run_id)) std::cout << "  manifest: " << run->manifest << " (experiment " << run->experiment << ")\n";
    std::cout << "  metrics:\n";
    for (const auto& m : v.metrics)
      std::cout << "    " << std::left << std::setw(28) << m.name << std::setw(14) << metric_value(m.value)
                << (m.direction == "none" ? std::string("informational") : m.direction + " is better") << ", " << m.split
                << "\n";
    std::cout << "  artifacts:\n";
    for (const auto& a : v.artifacts) std::cout << "    " << std::setw(11) << a.kind << a.path << " (" << a.size << " bytes)\n";
    return kOk;
  }
  if (sub == "alias") {
    options.add_options()("ref", po::value<std::string>()->required(), "NAME:VERSION")(
        "alias", po::value<std::string>()->required(), "the alias (best, production, ...)");
    positional.add("ref", 1).add("alias", 1);
    if (!parse(rest, options, positional, vm, "genlab registry alias NAME:VERSION ALIAS")) return kOk;
    auto reg = open_registry(vm);
    reg.set_alias(vm["ref"].as<std::string>(), vm["alias"].as<std::string>());
    const auto v = reg.resolve(vm["ref"].as<std::string>());
    std::cout << v.model << "@" << vm["alias"].as<std::string>() << " -> " << v.ref() << "\n";
    return kOk;
  }
  if (sub == "compare") {
    options.add_options()("refs", po::value<std::vector<std::string>>()->multitoken()->required(), "versions");
    positional.add("refs", -1);
    if (!parse(rest, options, positional, vm, "genlab registry compare REF REF...")) return kOk;
    std::cout << open_registry(vm).compare(vm["refs"].as<std::vector<std::string>>());
    return kOk;
  }
  if (sub == "export") {
    options.add_options()("ref", po::value<std::string>()->required(), "NAME[:VERSION|@ALIAS]")(
        "dir", po::value<std::string>()->required(), "target folder");
    positional.add("ref", 1).add("dir", 1);
    if (!parse(rest, options, positional, vm, "genlab registry export NAME[:VERSION|@ALIAS] DIR")) return kOk;
    open_registry(vm).export_version(vm["ref"].as<std::string>(), vm["dir"].as<std::string>());
    std::cout << "exported to " << vm["dir"].as<std::string>() << ": checkpoint.safetensors, config.toml, MODEL_CARD.md\n";
    return kOk;
  }
  if (sub == "delete") {
    options.add_options()("ref", po::value<std::string>()->required(), "NAME:VERSION");
    positional.add("ref", 1);
    if (!parse(rest, options, positional, vm, "genlab registry delete NAME:VERSION")) return kOk;
    // Deleting takes a version named in full: a bare name means "its latest" elsewhere, and
    // `registry delete gmm` deleting whatever is newest today is too easy a mistake.
    const std::string ref = vm["ref"].as<std::string>();
    if (ref.find(':') == std::string::npos)
      throw UsageError("`genlab registry delete` needs NAME:VERSION or NAME:ALIAS, got '" + ref + "'; see `genlab registry list " +
                       ref + "` for its versions");
    auto reg = open_registry(vm);
    const auto v = reg.resolve(ref);
    reg.store().delete_version(v.model, v.version);
    std::cout << "deleted " << v.ref() << "; `genlab registry gc` removes its files. Its number is never given again, "
              << "and `genlab run` does not register its run again (`genlab registry restore " << v.ref()
              << "` allows it, as a new version)\n";
    return kOk;
  }
  if (sub == "restore") {
    options.add_options()("ref", po::value<std::string>()->required(), "NAME:VERSION, a deleted version");
    positional.add("ref", 1);
    if (!parse(rest, options, positional, vm, "genlab registry restore NAME:VERSION")) return kOk;
    auto reg = open_registry(vm);
    const auto d = reg.restore_version(vm["ref"].as<std::string>());
    const auto run = reg.store().run(d.run_id);
    std::cout << "restored " << d.ref() << ": the next `genlab run" << (run ? " " + run->manifest : std::string())
              << "` registers its run (" << d.run_id.substr(0, 12) << ") again, as a new version; " << d.ref()
              << " itself stays deleted\n";
    return kOk;
  }
  if (sub == "gc") {
    options.add_options()("dry-run", "only list what would be removed");
    if (!parse(rest, options, positional, vm, "genlab registry gc [--dry-run]")) return kOk;
    const bool dry = vm.count("dry-run") > 0;
    const auto removed = open_registry(vm).gc(dry);
    for (const auto& p : removed) std::cout << (dry ? "would remove " : "removed ") << p.string() << "\n";
    std::cout << removed.size() << " unreferenced artifact(s)" << (dry ? "" : " removed") << "\n";
    return kOk;
  }
  throw UsageError("unknown command 'registry " + sub +
                   "' (expected list, show, alias, compare, export, delete, restore or gc)");
}

int sample(const std::vector<std::string>& args) {
  po::options_description options("sample");
  options.add_options()("ref", po::value<std::string>()->required(), "NAME[:VERSION|@ALIAS]")(
      "n", po::value<int64_t>()->default_value(64), "how many samples")(
      "out", po::value<std::string>()->default_value("samples.png"), "the PNG to write (FILE.txt: a text model's text)")(
      "option", po::value<std::vector<std::string>>()->composing(),
      "KEY=VALUE for the model's generate, e.g. sampler=ddpm (repeatable; docs/manifest.md lists them)")(
      "workspace", po::value<std::string>()->default_value("genlab-runs"), "the workspace (registry.db)")(
      "plugin-path", po::value<std::vector<std::string>>()->composing(), "also search DIR (repeatable)");
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
  const double seconds =
      sample_version(reg, vm["ref"].as<std::string>(), n, generate_options, vm["out"].as<std::string>(), paths(vm));
  std::cout << "wrote " << vm["out"].as<std::string>() << ": " << n << " samples in " << seconds << " s ("
            << static_cast<double>(n) / seconds << " samples/s)\n";
  return kOk;
}

int plugins_command(const std::vector<std::string>& rest) {
  if (rest.empty()) throw UsageError("`genlab plugins` needs list, info or check");
  const std::string sub = rest[0];
  std::vector<std::string> sub_args(rest.begin() + 1, rest.end());
  if (sub == "list") return plugins_list(sub_args);
  if (sub == "info") return plugins_info(sub_args);
  if (sub == "check") return plugins_check(sub_args);
  throw UsageError("unknown command 'plugins " + sub + "' (expected list, info or check)");
}

// The commands, once: dispatch and the did-you-mean of an unknown command both read this
// table (`worker` is the host's own, started by the executors, and offered to nobody).
struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
  bool offered = true;
};
const Command kCommands[] = {
    {"plugins", plugins_command}, {"validate", validate}, {"run", run},
    {"cancel", cancel},           {"status", status},     {"compare", compare},
    {"report", report},           {"registry", registry_command},
    {"sample", sample},           {"data", cli::data_command},
    {"worker", worker, false}};

int dispatch(const std::vector<std::string>& words) {
  if (words.empty()) throw UsageError("no command given");
  const std::string& command = words[0];
  const std::vector<std::string> rest(words.begin() + 1, words.end());
  std::vector<std::string> offered;
  for (const Command& c : kCommands) {
    if (command == c.name) return c.run(rest);
    if (c.offered) offered.emplace_back(c.name);
  }
  auto close = close_matches(command, offered);
  throw UsageError("unknown command '" + command + "'" + (close.empty() ? "" : " (did you mean '" + close[0] + "'?)"));
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("genlab");  // workers: stderr is the node's log file
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");

  std::vector<std::string> words(argv + 1, argv + argc);
  // Global flags come before the command; everything after it belongs to the command.
  size_t i = 0;
  for (; i < words.size() && !words[i].empty() && words[i][0] == '-'; ++i) {
    const std::string& flag = words[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kOverview;
      return kOk;
    }
    if (flag == "--version") {
      std::cout << "genlab " << GENLAB_VERSION << " (plugin ABI " << GENLAB_ABI_VERSION_MAJOR << "."
                << GENLAB_ABI_VERSION_MINOR << ")\n";
      return kOk;
    }
    if (flag == "-v" || flag == "--verbose") {
      spdlog::set_level(spdlog::level::debug);
      continue;
    }
    std::cerr << "genlab: unknown option '" << flag << "'\n\n" << kOverview;
    return kUsage;
  }
  words.erase(words.begin(), words.begin() + static_cast<long>(i));
  try {
    return dispatch(words);
  } catch (const UsageError& e) {
    std::cerr << "genlab: " << e.what() << "\n\n" << kOverview;
    return kUsage;
  } catch (const po::error& e) {
    std::cerr << "genlab: " << e.what() << " (see --help)\n";
    return kUsage;
  } catch (const registry::UnknownNameError& e) {
    std::cerr << "error: " << e.message(did_you_mean(e.name(), e.known())) << "\n";
    return kFailure;
  } catch (const HostError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kFailure;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kFailure;
  }
}
