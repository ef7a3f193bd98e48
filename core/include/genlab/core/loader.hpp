// Loading a plugin library with Boost.DLL and checking everything it hands over: the entry
// symbol, the ABI version, every struct_size, every required function pointer, and that the
// library agrees with its plugin.toml. Every problem becomes one HostError naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "genlab/core/error.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/genlab.h"

namespace genlab {

struct ParamSpec {
  std::string name;
  genlab_param_type type = GENLAB_PARAM_DOUBLE;
  std::optional<std::string> default_value;  // TOML text; none means required
  std::string doc;
};

// The plugin's describe() answer, copied into C++ values.
struct PluginDescription {
  genlab_plugin_kind kind = GENLAB_PLUGIN_KIND_MODEL;
  std::string name, version, family, summary;
  std::vector<std::string> modalities;
  uint64_t capabilities = 0;
  std::vector<int32_t> device_types;  // DLDeviceType values
  std::vector<ParamSpec> params;
};

// A call into a plugin that returned an error: keeps the plugin's code, so a host service
// that forwards it (run_op) hands the caller the code the backend chose.
class PluginError : public HostError {
 public:
  PluginError(const std::string& message, genlab_error_code code) : HostError(message), code_(code) {}
  genlab_error_code code() const { return code_; }

 private:
  genlab_error_code code_;
};

// A loaded, checked plugin. Libraries are never unloaded: tensors a plugin handed out may
// still hold its deleters, and its runtime may have registered exit handlers.
class Plugin {
 public:
  const std::filesystem::path& library() const { return library_; }
  const std::optional<PluginManifest>& manifest() const { return manifest_; }
  const genlab_plugin_api& api() const { return *api_; }
  const PluginDescription& description() const { return description_; }
  genlab_plugin_kind kind() const { return description_.kind; }
  const std::string& name() const { return description_.name; }
  bool has(uint64_t capability) const { return (description_.capabilities & capability) != 0; }

  // Kind tables; each is checked at load (struct_size and required functions).
  const genlab_model_api& model() const;
  const genlab_dataset_api& dataset() const;
  const genlab_metric_api& metric() const;
  const genlab_backend_api& backend() const;

  // "plugin 'vae' (/path/libgenlab_vae.so)" — how every message names the plugin.
  std::string label() const;

  // Throws HostError "plugin 'x' (path): <call> failed [<code>]: <message>" if `error` is
  // set, freeing the error either way.
  void check(genlab_error* error, const char* call) const;

 private:
  friend std::shared_ptr<const Plugin> load_plugin_library(
      const std::filesystem::path&, const std::optional<PluginManifest>&);
  std::filesystem::path library_;
  std::optional<PluginManifest> manifest_;
  const genlab_plugin_api* api_ = nullptr;
  PluginDescription description_;
};

// Loads the library of a discovered plugin and checks it against its plugin.toml.
std::shared_ptr<const Plugin> load_plugin(const PluginManifest& manifest);

// Loads a library by path; when `manifest` is given, the library must agree with it.
// A library already loaded is returned from a cache (per path).
std::shared_ptr<const Plugin> load_plugin_library(
    const std::filesystem::path& library, const std::optional<PluginManifest>& manifest = {});

// The ABI negotiation rule: majors equal; any minor. Returns a refusal reason, or empty.
std::string negotiate_abi(uint32_t host_major, uint32_t host_minor, uint32_t plugin_major,
                          uint32_t plugin_minor);

const char* error_code_name(genlab_error_code code);
std::string device_type_name(int32_t device_type);

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
