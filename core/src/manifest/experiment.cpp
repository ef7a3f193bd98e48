// load_experiment: a manifest read, checked and resolved into a plan of runs, step by step.
// The steps live in the files of their jobs (manifest_parts.hpp lists them); their order is
// the order of the checks, which the error messages (and the tests) depend on.
#include "genlab/core/experiment.hpp"

#include <dlfcn.h>

#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "manifest_parts.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace manifest {
namespace {

void check_top_level_keys(const toml::table& root, const fs::path& file) {
  static const std::vector<std::string> sections = {"experiment", "datasets",   "models", "metrics",
                                                    "features",   "evaluation", "report", "overrides",
                                                    "exclude",    "executor",   "claims", "search"};
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (std::find(sections.begin(), sections.end(), key) == sections.end())
      throw HostError(where(k.source(), file) + ": unknown top-level key '" + key + "'" + did_you_mean(key, sections) +
                      "; expected " + join_names(sections));
  }
}

// Why this machine cannot run CUDA ("" when it can): the driver library loads and reports a
// device. Asked of the driver itself, not of a LibTorch: the host links none.
std::string cuda_problem() {
  static const std::string problem = [] {
    void* driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);  // kept: drivers are not unloaded
    if (driver == nullptr) return std::string("this machine has no CUDA driver (libcuda.so.1 does not load)");
    using Init = int (*)(unsigned);
    using Count = int (*)(int*);
    const auto init = reinterpret_cast<Init>(::dlsym(driver, "cuInit"));
    const auto count = reinterpret_cast<Count>(::dlsym(driver, "cuDeviceGetCount"));
    int devices = 0;
    if (init == nullptr || count == nullptr || init(0) != 0 || count(&devices) != 0 || devices == 0)
      return std::string("the CUDA driver of this machine reports no device");
    return std::string();
  }();
  return problem;
}

// CUDA runs on this machine need its driver and a device: refused here, before anything
// runs (on Slurm the nodes are other machines, and their own worker says).
void check_cuda_available(const Experiment& e) {
  if (e.executor.kind == "local")
    for (const auto& r : e.runs)
      if (r.settings.device != "cpu")
        if (const std::string problem = cuda_problem(); !problem.empty())
          throw HostError(
              e.file.string() + ": run '" + r.name + "' (model plugin '" + r.model.plugin_name + "') asks for " +
              r.settings.device + ", but " + problem +
              "; set experiment.device = \"cpu\", or run on machines with GPUs (executor.kind = \"slurm\")");
}

// The checks of the plan as a whole, once every run is in it; reads [[claims]], which name
// its runs.
void check_plan(Experiment& e, const GenerateKeysRead& generate_keys_read, const toml::table& root) {
  const fs::path& file = e.file;
  if (e.runs.empty()) throw HostError(file.string() + ": every run is excluded: nothing to do");
  check_generate_options_read(e, generate_keys_read, file, root);
  check_cuda_available(e);
  if (const toml::node* node = root.get("claims")) {
    e.claims = read_claims(*node, file);
    check_claims_cover(e.claims, e.runs);
  }
  if (const std::string why = check_writable(e.folder()); !why.empty())
    throw HostError("workspace " + e.folder().string() + ": " + why +
                    " (set experiment.workspace to a writable folder)");
}

}  // namespace
}  // namespace manifest

Experiment load_experiment(const fs::path& path, const std::vector<std::string>& overrides) {
  using namespace manifest;
  Experiment e;
  e.file = fs::absolute(path).lexically_normal();
  const fs::path& file = e.file;
  const toml::table root = read_manifest(file, overrides, e.includes);
  check_top_level_keys(root, file);

  ExperimentSection experiment = read_experiment_section(root, file);
  e.name = experiment.name;
  e.workspace = experiment.workspace;
  e.plugin_paths = experiment.plugin_paths;
  const std::vector<std::string> eval_metrics = read_evaluation_section(root, file, experiment.base);
  e.report = read_report_section(root, file, e.name);
  if (const toml::node* node = root.get("executor")) e.executor = read_executor(*node, file);

  const Discovery found = discover_plugins(plugin_search_path(e.plugin_paths));
  const ComponentSpecs components = read_component_sections(file, root, found);
  const std::vector<ScopedMetric> metrics = scope_metrics(components, eval_metrics, file);
  const FeatureSettings features = read_features(file, root, found);
  check_evaluation_metrics_defined(eval_metrics, components.metrics, file);
  check_during_metrics(experiment.base, metrics, file);
  const RunRules rules = read_run_rules(root, file, components);
  e.search = read_search_section(root, file);

  const GenerateKeysRead generate_keys_read =
      plan_runs({components, metrics, experiment.base, experiment.seeds, rules, features, e.search}, e);
  add_settled_seeds(e);
  check_plan(e, generate_keys_read, root);
  check_search(e.search, root, experiment.base, file,
               std::any_of(e.runs.begin(), e.runs.end(), [](const RunPlan& r) { return r.trial >= 0; }));
  return e;
}

}  // namespace genlab
