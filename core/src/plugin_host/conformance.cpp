#include "genlab/core/conformance.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "conformance_checker.hpp"
#include "genlab/core/discovery.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace conformance {

void check_dataset(Reporter& r, const std::shared_ptr<const Plugin>& plugin) {
  auto data = create_checked<DatasetInstance>(r, "dataset", *plugin, [&](const toml::table& config) {
    return std::make_unique<DatasetInstance>(plugin, settings(plugin->name()), config);
  });
  if (!data) return;
  const auto& info = data->info();
  r.result("dataset: info has a modality, splits and elements", info.element_count > 0,
           std::string("modality ") + info.modality + ", " + std::to_string(info.split_count) + " split(s), " +
               std::to_string(info.element_count) + " element(s)");
  for (size_t s = 0; s < info.split_count; ++s) {
    const std::string split = info.split_names[s];
    const int64_t n = std::min<int64_t>(4, info.split_sizes[s]);
    attempt(r, "dataset: get_batch from '" + split + "' matches the element specs", [&] {
      TensorMapPtr a = data->get_batch(split, range(n), 7);
      track(*a, "get_batch");
      for (size_t e = 0; e < info.element_count; ++e) {
        const auto& spec = info.elements[e];
        if (!split_holds(info, split, spec.name)) continue;  // rays data: a view element in "train"
        long i = find_tensor(*a, spec.name);
        if (i < 0) throw HostError(std::string("the batch lacks element '") + spec.name + "'");
        const DLTensor& t = a->tensors[i]->dl_tensor;
        if (t.ndim != spec.ndim + 1 || t.shape[0] != n)
          throw HostError(std::string("element '") + spec.name + "' has ndim " + std::to_string(t.ndim) +
                          " and batch size " + std::to_string(t.ndim ? t.shape[0] : 0) + ", expected ndim " +
                          std::to_string(spec.ndim + 1) + " and " + std::to_string(n));
        for (int32_t d = 0; d < spec.ndim; ++d)
          if (t.shape[d + 1] != spec.shape[d])
            throw HostError(std::string("element '") + spec.name + "' dim " + std::to_string(d + 1) + " is " +
                            std::to_string(t.shape[d + 1]) + ", its spec says " + std::to_string(spec.shape[d]));
        if (t.dtype.code != spec.dtype.code || t.dtype.bits != spec.dtype.bits)
          throw HostError(std::string("element '") + spec.name + "' has another dtype than its spec");
      }
      TensorMapPtr b = data->get_batch(split, range(n), 7);
      track(*b, "get_batch");
      for (size_t i = 0; i < a->count; ++i)
        if (!same_bytes(a->tensors[i]->dl_tensor, b->tensors[i]->dl_tensor))
          throw HostError(std::string("two get_batch calls with the same indices and seed differ in '") + a->names[i] +
                          "'");
      release_and_verify(r, "get_batch map", std::move(a));
      release_and_verify(r, "get_batch map", std::move(b));
      return std::to_string(n) + " example(s), deterministic";
    });
    expect_error(r, "dataset: get_batch with an index past the end of '" + split + "' is an error",
                 [&] { data->get_batch(split, {info.split_sizes[s]}, 0); });
  }
  expect_error(r, "dataset: get_batch from an unknown split is an error",
               [&] { data->get_batch("no-such-split", {0}, 0); });
}

void check_backend(Reporter& r, const std::shared_ptr<const Plugin>& plugin) {
  std::unique_ptr<BackendInstance> backend;
  if (!attempt(r, "backend: create and info", [&] {
        backend = std::make_unique<BackendInstance>(plugin, settings(plugin->name()), toml::table{});
        std::string ops;
        for (const auto& op : backend->op_names()) ops += (ops.empty() ? "" : ", ") + op;
        return "ops: " + ops;
      }))
    return;
  genlab_tensor_map empty{GENLAB_TENSOR_MAP_STRUCT_SIZE, 0, nullptr, nullptr, nullptr};
  expect_error(r, "backend: run_op of an unknown op is an error",
               [&] { backend->run_op("no-such-op", empty, nullptr); });
  for (const auto& op : backend->op_names())
    expect_error(r, "backend: run_op '" + op + "' without inputs is an error",
                 [&] { backend->run_op(op, empty, nullptr); });
}

void run_checks(Reporter& r, const fs::path& path, const CheckOptions& options) {
  std::optional<PluginManifest> manifest;
  fs::path library = path;
  std::error_code status;  // a path the file system refuses is reported by the load below
  if (fs::is_directory(path, status)) {
    if (!attempt(r, "plugin.toml is valid", [&] {
          manifest = read_plugin_manifest(path);
          library = manifest->library;
          return manifest->manifest_path.string();
        }))
      return;
  }
  std::shared_ptr<const Plugin> plugin;
  // Loaded without its plugin.toml, whose every field is then checked on its own below (the
  // loader's comparison, compare_with_manifest), so that one disagreement does not hide another.
  if (!attempt(r, "loads: entry symbol, ABI version, struct sizes, required functions", [&] {
        plugin = load_plugin_library_unchecked(library);
        return "ABI " + std::to_string(plugin->api().abi_major) + "." + std::to_string(plugin->api().abi_minor) + ", " +
               kind_name(plugin->kind()) + " '" + plugin->name() + "' " + plugin->description().version;
      }))
    return;
  if (manifest) {
    for (const auto& f : compare_with_manifest(*plugin, *manifest))
      r.result("plugin.toml agrees with the library: " + f.field, f.agrees,
               f.agrees ? "'" + f.in_toml + "'" : f.message(manifest->manifest_path, plugin->library()));
  }
  attempt(r, "describe is stable and runs nothing", [&] {
    genlab_describe_args args{};
    args.struct_size = GENLAB_DESCRIBE_ARGS_STRUCT_SIZE;
    plugin->check(plugin->api().describe(&args), "describe");
    if (args.description == nullptr || args.description->name == nullptr || plugin->name() != args.description->name)
      throw HostError("a second describe gave another answer");
    return std::string();
  });
  switch (plugin->kind()) {
    case GENLAB_PLUGIN_KIND_MODEL: check_model(r, plugin, options); break;
    case GENLAB_PLUGIN_KIND_DATASET: check_dataset(r, plugin); break;
    case GENLAB_PLUGIN_KIND_METRIC: check_metric(r, plugin, options); break;
    case GENLAB_PLUGIN_KIND_BACKEND: check_backend(r, plugin); break;
  }
  const std::string problem = ownership_problem();
  r.result("ownership: no deleter called twice", problem.empty(), problem);
}

}  // namespace conformance

std::vector<CheckItem> check_plugin(const fs::path& path, const CheckOptions& options) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw HostError("cannot create a pipe for the checker");
  const pid_t child = fork();
  if (child < 0) throw HostError("cannot fork the checker");
  if (child == 0) {  // the child loads the plugin; whatever it does cannot hurt the parent
    close(pipe_fds[0]);
    conformance::Reporter reporter(pipe_fds[1]);
    try {
      conformance::run_checks(reporter, path, options);
    } catch (const std::exception& e) {
      reporter.result("checker", false, e.what());
    }
    close(pipe_fds[1]);
    _exit(reporter.failed() ? 1 : 0);
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);

  std::vector<CheckItem> items;
  std::string last_step;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t a = line.find('\t');
    const size_t b = line.find('\t', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string tag = line.substr(0, a), name = line.substr(a + 1, b - a - 1), detail = line.substr(b + 1);
    if (tag == "STEP") {
      last_step = name;
    } else {
      items.push_back(CheckItem{name, tag == "PASS", detail});
      last_step.clear();
    }
  }
  if (WIFSIGNALED(status)) {
    items.push_back(
        CheckItem{last_step.empty() ? "checker" : last_step, false,
                  std::string("the plugin crashed the process with signal ") + strsignal(WTERMSIG(status))});
  }
  return items;
}

}  // namespace genlab
