// The host side of genlab_host_api: logging into spdlog under the plugin's name, config
// lookups over TOML++ tables, the run's seed and thread budget, progress and cancellation,
// named ops run on backend plugins (run_op), and the process's place in a data-parallel run.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <toml++/toml.h>

#include "genlab/genlab.h"

// The host's definition of the ABI's opaque config handle: a view of one TOML table.
struct genlab_config {
  const toml::table* table;
};

namespace genlab {

class OpDispatcher;

// A genlab_config handle over `table` (which must outlive it).
class ConfigHandle {
 public:
  explicit ConfigHandle(const toml::table& table) : config_{&table} {}
  const genlab_config* get() const { return &config_; }

 private:
  genlab_config config_;
};

struct HostSettings {
  std::string plugin_name;  // log lines are attributed to it
  uint64_t seed = 0;
  int32_t num_threads = 1;
  std::shared_ptr<std::atomic<bool>> cancel;             // shared with whoever may cancel; may be null
  std::function<void(double, const char*)> on_progress;  // may be empty
  // Serves genlab_host_api::run_op; null means OpDispatcher::default_instance().
  std::shared_ptr<OpDispatcher> ops;
  // Data-parallel training (genlab_host_api::rank, world_size, rendezvous): set for the
  // model of a train node with experiment.processes > 1, else one process.
  int32_t rank = 0;
  int32_t world_size = 1;
  std::string rendezvous = {};                // the file where the processes meet; empty with one process
  int32_t precision = GENLAB_PRECISION_FP32;  // genlab_host_api::precision: the model's compute
};

// One host table per plugin object. Not movable: the table's context points at it.
class HostServices {
 public:
  explicit HostServices(HostSettings settings);
  HostServices(const HostServices&) = delete;
  HostServices& operator=(const HostServices&) = delete;

  const genlab_host_api* api() const { return &api_; }
  const HostSettings& settings() const { return settings_; }

 private:
  HostSettings settings_;
  genlab_host_api api_{};
};

// Looks up a dotted key ("encoder.channels") in a table; nullptr if absent.
const toml::node* find_config_node(const toml::table& table, const std::string& key);

}  // namespace genlab
