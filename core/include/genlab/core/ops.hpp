// Named ops (the NeRF volume-rendering composite, ...) served by backend plugins and handed
// to model plugins through genlab_host_api::run_op. The dispatcher finds the backend
// plugins on a plugin search path the first time an op is asked for, creates each once, and
// runs an op on the first backend that serves the inputs' device and the op: vendors'
// backends before the CPU reference (family "reference"), then by name.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "genlab/core/instances.hpp"
#include "genlab/genlab.h"

namespace genlab {

class OpDispatcher {
 public:
  // `roots` as for discover_plugins (plugin folders or folders of them); the backends get
  // `num_threads` CPU threads (genlab_host_api::num_threads of their host table).
  OpDispatcher(std::vector<std::filesystem::path> roots, int32_t num_threads);
  ~OpDispatcher();
  OpDispatcher(const OpDispatcher&) = delete;
  OpDispatcher& operator=(const OpDispatcher&) = delete;

  // The one over plugin_search_path(): the built-in plugins and GENLAB_PLUGIN_PATH, with one
  // thread per core. (A run's worker makes its own, with the run's thread budget.)
  static std::shared_ptr<OpDispatcher> default_instance();

  // Runs `op` on the backend serving the device of `inputs` (all tensors on one device).
  // Throws HostError (PluginError with the backend's code when the backend failed);
  // unsupported_device() tells the caller which code to give a missing backend.
  TensorMapPtr run(const std::string& op, const genlab_tensor_map& inputs);

  // "<backend>: <device types> [<ops>]" for every backend that could be created, and
  // "<backend>: <why not>" for the others; discovers on first use.
  std::vector<std::string> describe();

 private:
  struct Backend;
  void discover();  // with mutex_ held

  std::vector<std::filesystem::path> roots_;
  int32_t num_threads_;
  std::mutex mutex_;  // one op at a time: a backend object is called from one thread at a time
  bool discovered_ = false;
  std::vector<std::unique_ptr<Backend>> backends_;  // in preference order
  std::vector<std::string> problems_;
};

// Thrown by OpDispatcher::run when no backend serves the op on the inputs' device.
class NoBackendError : public HostError {
 public:
  using HostError::HostError;
};

}  // namespace genlab
