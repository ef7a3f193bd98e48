// Loading a plugin library with Boost.DLL and checking everything it hands over: the entry
// symbol, the ABI version, every struct_size, every required function pointer, and that the
// library agrees with its plugin.toml on every field. Every problem becomes one HostError
// naming the file. (ParamSpec and PluginDescription are in plugin_manifest.hpp.)
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "genlab/util/error.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/genlab.h"

namespace genlab {

// A call into a plugin that returned an error: keeps the plugin's code, so a host service
// that forwards it (run_op) hands the caller the code the backend chose.
class PluginError : public HostError {
 public:
  PluginError(const std::string& message, genlab_error_code code) : HostError(message), code_(code) {}
  genlab_error_code code() const { return code_; }

 private:
  genlab_error_code code_;
};

// One field of a plugin.toml compared with what its library says (describe() and the ABI
// version of its table). Made by compare_with_manifest, the one comparison both the loader
// and `genlab plugins check` use.
struct ManifestField {
  std::string field;       // the plugin.toml key: name, kind, version, abi_version, ...
  std::string in_toml;     // its value there, as text (a list as "[a, b]")
  std::string in_library;  // what the library says, as text
  bool agrees = true;
  // The loader refuses a plugin that disagrees on this field. Every field does: the host
  // uses the plugin.toml's description in place of the library's until it loads it.
  bool refuses_load = true;
  // "<toml>: <field> is '<in_toml>' but the library <file> says '<in_library>' (<the fix>)"
  std::string message(const std::filesystem::path& toml, const std::filesystem::path& library) const;
};

// A plugin: its description, and its library, loaded and checked. Libraries are never
// unloaded: tensors a plugin handed out may still hold its deleters, and its runtime may
// have registered exit handlers.
//
// A plugin found by a complete plugin.toml (PluginManifest::complete) is not loaded until
// its code is needed: description(), kind(), name(), has(), library() and manifest() come
// from the plugin.toml and run nothing; the first api(), model(), dataset(), metric() or
// backend() loads the library (once per process, thread-safe) and compares its description
// with the plugin.toml's, refusing it (HostError, on that call and every later one) on any
// disagreement. A plugin.toml that gives less (an older or hand-written one) is compared
// at load_plugin, which then loads the library at once.
class Plugin {
 public:
  const std::filesystem::path& library() const { return library_; }
  const std::optional<PluginManifest>& manifest() const { return manifest_; }
  const genlab_plugin_api& api() const { return *loaded(); }
  const PluginDescription& description() const { return description_; }
  genlab_plugin_kind kind() const { return description_.kind; }
  const std::string& name() const { return description_.name; }
  bool has(uint64_t capability) const { return (description_.capabilities & capability) != 0; }
  // Whether its library is loaded yet (its code has run in this process).
  bool is_loaded() const { return api_.load(std::memory_order_acquire) != nullptr; }

  // Kind tables; each is checked at load (struct_size and required functions).
  const genlab_model_api& model() const;
  const genlab_dataset_api& dataset() const;
  const genlab_metric_api& metric() const;
  const genlab_backend_api& backend() const;

  // "plugin 'vae' (/path/libgenlab_vae.so)" — how every message names the plugin.
  std::string label() const;

  // Throws HostError "plugin 'x' (path): <call> failed [<code>]: <message>" if `error` is
  // set, freeing the error either way. (An error comes from the library: it is loaded.)
  void check(genlab_error* error, const char* call) const;

 private:
  friend std::shared_ptr<const Plugin> load_plugin_library_as(const std::filesystem::path&,
                                                              const std::optional<PluginManifest>&);
  // The library's checked entry table, loading it on first use.
  const genlab_plugin_api* loaded() const;
  std::filesystem::path library_;
  std::optional<PluginManifest> manifest_;
  mutable std::atomic<const genlab_plugin_api*> api_{nullptr};
  mutable std::string load_error_;  // why loading failed, once it did (under the loader's mutex)
  PluginDescription description_;
};

// Every field `manifest` gives beside the library's value: name, kind, version, abi_version,
// and family, summary, modalities, capabilities, devices, params and generate_params where it
// gives them (generate_params also where it is complete: absent then means "not declared").
// Modalities and devices compare as sets, params in order. The plugin's own library is
// loaded for its ABI version.
std::vector<ManifestField> compare_with_manifest(const Plugin& plugin, const PluginManifest& manifest);
// The same against a description and the ABI version of its table.
std::vector<ManifestField> compare_with_manifest(const PluginDescription& library, uint32_t abi_major,
                                                 uint32_t abi_minor, const PluginManifest& manifest);

// The plugin of a discovered plugin.toml: not loaded yet if the plugin.toml is complete,
// else loaded and checked against it now (see Plugin).
std::shared_ptr<const Plugin> load_plugin(const PluginManifest& manifest);

// Loads a library by path; when `manifest` is given, the library must agree with it (and a
// complete manifest defers the loading to the first use, as load_plugin). Without one, the
// plugin.toml beside the library, if it names that library, is its manifest: a worker that
// loads a plugin by its path checks it against its plugin.toml as the host would. The
// plugin of a path is returned from a cache; each library is loaded once per process.
std::shared_ptr<const Plugin> load_plugin_library(const std::filesystem::path& library,
                                                  const std::optional<PluginManifest>& manifest = {});
// The library alone, loaded now and compared with no plugin.toml: for genlab-describe, which
// writes the plugin.toml, and `plugins check`, which compares each field itself.
std::shared_ptr<const Plugin> load_plugin_library_unchecked(const std::filesystem::path& library);

// load_plugin_library with exactly `manifest` (none: unchecked); what the two above call.
std::shared_ptr<const Plugin> load_plugin_library_as(const std::filesystem::path& library,
                                                     const std::optional<PluginManifest>& manifest);

// The ABI negotiation rule: majors equal; any minor. Returns a refusal reason, or empty.
std::string negotiate_abi(uint32_t host_major, uint32_t host_minor, uint32_t plugin_major, uint32_t plugin_minor);

const char* error_code_name(genlab_error_code code);

// The smallest struct_size the host accepts for each table of ABI 1.0 (its required
// fields); exposed for the conformance checker and tests.
namespace min_size {
constexpr size_t plugin_api = GENLAB_PLUGIN_API_STRUCT_SIZE;
constexpr size_t description = GENLAB_STRUCT_SIZE(genlab_plugin_description, capabilities);
constexpr size_t model_api = GENLAB_MODEL_API_STRUCT_SIZE;
constexpr size_t dataset_api = GENLAB_DATASET_API_STRUCT_SIZE;
constexpr size_t metric_api = GENLAB_METRIC_API_STRUCT_SIZE;
constexpr size_t backend_api = GENLAB_BACKEND_API_STRUCT_SIZE;
constexpr size_t dataset_info = GENLAB_STRUCT_SIZE(genlab_dataset_info, elements);
constexpr size_t param_spec = GENLAB_STRUCT_SIZE(genlab_param_spec, type);
constexpr size_t element_spec = GENLAB_ELEMENT_SPEC_STRUCT_SIZE;
constexpr size_t error = GENLAB_STRUCT_SIZE(genlab_error, destroy);
constexpr size_t tensor_map = GENLAB_TENSOR_MAP_STRUCT_SIZE;
constexpr size_t scalar_list = GENLAB_SCALAR_LIST_STRUCT_SIZE;
}  // namespace min_size

}  // namespace genlab
