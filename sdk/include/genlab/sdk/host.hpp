// genlab/sdk/host.hpp — the host as a plugin object sees it: the exception boundary
// (guard), the host's services (Host) and a plugin's configuration (Config). Part of
// genlab/sdk/plugin.hpp, which a plugin includes.
#pragma once

#include <ATen/ATen.h>
#include <ATen/DLConvertor.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "genlab/genlab.h"
#include "genlab/genlab_util.h"
#include "genlab/sdk/error.hpp"

namespace genlab::sdk {

// Runs `body` and turns whatever it throws into a genlab_error (NULL on success).
template <class Body>
genlab_error* guard(Body&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const Error& e) {
    return genlab_util_error_new(e.code(), "%s", e.what());
  } catch (const c10::Error& e) {
    return genlab_util_error_new(GENLAB_ERROR_INTERNAL, "%s", e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return genlab_util_error_new(GENLAB_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return genlab_util_error_new(GENLAB_ERROR_INTERNAL, "%s", e.what());
  } catch (...) {
    return genlab_util_error_new(GENLAB_ERROR_UNKNOWN, "an exception of unknown type");
  }
}

// ------------------------------------------------------------------------ host services

// A non-owning view of the host table (cheap to copy). Wraps genlab_host_api's calls.
class Host {
 public:
  Host() = default;
  explicit Host(const genlab_host_api* api) : api_(api) {}

  const genlab_host_api* api() const { return api_; }
  // genlab_host_api::seed (0 without a host).
  uint64_t seed() const { return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, seed) ? api_->seed : 0; }
  // genlab_host_api::num_threads (0 when the host did not say).
  int32_t num_threads() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, num_threads) ? api_->num_threads : 0;
  }
  // genlab_host_api::is_cancelled.
  bool cancelled() const { return api_ && api_->is_cancelled && api_->is_cancelled(api_->context) != 0; }
  // genlab_host_api::report_progress.
  void progress(double fraction, const std::string& message = {}) const {
    if (api_ && api_->report_progress)
      api_->report_progress(api_->context, fraction, message.empty() ? nullptr : message.c_str());
  }
  // genlab_host_api::log.
  void log(genlab_log_level level, const std::string& message) const {
    if (api_ && api_->log) api_->log(api_->context, level, message.c_str());
  }
  void info(const std::string& message) const { log(GENLAB_LOG_INFO, message); }
  void warn(const std::string& message) const { log(GENLAB_LOG_WARN, message); }
  // Whether the host runs named ops on backend plugins (genlab_host_api::run_op, ABI 1.3).
  bool can_run_ops() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, run_op) && api_->run_op != nullptr;
  }
  // Data-parallel training (ABI 1.4): this process's rank among world_size() processes that
  // train one run, and the file where they meet. A host older than 1.4 reads as one process.
  int32_t rank() const { return distributed() ? api_->rank : 0; }
  int32_t world_size() const { return distributed() ? api_->world_size : 1; }
  const char* rendezvous() const { return distributed() ? api_->rendezvous : nullptr; }
  // genlab_host_api::precision (ABI 1.5): what the model's forward passes compute in. FP32
  // from an older host.
  genlab_precision precision() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, precision)
               ? static_cast<genlab_precision>(api_->precision)
               : GENLAB_PRECISION_FP32;
  }

 private:
  bool distributed() const {
    return api_ && GENLAB_STRUCT_HAS(genlab_host_api, api_->struct_size, rendezvous) && api_->world_size > 1;
  }

  const genlab_host_api* api_ = nullptr;
};

// A non-owning view of a config section, valid during the call that gave it.
// get(key, default) returns the default when the key is missing and throws
// Error(INVALID_ARGUMENT) naming the key when it has another type.
class Config {
 public:
  Config() = default;
  Config(Host host, const genlab_config* config) : host_(host), config_(config) {}

  int64_t get(const char* key, int64_t fallback) const {
    return lookup<int64_t>(key, fallback, host_.api() ? host_.api()->config_get_int64 : nullptr, "an integer");
  }
  int64_t get(const char* key, int fallback) const { return get(key, static_cast<int64_t>(fallback)); }
  double get(const char* key, double fallback) const {
    return lookup<double>(key, fallback, host_.api() ? host_.api()->config_get_double : nullptr, "a number");
  }
  bool get(const char* key, bool fallback) const {
    return lookup<int32_t>(key, fallback ? 1 : 0, host_.api() ? host_.api()->config_get_bool : nullptr, "a boolean") !=
           0;
  }
  std::string get(const char* key, const char* fallback) const {
    const char* value =
        lookup<const char*>(key, fallback, host_.api() ? host_.api()->config_get_string : nullptr, "a string");
    return value ? std::string(value) : std::string();
  }

  // Whether the section holds the key, of whatever type (for defaults that depend on other
  // values: a parameter's declared default applies only where the user gave none).
  bool has(const char* key) const {
    if (config_ == nullptr || host_.api() == nullptr || host_.api()->config_get_string == nullptr) return false;
    const char* ignored = nullptr;
    return host_.api()->config_get_string(host_.api()->context, config_, key, &ignored) != GENLAB_CONFIG_MISSING;
  }

  // Like get(), but with a check that names the key: "expected latent > 0, got -3".
  int64_t get_positive(const char* key, int64_t fallback) const {
    const int64_t value = get(key, fallback);
    GENLAB_CHECK(value > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                 std::string("expected ") + key + " > 0, got " + std::to_string(value));
    return value;
  }

 private:
  template <class T, class Fn>
  T lookup(const char* key, T fallback, Fn fn, const char* expected) const {
    if (config_ == nullptr || fn == nullptr) return fallback;
    T out = fallback;
    switch (fn(host_.api()->context, config_, key, &out)) {
      case GENLAB_CONFIG_FOUND: return out;
      case GENLAB_CONFIG_WRONG_TYPE:
        throw Error(GENLAB_ERROR_INVALID_ARGUMENT, std::string("expected ") + expected + " for key '" + key + "'");
      default: return fallback;
    }
  }
  Host host_;
  const genlab_config* config_ = nullptr;
};

}  // namespace genlab::sdk
