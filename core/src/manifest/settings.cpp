// The settings of an experiment and its runs: [experiment], [evaluation], [report] and
// [executor], and the same keys set per run by [[overrides]].
#include <cmath>

#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace manifest {
namespace {

const std::vector<std::string> kExperimentKeys = {
    "name",    "seeds",       "workspace",       "plugin_paths",     "steps",
    "epochs",  "max_seconds", "batch_size",      "checkpoint_every", "device",
    "threads", "timeout",     "memory_limit_mb", "processes",        "precision"};
const std::vector<std::string> kRunKeys = {"steps",    "epochs",  "max_seconds", "batch_size",      "checkpoint_every",
                                           "device",   "threads", "timeout",     "memory_limit_mb", "processes",
                                           "precision"};

// Bounds of counts in a manifest: beyond them a worker hangs or the arithmetic overflows.
constexpr int64_t kMaxSteps = int64_t{1} << 40;
constexpr int64_t kMaxThreads = 1024;   // a LibTorch pool of 100000 threads hangs the worker
constexpr int64_t kMaxProcesses = 256;  // the local ranks a worker starts (worker.cpp)

// experiment.plugin_paths: folders, each relative to the file that names it.
std::vector<fs::path> read_plugin_paths(const toml::node& v, const fs::path& file) {
  std::vector<fs::path> out;
  const toml::array* array = v.as_array();
  if (array == nullptr)
    throw HostError(where(v.source(), file) + ": expected 'plugin_paths' to be an array of folders");
  for (const auto& p : *array) {
    fs::path folder = manifest_value<std::string>(p, file, "plugin_paths", "an array of strings");
    // Relative to the file that names it, not to the shell's folder.
    if (folder.is_relative() && p.source().path) folder = fs::path(*p.source().path).parent_path() / folder;
    out.push_back(folder.lexically_normal());
  }
  return out;
}

// experiment.seeds: [1, 2] or a sweep such as {range = [0, 5]}.
std::vector<int64_t> read_seeds(const toml::node& v, const fs::path& file) {
  std::vector<int64_t> seeds;
  if (const toml::array* array = v.as_array()) {
    for (const auto& s : *array) seeds.push_back(manifest_value<int64_t>(s, file, "seeds", "an array of integers"));
  } else if (is_sweep(v)) {
    for (const auto& s : sweep_values(v, file, "experiment.seeds"))
      if (s.get("v")->is_integer()) seeds.push_back(s.get("v")->as_integer()->get());
      else throw HostError(where(v.source(), file) + ": expected experiment.seeds to be integers");
  } else {
    throw HostError(where(v.source(), file) + ": expected experiment.seeds as [1, 2] or {range = [0, 5]}");
  }
  return seeds;
}

// The keys of the [experiment] table `node`, set in `s`.
void read_experiment_keys(const toml::node& node, const fs::path& file, ExperimentSection& s) {
  const toml::table* table = node.as_table();
  if (table == nullptr) throw HostError(where(node.source(), file) + ": expected [experiment] to be a table");
  bool budget_given = false;
  for (const auto& [k, v] : *table) {
    const std::string key(k.str());
    if (key == "name") {
      s.name = manifest_value<std::string>(v, file, "name", "a string");
      check_path_name(s.name, "experiment.name", v.source(), file);
    } else if (key == "workspace") s.workspace = manifest_value<std::string>(v, file, "workspace", "a string");
    else if (key == "plugin_paths") s.plugin_paths = read_plugin_paths(v, file);
    else if (key == "seeds") s.seeds = read_seeds(v, file);
    else if (!apply_setting(s.base, key, v, file)) {
      throw HostError(where(k.source(), file) + ": unknown key 'experiment." + key + "'" +
                      did_you_mean(key, kExperimentKeys) + "; expected one of " + join_names(kExperimentKeys));
    }
    budget_given |= key == "steps" || key == "epochs" || key == "max_seconds";
  }
  if (budget_given && !table->get("steps")) s.base.budget.steps = 0;  // only the limits given apply
}

}  // namespace

// A name that becomes a folder or file in the workspace (util/files.hpp says which).
void check_path_name(const std::string& name, const std::string& what, const toml::source_region& at,
                     const fs::path& file) {
  if (const std::string problem = path_name_problem(name); !problem.empty())
    throw HostError(
        where(at, file) + ": invalid " + what + " \"" + printable(name) + "\": " + problem +
        "; expected 1 to 128 letters, digits, '_', '-' or '.', not starting with '.' (it names a folder in the "
        "workspace)");
}

// Sets one run setting from [experiment] or an override. Returns false for a key that is
// not a run setting.
bool apply_setting(RunSettings& s, const std::string& key, const toml::node& node, const fs::path& file) {
  const std::string what = "experiment." + key;
  // Counts are integers within what a machine can do; the limit is in the message.
  auto count = [&](int64_t low, int64_t high, const char* why) {
    const int64_t v = manifest_value<int64_t>(node, file, what, "an integer");
    if (v < low || v > high)
      throw HostError(where(node.source(), file) + ": expected " + what + " in [" + std::to_string(low) + ", " +
                      std::to_string(high) + "]" + why + ", got " + std::to_string(v));
    return v;
  };
  // Amounts are finite numbers >= 0 (NaN and inf would mean no limit, or none reached).
  auto amount = [&](double high) {
    const double v = manifest_value<double>(node, file, what, "a number");
    if (!(v >= 0) || !std::isfinite(v) || v > high)
      throw HostError(where(node.source(), file) + ": expected " + what + " to be a finite number in [0, " +
                      short_number(high) + "], got " + short_text(node));
    return v;
  };
  if (key == "steps") s.budget.steps = count(1, kMaxSteps, "");
  else if (key == "epochs") s.budget.epochs = amount(1e9);
  else if (key == "max_seconds") s.budget.seconds = amount(1e9);
  else if (key == "batch_size") s.batch_size = count(1, int64_t{1} << 24, "");
  else if (key == "checkpoint_every") s.checkpoint_every = count(0, kMaxSteps, " (steps; 0: only at the end)");
  else if (key == "threads") s.threads = static_cast<int32_t>(count(1, kMaxThreads, " (CPU threads of one run)"));
  else if (key == "timeout") s.timeout = amount(1e9);
  else if (key == "memory_limit_mb") s.memory_limit_mb = count(0, int64_t{1} << 30, " (MiB; 0: none)");
  else if (key == "processes")
    s.processes = static_cast<int32_t>(count(1, kMaxProcesses, " (data-parallel processes of one run)"));
  else if (key == "precision") {
    s.precision = manifest_value<std::string>(node, file, what, "a string");
    if (s.precision != "fp32" && s.precision != "bf16" && s.precision != "fp16")
      throw HostError(where(node.source(), file) + ": expected precision \"fp32\", \"bf16\" or \"fp16\", got \"" +
                      printable(s.precision) + "\"");
  } else if (key == "device") {
    s.device = manifest_value<std::string>(node, file, what, "a string");
    const bool ok = s.device == "cpu" || s.device == "cuda" ||
                    (s.device.rfind("cuda:", 0) == 0 && s.device.size() > 5 && s.device.size() <= 9 &&
                     s.device.find_first_not_of("0123456789", 5) == std::string::npos);
    if (!ok)
      throw HostError(where(node.source(), file) +
                      ": expected device \"cpu\", \"cuda\" or \"cuda:N\" (N up to 4 digits), got \"" +
                      printable(s.device) + "\"");
  } else {
    return false;
  }
  return true;
}

// Sets one evaluation setting from [evaluation] or an override. Returns false for a key
// that is not one.
bool apply_eval_setting(RunSettings& s, const std::string& key, const toml::node& v, const fs::path& file) {
  if (key == "samples") {
    s.eval_samples = manifest_value<int64_t>(v, file, "evaluation.samples", "an integer");
    if (s.eval_samples <= 0 || s.eval_samples > (int64_t{1} << 24))
      throw HostError(where(v.source(), file) + ": expected evaluation.samples in [1, 16777216], got " +
                      std::to_string(s.eval_samples));
  } else if (key == "split") {
    s.eval_split = manifest_value<std::string>(v, file, "evaluation.split", "a string");
  } else if (key == "generate") {
    const toml::table* options = v.as_table();
    if (options == nullptr)
      throw HostError(where(v.source(), file) + ": expected evaluation.generate to be a table of options for the " +
                      "model's generate, e.g. { sampler = \"ddim\", steps = 50 }");
    for (const auto& [ok, ov] : *options)
      if (ov.is_table() || ov.is_array())
        throw HostError(where(ov.source(), file) + ": expected evaluation.generate." + std::string(ok.str()) +
                        " to be a string, number or boolean");
    s.eval_generate = *options;
  } else if (key == "every") {
    s.eval_every = manifest_value<int64_t>(v, file, "evaluation.every", "an integer (steps)");
    if (s.eval_every < 0)
      throw HostError(where(v.source(), file) + ": expected evaluation.every >= 0 (steps; 0: never), got " +
                      std::to_string(s.eval_every));
  } else if (key == "during") {
    const toml::array* names = v.as_array();
    if (names == nullptr)
      throw HostError(where(v.source(), file) + ": expected evaluation.during to be an array of metric names");
    s.eval_during.clear();
    for (const auto& m : *names)
      s.eval_during.push_back(manifest_value<std::string>(m, file, "evaluation.during", "names"));
  } else if (key == "during_samples") {
    s.eval_during_samples = manifest_value<int64_t>(v, file, "evaluation.during_samples", "an integer");
    if (s.eval_during_samples <= 0 || s.eval_during_samples > 4096)
      throw HostError(where(v.source(), file) + ": expected evaluation.during_samples in [1, 4096], got " +
                      std::to_string(s.eval_during_samples));
  } else {
    return false;
  }
  return true;
}

ExperimentSection read_experiment_section(const toml::table& root, const fs::path& file) {
  ExperimentSection s;
  s.base.budget.steps = 100;  // the default budget when none is given
  s.seeds = {0};
  s.name = file.stem().string();
  s.workspace = "genlab-runs";
  if (const toml::node* node = root.get("experiment")) read_experiment_keys(*node, file, s);
  if (s.seeds.empty()) throw HostError(file.string() + ": experiment.seeds is empty");
  if (!root["experiment"]["name"])  // named after the file: that name must do as a folder too
    check_path_name(s.name, "experiment name (the manifest's file name; set experiment.name)", {}, file);
  if (s.workspace.is_relative()) s.workspace = fs::current_path() / s.workspace;
  return s;
}

std::vector<std::string> read_evaluation_section(const toml::table& root, const fs::path& file, RunSettings& base) {
  std::vector<std::string> eval_metrics;
  const toml::node* node = root.get("evaluation");
  if (node == nullptr) return eval_metrics;
  const toml::table* table = node->as_table();
  if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [evaluation] to be a table");
  static const std::vector<std::string> known = {"samples", "split",  "metrics",       "generate",
                                                 "every",   "during", "during_samples"};
  for (const auto& [k, v] : *table) {
    const std::string key(k.str());
    if (key == "metrics") {
      const toml::array* array = v.as_array();
      if (array == nullptr)
        throw HostError(where(v.source(), file) + ": expected evaluation.metrics to be an array of names");
      for (const auto& m : *array)
        eval_metrics.push_back(manifest_value<std::string>(m, file, "evaluation.metrics", "names"));
    } else if (!apply_eval_setting(base, key, v, file)) {
      throw HostError(where(k.source(), file) + ": unknown key 'evaluation." + key + "'" + did_you_mean(key, known) +
                      "; expected one of " + join_names(known));
    }
  }
  return eval_metrics;
}

Report read_report_section(const toml::table& root, const fs::path& file, const std::string& experiment_name) {
  Report report;
  if (const toml::node* node = root.get("report")) {
    const toml::table* table = node->as_table();
    if (table == nullptr) throw HostError(where(node->source(), file) + ": expected [report] to be a table");
    static const std::vector<std::string> known = {"title", "sort_by", "quality", "headline"};
    for (const auto& [k, v] : *table) {
      const std::string key(k.str());
      if (key == "title") report.title = manifest_value<std::string>(v, file, "report.title", "a string");
      else if (key == "sort_by") report.sort_by = manifest_value<std::string>(v, file, "report.sort_by", "a string");
      else if (key == "quality")
        report.quality = manifest_value<std::string>(v, file, "report.quality", "a metric name");
      else if (key == "headline") {
        const toml::array* names = v.as_array();
        if (names == nullptr || names->size() > 5)
          throw HostError(where(v.source(), file) +
                          ": expected report.headline to be an array of at most 5 metric values "
                          "(e.g. [\"fid.fid\", \"precision_recall.recall\"]; samples/s and train seconds follow)");
        for (const auto& n : *names)
          report.headline.push_back(manifest_value<std::string>(n, file, "report.headline", "metric value names"));
      } else
        throw HostError(where(k.source(), file) + ": unknown key 'report." + key + "'" + did_you_mean(key, known) +
                        "; expected one of " + join_names(known));
    }
  }
  if (report.title.empty()) report.title = experiment_name;
  return report;
}

// [executor]: where the nodes run (local worker processes, or Slurm batch jobs).
ExecutorSettings read_executor(const toml::node& node, const fs::path& file) {
  const toml::table* table = node.as_table();
  if (table == nullptr) throw HostError(where(node.source(), file) + ": expected [executor] to be a table");
  static const std::vector<std::string> known = {"kind",         "partition",    "account",           "time_limit",
                                                 "cpus_per_run", "gpus_per_run", "memory_mb_per_run", "sbatch_options",
                                                 "poll_seconds", "genlab"};
  ExecutorSettings x;
  for (const auto& [k, v] : *table) {
    const std::string key(k.str());
    const std::string what = "executor." + key;
    auto non_negative_int = [&, &node = v] {  // a structured binding is captured by name from C++20 on
      const int64_t n = manifest_value<int64_t>(node, file, what, "an integer");
      if (n < 0) throw HostError(where(node.source(), file) + ": expected " + what + " >= 0, got " + std::to_string(n));
      return n;
    };
    if (key == "kind") {
      x.kind = manifest_value<std::string>(v, file, what, "a string");
      if (x.kind != "local" && x.kind != "slurm")
        throw HostError(where(v.source(), file) + ": expected executor.kind \"local\" or \"slurm\", got \"" + x.kind +
                        "\"");
    } else if (key == "partition") x.partition = manifest_value<std::string>(v, file, what, "a string");
    else if (key == "account") x.account = manifest_value<std::string>(v, file, what, "a string");
    else if (key == "time_limit")
      x.time_limit = manifest_value<std::string>(v, file, what, "a string such as \"01:30:00\"");
    else if (key == "cpus_per_run") x.cpus_per_run = non_negative_int();
    else if (key == "gpus_per_run") x.gpus_per_run = non_negative_int();
    else if (key == "memory_mb_per_run") x.memory_mb_per_run = non_negative_int();
    else if (key == "genlab") x.genlab = manifest_value<std::string>(v, file, what, "a path");
    else if (key == "poll_seconds") {
      x.poll_seconds = manifest_value<double>(v, file, what, "a number");
      if (!(x.poll_seconds > 0)) throw HostError(where(v.source(), file) + ": expected executor.poll_seconds > 0");
    } else if (key == "sbatch_options") {
      const toml::array* array = v.as_array();
      if (array == nullptr)
        throw HostError(where(v.source(), file) +
                        ": expected executor.sbatch_options to be an array of strings, e.g. [\"--qos=short\"]");
      for (const auto& o : *array)
        x.sbatch_options.push_back(manifest_value<std::string>(o, file, what, "an array of strings"));
    } else {
      throw HostError(where(k.source(), file) + ": unknown key 'executor." + key + "'" + did_you_mean(key, known) +
                      "; expected one of " + join_names(known));
    }
  }
  return x;
}

}  // namespace manifest
}  // namespace genlab
