#include "genlab/core/host_services.hpp"

#include <spdlog/spdlog.h>

#include "genlab/core/ops.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace {

HostServices* self(void* context) { return static_cast<HostServices*>(context); }

void host_log(void* context, genlab_log_level level, const char* message);

template <class Fn>
genlab_config_status lookup(const genlab_config* config, const char* key, Fn&& read) {
  if (config == nullptr || config->table == nullptr || key == nullptr) return GENLAB_CONFIG_MISSING;
  const toml::node* node = find_config_node(*config->table, key);
  if (node == nullptr) return GENLAB_CONFIG_MISSING;
  return read(*node) ? GENLAB_CONFIG_FOUND : GENLAB_CONFIG_WRONG_TYPE;
}

genlab_config_status get_int64(void*, const genlab_config* config, const char* key, int64_t* out) {
  return lookup(config, key, [&](const toml::node& n) {
    if (!n.is_integer()) return false;
    *out = n.as_integer()->get();
    return true;
  });
}

genlab_config_status get_double(void*, const genlab_config* config, const char* key, double* out) {
  return lookup(config, key, [&](const toml::node& n) {
    if (n.is_floating_point()) *out = n.as_floating_point()->get();
    else if (n.is_integer()) *out = static_cast<double>(n.as_integer()->get());
    else return false;
    return true;
  });
}

genlab_config_status get_bool(void*, const genlab_config* config, const char* key, int32_t* out) {
  return lookup(config, key, [&](const toml::node& n) {
    if (!n.is_boolean()) return false;
    *out = n.as_boolean()->get() ? 1 : 0;
    return true;
  });
}

genlab_config_status get_string(void*, const genlab_config* config, const char* key, const char** out) {
  return lookup(config, key, [&](const toml::node& n) {
    if (!n.is_string()) return false;
    *out = n.as_string()->get().c_str();  // lives as long as the table
    return true;
  });
}

void host_progress(void* context, double fraction, const char* message) {
  const auto& on_progress = self(context)->settings().on_progress;
  if (on_progress) on_progress(fraction, message);
}

int32_t host_is_cancelled(void* context) {
  const auto& cancel = self(context)->settings().cancel;
  return cancel && cancel->load(std::memory_order_relaxed) ? 1 : 0;
}

// Errors cross back as genlab_error: the backend's own code when it failed, otherwise the
// dispatcher's (no backend for the device, inputs on two devices).
genlab_error* host_run_op(void* context, const char* op, const genlab_tensor_map* inputs, genlab_tensor_map** outputs) {
  if (op == nullptr || inputs == nullptr || outputs == nullptr)
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "run_op: op, inputs and outputs must not be NULL");
  try {
    auto ops = self(context)->settings().ops;
    if (!ops) ops = OpDispatcher::default_instance();
    *outputs = ops->run(op, *inputs).release();
    return nullptr;
  } catch (const PluginError& e) {
    return genlab_util_error_new(e.code(), "%s", e.what());
  } catch (const NoBackendError& e) {
    return genlab_util_error_new(GENLAB_ERROR_UNSUPPORTED_DEVICE, "%s", e.what());
  } catch (const HostError& e) {
    return genlab_util_error_new(GENLAB_ERROR_INVALID_ARGUMENT, "%s", e.what());
  } catch (const std::bad_alloc&) {
    return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "run_op '%s': out of memory", op);
  } catch (const std::exception& e) {
    return genlab_util_error_new(GENLAB_ERROR_INTERNAL, "run_op '%s': %s", op, e.what());
  }
}

}  // namespace

HostServices::HostServices(HostSettings settings) : settings_(std::move(settings)) {
  api_.struct_size = GENLAB_HOST_API_STRUCT_SIZE;
  api_.abi_major = GENLAB_ABI_VERSION_MAJOR;
  api_.abi_minor = GENLAB_ABI_VERSION_MINOR;
  api_.context = this;
  api_.log = host_log;
  api_.report_progress = host_progress;
  api_.is_cancelled = host_is_cancelled;
  api_.config_get_int64 = get_int64;
  api_.config_get_double = get_double;
  api_.config_get_bool = get_bool;
  api_.config_get_string = get_string;
  api_.seed = settings_.seed;
  api_.num_threads = settings_.num_threads > 0 ? settings_.num_threads : 1;
  api_.run_op = host_run_op;
  api_.rank = settings_.world_size > 1 ? settings_.rank : 0;
  api_.world_size = settings_.world_size > 1 ? settings_.world_size : 1;
  api_.rendezvous = settings_.world_size > 1 ? settings_.rendezvous.c_str() : nullptr;
  api_.precision = settings_.precision;
}

namespace {
// Plugins log into the host's default spdlog logger, each line tagged with the plugin's
// name, so their lines land wherever the host's own lines go, at the host's level.
void host_log(void* context, genlab_log_level level, const char* message) {
  static constexpr spdlog::level::level_enum levels[] = {spdlog::level::trace, spdlog::level::debug,
                                                         spdlog::level::info, spdlog::level::warn, spdlog::level::err};
  const int index = level >= GENLAB_LOG_TRACE && level <= GENLAB_LOG_ERROR ? level : GENLAB_LOG_INFO;
  spdlog::default_logger()->log(levels[index], "[{}] {}", self(context)->settings().plugin_name,
                                message ? message : "");
}
}  // namespace

const toml::node* find_config_node(const toml::table& table, const std::string& key) {
  const toml::table* current = &table;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const toml::node* node = current->get(part);
    if (node == nullptr || dot == std::string::npos) return node;
    current = node->as_table();
    if (current == nullptr) return nullptr;
    start = dot + 1;
  }
}

}  // namespace genlab
