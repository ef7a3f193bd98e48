#include "genlab/core/loader.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <dlfcn.h>
#include <fstream>
#include <boost/dll/shared_library.hpp>
#include <spdlog/spdlog.h>

#include "genlab/util/error.hpp"

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

std::string negotiate_abi(uint32_t host_major, uint32_t host_minor, uint32_t plugin_major, uint32_t plugin_minor) {
  if (plugin_major != host_major)
    return "it was built for ABI " + std::to_string(plugin_major) + "." + std::to_string(plugin_minor) +
           ", this host speaks ABI " + std::to_string(host_major) + "." + std::to_string(host_minor) +
           " (the major versions must match; rebuild the "
           "plugin against this genlab SDK)";
  return {};
}

std::string Plugin::label() const {
  const std::string& n =
      description_.name.empty() ? (manifest_ ? manifest_->name : std::string("?")) : description_.name;
  return "plugin '" + n + "' (" + library_.string() + ")";
}

namespace {

// Throws the PluginError of an error a call of the plugin `label` returned, freeing it.
void throw_plugin_error(const std::string& label, genlab_error* error, const char* call) {
  std::string message = "(no message)";
  genlab_error_code code = GENLAB_ERROR_UNKNOWN;
  if (error->struct_size >= GENLAB_STRUCT_SIZE(genlab_error, message)) {
    code = error->code;
    if (error->message != nullptr) message = error->message;
  }
  genlab_error_destroy(error);
  throw PluginError(label + ": " + call + " failed [" + error_code_name(code) + "]: " + message, code);
}

}  // namespace

void Plugin::check(genlab_error* error, const char* call) const {
  if (error == nullptr) return;
  throw_plugin_error(label(), error, call);
}

const genlab_model_api& Plugin::model() const {
  const genlab_plugin_api* api = loaded();
  if (api->model == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a model");
  return *api->model;
}
const genlab_dataset_api& Plugin::dataset() const {
  const genlab_plugin_api* api = loaded();
  if (api->dataset == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a dataset");
  return *api->dataset;
}
const genlab_metric_api& Plugin::metric() const {
  const genlab_plugin_api* api = loaded();
  if (api->metric == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a metric");
  return *api->metric;
}
const genlab_backend_api& Plugin::backend() const {
  const genlab_plugin_api* api = loaded();
  if (api->backend == nullptr) throw HostError(label() + " is a " + kind_name(kind()) + ", not a backend");
  return *api->backend;
}

namespace {

// Fails unless `table` has at least `minimum` bytes and every named function is set.
template <class Table>
void check_table(const std::string& file, const char* table_name, const Table* table, size_t minimum,
                 std::initializer_list<std::pair<const char*, const void*>> required) {
  if (table == nullptr) throw HostError(file + ": the " + table_name + " table is NULL");
  if (table->struct_size < minimum)
    throw HostError(file + ": " + table_name + ".struct_size is " + std::to_string(table->struct_size) +
                    ", smaller than the " + std::to_string(minimum) + " bytes of ABI 1.0");
  for (const auto& [name, fn] : required)
    if (fn == nullptr) throw HostError(file + ": required function " + table_name + "." + name + " is NULL");
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
  auto copy_params = [&](const genlab_param_spec* params, size_t count, const char* what) {
    std::vector<ParamSpec> specs;
    for (size_t i = 0; params != nullptr && i < count; ++i) {
      const genlab_param_spec& p = params[i];
      if (p.struct_size < min_size::param_spec || p.name == nullptr)
        throw HostError(file + ": " + what + " " + std::to_string(i) + " of the description is malformed");
      ParamSpec spec;
      spec.name = p.name;
      spec.type = p.type;
      if (GENLAB_STRUCT_HAS(genlab_param_spec, p.struct_size, default_value) && p.default_value)
        spec.default_value = p.default_value;
      if (GENLAB_STRUCT_HAS(genlab_param_spec, p.struct_size, doc)) spec.doc = safe_string(p.doc);
      specs.push_back(std::move(spec));
    }
    return specs;
  };
  if (GENLAB_STRUCT_HAS(genlab_plugin_description, size, param_count))
    out.params = copy_params(d->params, d->param_count, "parameter");
  if (GENLAB_STRUCT_HAS(genlab_plugin_description, size, generate_param_count)) {
    out.generate_params = copy_params(d->generate_params, d->generate_param_count, "generate option");
    out.declares_generate_params = true;
  }
  return out;
}

// The loader's one mutex: it guards both caches and every loading, lazy ones included.
std::mutex cache_mutex;
std::map<fs::path, std::shared_ptr<const Plugin>>& cache() {
  static auto* plugins = new std::map<fs::path, std::shared_ptr<const Plugin>>();  // never freed
  return *plugins;
}

// A library loaded and checked, with its description: once per path and process, never
// unloaded (see Plugin).
struct LoadedLibrary {
  const genlab_plugin_api* api = nullptr;
  PluginDescription description;
};
std::map<fs::path, LoadedLibrary>& libraries() {
  static auto* loaded = new std::map<fs::path, LoadedLibrary>();  // never freed
  return *loaded;
}

// Throws one HostError naming every field on which `manifest` disagrees with the library.
void refuse_disagreement(const PluginDescription& d, const genlab_plugin_api& api, const PluginManifest& manifest,
                         const fs::path& library) {
  std::string refusal;
  for (const auto& f : compare_with_manifest(d, api.abi_major, api.abi_minor, manifest))
    if (!f.agrees && f.refuses_load)
      refusal += (refusal.empty() ? "" : "; ") + f.message(manifest.manifest_path, library);
  if (!refusal.empty()) throw HostError(refusal);
}

// Whether two plugin.tomls say the same (a lazy plugin of one serves the other).
bool same_manifest(const PluginManifest& a, const PluginManifest& b) {
  return a.library == b.library && a.keys == b.keys &&
         plugin_toml_text(a.description(), a.abi_major, a.abi_minor, "") ==
             plugin_toml_text(b.description(), b.abi_major, b.abi_minor, "");
}

// Why `path` does not load, in words: the loader's own message (dlerror, which Boost.DLL's
// error code loses: it said "Bad file descriptor" for every case) and what the file is.
std::string load_failure(const fs::path& path) {
  std::string why;
  if (void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    ::dlclose(handle);  // it loads now: a race with whoever replaced it
    why = "it failed to load, then loaded (was it being replaced?)";
  } else if (const char* error = ::dlerror()) {
    why = error;
  }
  std::ifstream in(path, std::ios::binary);
  unsigned char head[20] = {0};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const std::streamsize n = in.gcount();
  std::string what;
  if (n == 0) {
    what = "the file is empty";
  } else if (n < 20 || head[0] != 0x7f || head[1] != 'E' || head[2] != 'L' || head[3] != 'F') {
    what = "not an ELF file (a text file, an archive, or a library of another system?)";
  } else {
    const int bits = head[4] == 1 ? 32 : head[4] == 2 ? 64 : 0;
    const unsigned machine = head[18] | (head[19] << 8);  // e_machine, little-endian
    const char* name = machine == 62    ? "x86-64"
                       : machine == 183 ? "aarch64"
                       : machine == 3   ? "i386"
                       : machine == 40  ? "arm"
                       : machine == 243 ? "riscv"
                                        : nullptr;
    what = "an ELF file for " + std::to_string(bits) + "-bit " +
           (name ? std::string(name) : "machine " + std::to_string(machine)) +
           (head[16] != 3 ? " that is not a shared object (e_type " + std::to_string(head[16]) + ")" : "");
#if defined(__x86_64__)
    if (bits != 64 || machine != 62) what += "; this host is 64-bit x86-64";
#elif defined(__aarch64__)
    if (bits != 64 || machine != 183) what += "; this host is 64-bit aarch64";
#endif
  }
  return (why.empty() ? std::string() : why + "; ") + what;
}

// The table of the plugin's kind is set, large enough, and has its required functions.
void check_kind_table(const std::string& file, const genlab_plugin_api& plugin) {
  const genlab_plugin_api* api = &plugin;
  switch (api->kind) {
    case GENLAB_PLUGIN_KIND_MODEL:
      check_table(
          file, "genlab_model_api", api->model, min_size::model_api,
          {GENLAB_FN(api->model, create), GENLAB_FN(api->model, destroy), GENLAB_FN(api->model, train_step),
           GENLAB_FN(api->model, generate), GENLAB_FN(api->model, export_state), GENLAB_FN(api->model, import_state)});
      return;
    case GENLAB_PLUGIN_KIND_DATASET:
      check_table(file, "genlab_dataset_api", api->dataset, min_size::dataset_api,
                  {GENLAB_FN(api->dataset, create), GENLAB_FN(api->dataset, destroy), GENLAB_FN(api->dataset, info),
                   GENLAB_FN(api->dataset, get_batch)});
      return;
    case GENLAB_PLUGIN_KIND_METRIC:
      check_table(file, "genlab_metric_api", api->metric, min_size::metric_api,
                  {GENLAB_FN(api->metric, create), GENLAB_FN(api->metric, destroy), GENLAB_FN(api->metric, update),
                   GENLAB_FN(api->metric, compute), GENLAB_FN(api->metric, reset)});
      return;
    case GENLAB_PLUGIN_KIND_BACKEND:
      check_table(file, "genlab_backend_api", api->backend, min_size::backend_api,
                  {GENLAB_FN(api->backend, create), GENLAB_FN(api->backend, destroy), GENLAB_FN(api->backend, info),
                   GENLAB_FN(api->backend, run_op)});
      return;
  }
  throw HostError(file + ": unknown plugin kind " + std::to_string(static_cast<int>(api->kind)));
}

// Opens the library at `path` and returns its entry. Local binding keeps one plugin's
// symbols (its LibTorch, its libstdc++) out of the others'. A library whose code has run may
// have handed out pointers, so it is never unloaded (see Plugin): it is kept in a list that
// is never destroyed, so not even exit() unloads it.
genlab_plugin_entry_fn open_entry(const fs::path& path) {
  const std::string file = path.string();
  std::error_code fs_error;
  if (fs::is_directory(path, fs_error)) throw HostError(file + ": a directory, not a library file");
  if (!fs::is_regular_file(path, fs_error)) throw HostError(file + ": no such library file");
  boost::system::error_code ec;
  auto library = std::make_unique<boost::dll::shared_library>(
      path.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec) throw HostError(file + ": not a loadable shared library: " + load_failure(path));
  if (!library->has(GENLAB_PLUGIN_ENTRY_SYMBOL))
    throw HostError(file + ": no entry symbol '" GENLAB_PLUGIN_ENTRY_SYMBOL
                           "': not a genlab plugin (export it with GENLAB_PLUGIN(...) or by hand)");
  genlab_plugin_entry_fn entry =
      &library->get<const genlab_plugin_api*(uint32_t, uint32_t)>(GENLAB_PLUGIN_ENTRY_SYMBOL);
  static std::mutex kept_mutex;
  static auto* kept = new std::vector<std::unique_ptr<boost::dll::shared_library>>();
  std::lock_guard<std::mutex> lock(kept_mutex);
  kept->push_back(std::move(library));
  return entry;
}

// Calls the entry with this host's version and checks the table it returns: a version this
// host serves, and the required functions of the plugin table and of its kind's table.
const genlab_plugin_api* plugin_table(genlab_plugin_entry_fn entry, const std::string& file) {
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
                    std::to_string(GENLAB_ABI_VERSION_MAJOR) + "." + std::to_string(GENLAB_ABI_VERSION_MINOR) + ")");
  if (api->struct_size < GENLAB_STRUCT_SIZE(genlab_plugin_api, abi_minor))
    throw HostError(file + ": genlab_plugin_api.struct_size is " + std::to_string(api->struct_size) +
                    ", too small to hold a version");
  if (auto refusal = negotiate_abi(GENLAB_ABI_VERSION_MAJOR, GENLAB_ABI_VERSION_MINOR, api->abi_major, api->abi_minor);
      !refusal.empty())
    throw HostError(file + ": " + refusal);
  check_table(file, "genlab_plugin_api", api, min_size::plugin_api, {GENLAB_FN(api, describe)});
  if (api->abi_minor > GENLAB_ABI_VERSION_MINOR)
    spdlog::debug("{}: built for ABI {}.{}, newer than this host's {}.{}; newer fields ignored", file, api->abi_major,
                  api->abi_minor, GENLAB_ABI_VERSION_MAJOR, GENLAB_ABI_VERSION_MINOR);
  check_kind_table(file, *api);
  return api;
}

// Loads the library at `path` (absolute, normal) and checks it: the entry, the ABI, the
// tables, describe. Under cache_mutex. `name` names the plugin in a describe error.
const LoadedLibrary& open_library(const fs::path& path, const std::string& name) {
  if (auto it = libraries().find(path); it != libraries().end()) return it->second;
  const std::string file = path.string();
  const genlab_plugin_api* api = plugin_table(open_entry(path), file);
  genlab_describe_args args{};
  args.struct_size = GENLAB_DESCRIBE_ARGS_STRUCT_SIZE;
  genlab_error* error = nullptr;
  try {
    error = api->describe(&args);
  } catch (...) {
    throw HostError(file + ": describe threw an exception across the C boundary");
  }
  if (error != nullptr) throw_plugin_error("plugin '" + name + "' (" + file + ")", error, "describe");
  LoadedLibrary loaded;
  loaded.api = api;
  loaded.description = copy_description(file, args.description);
  if (loaded.description.kind != api->kind)
    throw HostError(file + ": describe says kind '" + kind_name(loaded.description.kind) +
                    "', the plugin table says '" + kind_name(api->kind) + "'");
  return libraries().emplace(path, std::move(loaded)).first->second;
}

}  // namespace

std::vector<ManifestField> compare_with_manifest(const Plugin& plugin, const PluginManifest& manifest) {
  const genlab_plugin_api& api = plugin.api();  // loads the library: its ABI version is in its table
  return compare_with_manifest(plugin.description(), api.abi_major, api.abi_minor, manifest);
}

const genlab_plugin_api* Plugin::loaded() const {
  if (const genlab_plugin_api* api = api_.load(std::memory_order_acquire)) return api;
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (const genlab_plugin_api* api = api_.load(std::memory_order_relaxed)) return api;
  if (!load_error_.empty()) throw HostError(load_error_);
  try {
    const LoadedLibrary& library = open_library(library_, description_.name);
    // The description this plugin gave out so far is the plugin.toml's: it must be the library's.
    if (manifest_) refuse_disagreement(library.description, *library.api, *manifest_, library_);
    api_.store(library.api, std::memory_order_release);
    return library.api;
  } catch (const HostError& e) {
    load_error_ = e.what();
    throw;
  }
}

namespace {

// The plugin.toml beside a library, if there is one and it names that library.
std::optional<PluginManifest> manifest_beside(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path.parent_path() / "plugin.toml", ec)) return std::nullopt;
  PluginManifest m = read_plugin_manifest(path.parent_path());
  if (m.library != path) return std::nullopt;
  return m;
}

}  // namespace

std::shared_ptr<const Plugin> load_plugin(const PluginManifest& manifest) {
  return load_plugin_library(manifest.library, manifest);
}

std::shared_ptr<const Plugin> load_plugin_library(const fs::path& library_path,
                                                  const std::optional<PluginManifest>& manifest) {
  if (manifest) return load_plugin_library_as(library_path, manifest);
  return load_plugin_library_as(library_path, manifest_beside(fs::absolute(library_path).lexically_normal()));
}

std::shared_ptr<const Plugin> load_plugin_library_unchecked(const fs::path& library) {
  return load_plugin_library_as(library, std::nullopt);
}

std::shared_ptr<const Plugin> load_plugin_library_as(const fs::path& library_path,
                                                     const std::optional<PluginManifest>& manifest) {
  const fs::path path = fs::absolute(library_path).lexically_normal();
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto found = cache().find(path);
  const std::shared_ptr<const Plugin> slot = found == cache().end() ? nullptr : found->second;
  if (slot && slot->api_.load(std::memory_order_acquire) != nullptr) {
    // Loaded: its description is the library's.
    if (!manifest) return slot;
    refuse_disagreement(slot->description_, *slot->api_.load(), *manifest, path);
    if (slot->manifest_ && same_manifest(*slot->manifest_, *manifest)) return slot;
    // Loaded unchecked, or beside another plugin.toml: the same library, now with this one
    // (whoever holds the older Plugin keeps it as it was).
    auto plugin = std::shared_ptr<Plugin>(new Plugin());
    plugin->library_ = path;
    plugin->manifest_ = manifest;
    plugin->description_ = slot->description_;
    plugin->api_.store(slot->api_.load(std::memory_order_relaxed), std::memory_order_release);
    cache()[path] = plugin;
    return plugin;
  }
  const bool lazy = manifest && manifest->complete();
  if (slot && lazy && slot->manifest_ && same_manifest(*slot->manifest_, *manifest)) return slot;

  std::error_code fs_error;
  if (!fs::is_regular_file(path, fs_error))
    throw HostError(
        path.string() +
        (fs::is_directory(path, fs_error) ? ": a directory, not a library file" : ": no such library file") +
        (manifest ? " (named by " + manifest->manifest_path.string() + ")" : std::string()));
  auto plugin = std::shared_ptr<Plugin>(new Plugin());
  plugin->library_ = path;
  plugin->manifest_ = manifest;
  if (lazy && !slot) {
    // The plugin.toml says everything: the library is loaded at the first call into it.
    plugin->description_ = manifest->description();
  } else {
    // An older, shorter plugin.toml, none, or another than the cached plugin's: load now.
    const LoadedLibrary& library = open_library(path, manifest ? manifest->name : std::string("?"));
    if (manifest) refuse_disagreement(library.description, *library.api, *manifest, path);
    plugin->description_ = library.description;
    plugin->api_.store(library.api, std::memory_order_release);
  }
  cache()[path] = plugin;
  return plugin;
}

}  // namespace genlab
