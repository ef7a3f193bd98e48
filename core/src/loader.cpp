#include "genlab/core/loader.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "genlab/core/error.hpp"

namespace genlab {
namespace fs = std::filesystem;

const char* error_code_name(genlab_error_code code) {
  switch (code) {
    case GENLAB_ERROR_UNKNOWN: return "unknown";
    case GENLAB_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case GENLAB_ERROR_NOT_FOUND: return "not found";
    case GENLAB_ERROR_UNIMPLEMENTED: return "unimplemented";
    case GENLAB_ERROR_FAILED_PRECONDITION: return "failed precondition";
    case GENLAB_ERROR_CANCELLED: return "cancelled";
    case GENLAB_ERROR_OUT_OF_MEMORY: return "out of memory";
    case GENLAB_ERROR_UNSUPPORTED_DEVICE: return "unsupported device";
    case GENLAB_ERROR_INTERNAL: return "internal";
    case GENLAB_ERROR_IO: return "i/o";
  }
  return "unrecognised code";
}

std::string device_type_name(int32_t device_type) {
  switch (device_type) {
    case kDLCPU: return "cpu";
    case kDLCUDA: return "cuda";
    case kDLCUDAHost: return "cuda_host";
    case kDLROCM: return "rocm";
    case kDLMetal: return "metal";
    case kDLVulkan: return "vulkan";
    case kDLOpenCL: return "opencl";
    default: return "device_type_" + std::to_string(device_type);
  }
}

std::string negotiate_abi(uint32_t host_major, uint32_t host_minor, uint32_t plugin_major,
                          uint32_t plugin_minor) {
  if (plugin_major != host_major)
    return "it was built for ABI " + std::to_string(plugin_major) + "." +
           std::to_string(plugin_minor) + ", this host speaks ABI " + std::to_string(host_major) +
           "." + std::to_string(host_minor) + " (the major versions must match; rebuild the "
           "plugin against this genlab SDK)";
  return {};
}

std::string Plugin::label() const {
  const std::string& n = description_.name.empty()
                             ? (manifest_ ? manifest_->name : std::string("?"))
                             : description_.name;
  return "plugin '" + n + "' (" + library_.string() + ")";
}

void Plugin::check(genlab_error* error, const char* call) const {
  if (error == nullptr) return;
  std::string message = "(no message)";
  genlab_error_code code = GENLAB_ERROR_UNKNOWN;
  if (error->struct_size >= GENLAB_STRUCT_SIZE(genlab_error, message)) {
    code = error->code;
    if (error->message != nullptr) message = error->message;
  }
  genlab_error_destroy(error);
  throw PluginError(label() + ": " + call + " failed [" + error_code_name(code) + "]: " + message, code);
}

const genlab_model_api& Plugin::model() const {
  if (api_->model == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a model");
  return *api_->model;
}
const genlab_dataset_api& Plugin::dataset() const {
  if (api_->dataset == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a dataset");
  return *api_->dataset;
}
const genlab_metric_api& Plugin::metric() const {
  if (api_->metric == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a metric");
  return *api_->metric;
}
const genlab_backend_api& Plugin::backend() const {
  if (api_->backend == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a backend");
  return *api_->backend;
}

namespace {

// Fails unless `table` has at least `minimum` bytes and every named function is set.
template <class Table>
void check_table(const std::string& file, const char* table_name, const Table* table,
                 size_t minimum, std::initializer_list<std::pair<const char*, const void*>> required) {
  if (table == nullptr) throw HostError(file + ": the " + table_name + " table is NULL");
  if (table->struct_size < minimum)
    throw HostError(file + ": " + table_name + ".struct_size is " + std::to_string(table->struct_size) +
                    ", smaller than the " + std::to_string(minimum) + " bytes of ABI 1.0");
  for (const auto& [name, fn] : required)
    if (fn == nullptr)
      throw HostError(file + ": required function " + table_name + "." + name + " is NULL");
}

#define GENLAB_FN(table, field) std::pair<const char*, const void*>(#field, reinterpret_cast<const void*>(table->field))

std::string safe_string(const char* s) { return s ? std::string(s) : std::string(); }

PluginDescription copy_description(const std::string& file, const genlab_plugin_description* d) {
  if (d == nullptr) throw HostError(file + ": describe returned no description");
  if (d->struct_size < min_size::description)
    throw HostError(file + ": genlab_plugin_description.struct_size is " + std::to_string(d->struct_size) +
                    ", smaller than the " + std::to_string(min_size::description) + " bytes of ABI 1.0");
  PluginDescription out;
  out.kind = d->kind;
  out.name = safe_string(d->name);
  out.version = safe_string(d->version);
  out.family = safe_string(d->family);
  out.summary = safe_string(d->summary);
  if (out.name.empty()) throw HostError(file + ": describe gave an empty name");
  if (out.version.empty()) throw HostError(file + ": describe gave an empty version");
  for (size_t i = 0; i < d->modality_count; ++i) out.modalities.push_back(safe_string(d->modalities[i]));
  out.capabilities = d->capabilities;
  const size_t size = d->struct_size;
  if (GENLAB_STRUCT_HAS(genlab_plugin_description, size, device_type_count) && d->device_types)
    out.device_types.assign(d->device_types, d->device_types + d->device_type_count);
  if (out.device_types.empty()) out.device_types.push_back(kDLCPU);
  if (GENLAB_STRUCT_HAS(genlab_plugin_description, size, param_count) && d->params) {
    for (size_t i = 0; i < d->param_count; ++i) {
      const genlab_param_spec& p = d->params[i];
      if (p.struct_size < min_size::param_spec || p.name == nullptr)
        throw HostError(file + ": parameter " + std::to_string(i) + " of the description is malformed");
      ParamSpec spec;
      spec.name = p.name;
      spec.type = p.type;
      if (GENLAB_STRUCT_HAS(genlab_param_spec, p.struct_size, default_value) && p.default_value)
        spec.default_value = p.default_value;
      if (GENLAB_STRUCT_HAS(genlab_param_spec, p.struct_size, doc)) spec.doc = safe_string(p.doc);
      out.params.push_back(std::move(spec));
    }
  }
  return out;
}

std::mutex cache_mutex;
std::map<fs::path, std::shared_ptr<const Plugin>>& cache() {
  static auto* plugins = new std::map<fs::path, std::shared_ptr<const Plugin>>();  // never freed
  return *plugins;
}

// The library must agree with the plugin.toml beside it on name, kind, version and ABI.
void check_agreement(const Plugin& plugin, const PluginManifest& manifest) {
  const PluginDescription& d = plugin.description();
  const std::string file = plugin.library().string();
  const std::string toml = manifest.manifest_path.string();
  auto disagree = [&](const char* field, const std::string& in_toml, const std::string& in_library) {
    if (in_toml != in_library)
      throw HostError(toml + ": " + field + " is '" + in_toml + "' but the library " + file + " says '" +
                      in_library + "' (rebuild the plugin or fix its plugin.toml)");
  };
  disagree("name", manifest.name, d.name);
  disagree("kind", kind_name(manifest.kind), kind_name(d.kind));
  disagree("version", manifest.version, d.version);
  disagree("abi_version", manifest.abi_version(),
           std::to_string(plugin.api().abi_major) + "." + std::to_string(plugin.api().abi_minor));
}

}  // namespace

std::shared_ptr<const Plugin> load_plugin(const PluginManifest& manifest) {
  return load_plugin_library(manifest.library, manifest);
}

std::shared_ptr<const Plugin> load_plugin_library(const fs::path& library_path,
                                                  const std::optional<PluginManifest>& manifest) {
  const fs::path path = fs::absolute(library_path).lexically_normal();
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (auto it = cache().find(path); it != cache().end()) {
    if (manifest) check_agreement(*it->second, *manifest);
    return it->second;
  }

  const std::string file = path.string();
  std::error_code fs_error;
  if (!fs::is_regular_file(path, fs_error))
    throw HostError(file + ": no such library file" +
                    (manifest ? " (named by " + manifest->manifest_path.string() + ")" : std::string()));

  // Local binding keeps one plugin's symbols (its LibTorch, its libstdc++) out of the
  // others'. A library that may have handed out pointers is never unloaded (see Plugin): it
  // is kept in a list that is never destroyed, so not even exit() unloads it.
  boost::system::error_code ec;
  auto library = std::make_unique<boost::dll::shared_library>(
      path.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) throw HostError(file + ": not a loadable shared library: " + ec.message());
  if (!library->has(GENLAB_PLUGIN_ENTRY_SYMBOL))
    throw HostError(file + ": no entry symbol '" GENLAB_PLUGIN_ENTRY_SYMBOL
                    "': not a genlab plugin (export it with GENLAB_PLUGIN(...) or by hand)");
  genlab_plugin_entry_fn entry =
      &library->get<const genlab_plugin_api*(uint32_t, uint32_t)>(GENLAB_PLUGIN_ENTRY_SYMBOL);
  {  // From here on the plugin's code runs: keep it loaded for good.
    static std::mutex kept_mutex;
    static auto* kept = new std::vector<std::unique_ptr<boost::dll::shared_library>>();
    std::lock_guard<std::mutex> lock(kept_mutex);
    kept->push_back(std::move(library));
  }

  const genlab_plugin_api* api = nullptr;
  try {
    api = entry(GENLAB_ABI_VERSION_MAJOR, GENLAB_ABI_VERSION_MINOR);
  } catch (const std::exception& e) {
    throw HostError(file + ": the entry " GENLAB_PLUGIN_ENTRY_SYMBOL " threw: " + e.what());
  } catch (...) {
    throw HostError(file + ": the entry " GENLAB_PLUGIN_ENTRY_SYMBOL " threw an unknown exception");
  }
  if (api == nullptr)
    throw HostError(file + ": the plugin refused this host (entry returned NULL for ABI " +
                    std::to_string(GENLAB_ABI_VERSION_MAJOR) + "." +
                    std::to_string(GENLAB_ABI_VERSION_MINOR) + ")");
  if (api->struct_size < GENLAB_STRUCT_SIZE(genlab_plugin_api, abi_minor))
    throw HostError(file + ": genlab_plugin_api.struct_size is " + std::to_string(api->struct_size) +
                    ", too small to hold a version");
  if (auto refusal = negotiate_abi(GENLAB_ABI_VERSION_MAJOR, GENLAB_ABI_VERSION_MINOR,
                                   api->abi_major, api->abi_minor); !refusal.empty())
    throw HostError(file + ": " + refusal);
  check_table(file, "genlab_plugin_api", api, min_size::plugin_api, {GENLAB_FN(api, describe)});
  if (api->abi_minor > GENLAB_ABI_VERSION_MINOR)
    spdlog::debug("{}: built for ABI {}.{}, newer than this host's {}.{}; newer fields ignored",
                  file, api->abi_major, api->abi_minor, GENLAB_ABI_VERSION_MAJOR, GENLAB_ABI_VERSION_MINOR);

  switch (api->kind) {
    case GENLAB_PLUGIN_KIND_MODEL:
      check_table(file, "genlab_model_api", api->model, min_size::model_api,
                  {GENLAB_FN(api->model, create), GENLAB_FN(api->model, destroy),
                   GENLAB_FN(api->model, train_step), GENLAB_FN(api->model, generate),
                   GENLAB_FN(api->model, export_state), GENLAB_FN(api->model, import_state)});
      break;
    case GENLAB_PLUGIN_KIND_DATASET:
      check_table(file, "genlab_dataset_api", api->dataset, min_size::dataset_api,
                  {GENLAB_FN(api->dataset, create), GENLAB_FN(api->dataset, destroy),
                   GENLAB_FN(api->dataset, info), GENLAB_FN(api->dataset, get_batch)});
      break;
    case GENLAB_PLUGIN_KIND_METRIC:
      check_table(file, "genlab_metric_api", api->metric, min_size::metric_api,
                  {GENLAB_FN(api->metric, create), GENLAB_FN(api->metric, destroy),
                   GENLAB_FN(api->metric, update), GENLAB_FN(api->metric, compute),
                   GENLAB_FN(api->metric, reset)});
      break;
    case GENLAB_PLUGIN_KIND_BACKEND:
      check_table(file, "genlab_backend_api", api->backend, min_size::backend_api,
                  {GENLAB_FN(api->backend, create), GENLAB_FN(api->backend, destroy),
                   GENLAB_FN(api->backend, info), GENLAB_FN(api->backend, run_op)});
      break;
    default:
      throw HostError(file + ": unknown plugin kind " + std::to_string(static_cast<int>(api->kind)));
  }

  auto plugin = std::shared_ptr<Plugin>(new Plugin());
  plugin->library_ = path;
  plugin->manifest_ = manifest;
  plugin->api_ = api;

  genlab_describe_args args{};
  args.struct_size = GENLAB_DESCRIBE_ARGS_STRUCT_SIZE;
  genlab_error* error = nullptr;
  try {
    error = api->describe(&args);
  } catch (...) {
    throw HostError(file + ": describe threw an exception across the C boundary");
  }
  plugin->check(error, "describe");
  plugin->description_ = copy_description(file, args.description);
  const PluginDescription& d = plugin->description_;
  if (d.kind != api->kind)
    throw HostError(file + ": describe says kind '" + kind_name(d.kind) + "', the plugin table says '" +
                    kind_name(api->kind) + "'");

  cache().emplace(path, plugin);  // a library that loads is kept, even if its toml disagrees
  if (manifest) check_agreement(*plugin, *manifest);
  return plugin;
}

}  // namespace genlab
