// `genlab validate|run|cancel MANIFEST` and the host's own `genlab worker`.
#include <iostream>
#include <map>
#include <boost/dll/runtime_symbol_info.hpp>
#include <spdlog/spdlog.h>

#include "command.hpp"
#include "genlab/core/executor.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/registration.hpp"
#include "genlab/core/report.hpp"
#include "genlab/core/reuse.hpp"
#include "genlab/core/scheduler.hpp"
#include "genlab/core/search.hpp"
#include "genlab/core/claims.hpp"
#include "genlab/core/worker.hpp"
#include "genlab/util/files.hpp"

namespace fs = std::filesystem;

namespace genlab::cli {

int validate_command(const std::vector<std::string>& args) {
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
  std::cout << e.file.string() << ": ok — experiment '" << e.name << "', " << e.runs.size() << " run(s), workspace "
            << e.folder().string() << "\n";
  for (const auto& r : e.feature_runs)
    std::cout << "  " << r.name << "  [" << r.id.substr(0, 12) << "]  feature network " << r.model.plugin_name << " on "
              << r.dataset.name << ", " << r.settings.budget.steps << " steps (" << e.feature_folder(r).string()
              << (fs::exists(done_file(e.feature_folder(r), NodeKind::Train)) ? ", trained" : "") << ")\n";
  for (const auto& r : e.runs) {
    const auto& b = r.settings.budget;
    std::cout << "  " << r.name << "  [" << r.id.substr(0, 12) << "]  model " << r.model.name << " ("
              << r.model.plugin_name << ") on " << r.dataset.name << " (" << r.dataset.plugin_name << "), seed "
              << r.seed << ", " << (b.steps ? std::to_string(b.steps) + " steps " : "")
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
  // Claims with the runs' results so far: how many seeds would decide an open one.
  const std::vector<ClaimResult> judged =
      e.claims.empty() ? std::vector<ClaimResult>{} : judge_claims(e.claims, group_runs(e));
  for (const auto& c : judged) {
    std::cout << "  claim " << c.claim->id << ": " << c.claim->text << " (" << c.claim->checks.size() << " check(s))";
    size_t needed = 0, seen = 0;
    bool judged_any = false;
    for (size_t i = 0; i < c.checks.size(); ++i) {
      judged_any |= c.checks[i].a.n > 0;
      seen = std::max(seen, std::max(c.checks[i].a.n, c.checks[i].b.n));
      needed = std::max(needed, seeds_to_separate(c.claim->checks[i], c.checks[i]));
    }
    if (judged_any) std::cout << ": " << verdict_name(c.verdict) << " at " << seen << " seed(s) so far";
    if (c.verdict == Verdict::inconclusive && needed > 0)
      std::cout << "; at the spread seen, about " << needed << " seeds per cell would decide it (genlab run --settle)";
    std::cout << "\n";
  }
  for (const auto& r : e.runs)
    if (r.settled) {
      std::cout << "  seeds added by genlab run --settle: " << settle_file(e).string() << "\n";
      break;
    }
  return kOk;
}

namespace {

// The scheduler's options from the command line; out-of-range or contradictory flags are usage errors.
SchedulerOptions scheduler_options(const po::variables_map& vm, const Experiment& e) {
  if (vm.count("fail-fast") && vm.count("keep-going"))
    throw UsageError("--fail-fast and --keep-going exclude each other");
  if (vm.count("jobs") && (vm["jobs"].as<int>() < 1 || vm["jobs"].as<int>() > 1024))
    throw UsageError("--jobs must be in [1, 1024], got " + std::to_string(vm["jobs"].as<int>()));
  if (vm["threads"].as<int>() < 0 || vm["threads"].as<int>() > 1024)
    throw UsageError("--threads must be in [0, 1024] (0: all cores), got " + std::to_string(vm["threads"].as<int>()));
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
  o.fail_fast = vm.count("fail-fast") > 0;
  o.quiet = vm.count("quiet") > 0;
  o.executable = boost::dll::program_location().string();
  return o;
}

// An interrupted run's checkpoint is never thrown away by accident: without --resume or
// --restart, say what to do first.
void refuse_to_drop_checkpoints(const Experiment& e, const SchedulerOptions& o) {
  if (o.resume || o.restart) return;
  std::vector<std::string> interrupted;
  for (const auto& r : e.runs)
    if (run_fate(r, e.folder() / "runs" / r.folder_name()).train.action == "resume") interrupted.push_back(r.name);
  for (const auto& r : e.feature_runs)
    if (run_fate(r, e.feature_folder(r)).train.action == "resume") interrupted.push_back(r.name);
  if (!interrupted.empty())
    throw UsageError(std::to_string(interrupted.size()) + " run(s) were interrupted and keep a checkpoint (" +
                     join(interrupted) +
                     "): genlab run --resume continues them, --restart trains them again from step 0");
}

// Every evaluated run becomes a model version (registering again is a no-op); returns the
// references of the models' versions (feature networks are registered, not listed).
std::vector<std::string> register_evaluated_runs(const Experiment& e) {
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
  return registered;
}

void print_outcome(const Experiment& e, const ScheduleResult& result, const std::vector<std::string>& registered) {
  size_t reused = 0, pruned = 0;
  for (const auto& n : result.nodes) {
    reused += n.reused;
    pruned += n.state == NodeState::Pruned;
  }
  std::cout << headline_text(e);
  std::cout << search_text(e);
  for (const auto& n : result.nodes)  // the full reasons are in summary.md and the report
    if (!n.reason.empty() && n.state != NodeState::Finished && n.state != NodeState::Pruned)
      std::cout << n.label << ": " << (n.reason.size() > 200 ? n.reason.substr(0, 200) + "..." : n.reason) << "\n";
  if (!e.claims.empty()) std::cout << "\n" << claims_text(e);
  std::cout << "\n"
            << result.nodes.size() << " node(s): " << (result.nodes.size() - result.failed()) << " ok (" << reused
            << " already done" << (pruned > 0 ? ", " + std::to_string(pruned) + " stopped by the search" : "") << "), "
            << result.failed() << " failed or skipped\n";
  if (!registered.empty()) std::cout << "registered: " << join(registered) << "\n";
  std::cout << "summary: " << (e.folder() / "summary.md").string() << "\n"
            << "report: " << (e.folder() / "report.html").string() << "\n";
}

// One round of --settle: a seed more for every seed group of an open claim's cells that has
// fewer than `max_seeds`, kept in settle.toml for every later plan. False when the claims
// are decided, or the open ones are at the cap.
bool add_settling_seeds(const Experiment& e, int round, int max_seeds) {
  const std::vector<ClaimResult> judged = judge_claims(e.claims, group_runs(e));
  const std::vector<std::string> open = unsettled_groups(judged, e.runs);
  std::vector<std::string> open_claims;
  for (const auto& c : judged)
    if (c.verdict == Verdict::inconclusive) open_claims.push_back(c.claim->id);
  if (open.empty()) {
    std::cout << "settle: every claim decided after round " << round << "\n";
    return false;
  }
  toml::table file = read_toml(settle_file(e)).value_or(toml::table{});
  if (!file["seeds"].is_table()) file.insert_or_assign("seeds", toml::table{});
  toml::table& seeds = *file["seeds"].as_table();
  std::vector<std::string> added;
  for (const auto& group : open) {
    int64_t count = 0, next = 0;
    for (const auto& r : e.runs)
      if (seed_group(r) == group) {
        ++count;
        next = std::max(next, r.seed + 1);
      }
    if (count >= max_seeds) continue;
    if (!seeds[group].is_array()) seeds.insert_or_assign(group, toml::array{});
    seeds[group].as_array()->push_back(next);
    added.push_back(group + " s" + std::to_string(next));
  }
  if (added.empty()) {
    std::cout << "settle: claim(s) " << join(open_claims) << " still inconclusive, their cells at --max-seeds "
              << max_seeds << "\n";
    return false;
  }
  write_toml(settle_file(e), file);
  std::cout << "settle: claim(s) " << join(open_claims) << " inconclusive after round " << round << "; adding "
            << join(added) << " (" << settle_file(e).string() << ")\n";
  return true;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
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
      "quiet,q", "plain periodic progress lines instead of live bars")(
      "settle",
      "then add a seed to the cells of claims still inconclusive, round after round, until each is "
      "decided or --max-seeds is reached")("max-seeds", po::value<int>()->default_value(10),
                                           "with --settle: the most seeds a cell gets (default 10)");
  po::variables_map vm;
  if (!parse(
          args, options, positional, vm,
          "genlab run MANIFEST [--jobs N] [--executor local|slurm] [--resume|--restart] [--fail-fast] [--set KEY=VALUE]... "
          "[--quiet] [--settle [--max-seeds N]]"))
    return kOk;
  const bool settle = vm.count("settle") > 0;
  const int max_seeds = vm["max-seeds"].as<int>();
  if (vm.count("max-seeds") && !vm["max-seeds"].defaulted() && !settle)
    throw UsageError("--max-seeds goes with --settle");
  if (max_seeds < 2 || max_seeds > 1000)
    throw UsageError("--max-seeds must be in [2, 1000], got " + std::to_string(max_seeds));
  for (int round = 1;; ++round) {
    const Experiment e = load_experiment(manifest_of(vm), overrides(vm));
    if (settle && e.claims.empty())
      throw UsageError(e.file.string() + ": --settle decides claims, and it has no [[claims]]");
    const SchedulerOptions o = scheduler_options(vm, e);
    refuse_to_drop_checkpoints(e, o);
    const bool on_slurm = (o.executor.empty() ? e.executor.kind : o.executor) == "slurm";
    spdlog::info("experiment '{}': {} run(s), {}, workspace {}", e.name, e.runs.size(),
                 on_slurm ? "on Slurm" : std::to_string(o.jobs) + " job(s)", e.folder().string());
    const ScheduleResult result = run_scheduler(e, o);
    print_outcome(e, result, register_evaluated_runs(e));
    if (result.interrupted) return 130;
    if (!settle || result.failed() > 0) return result.failed() == 0 ? kOk : kFailure;
    if (!add_settling_seeds(e, round, max_seeds)) return kOk;
  }
}

int cancel_command(const std::vector<std::string>& args) {
  po::options_description options("cancel");
  po::positional_options_description positional;
  add_manifest_options(options, positional);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "genlab cancel MANIFEST [--set KEY=VALUE]...")) return kOk;
  const Experiment e = load_experiment(manifest_of(vm), overrides(vm));
  const std::vector<std::string> cancelled = cancel_experiment(e);
  for (const auto& line : cancelled) std::cout << line << "\n";
  std::cout << (cancelled.empty() ? "nothing of '" + e.name + "' is running"
                                  : std::to_string(cancelled.size()) + " node(s) cancelled")
            << "\n";
  return kOk;
}

int worker_command(const std::vector<std::string>& args) {
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

}  // namespace genlab::cli
