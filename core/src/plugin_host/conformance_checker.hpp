// The parts of `genlab plugins check` its checks share (conformance.cpp runs them in a forked
// child): the reporter that streams results to the parent, named checks that pass unless they
// throw, ownership tracking of every tensor the host receives, and the checks per kind.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include <unistd.h>

#include "genlab/core/conformance.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/util/error.hpp"

namespace genlab::conformance {

// Writes STEP/PASS/FAIL lines to the parent: a check that crashes the child leaves its STEP
// as the last line, so the parent can name it.
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void step(const std::string& name) { write("STEP", name, ""); }
  void result(const std::string& name, bool passed, const std::string& detail = "") {
    write(passed ? "PASS" : "FAIL", name, detail);
    failed_ |= !passed;
  }
  bool failed() const { return failed_; }

 private:
  void write(const char* tag, const std::string& name, const std::string& detail);
  int fd_;
  bool failed_ = false;
};

// Runs one named check: passes unless `body` throws; `body` may return a detail string.
template <class Body>
bool attempt(Reporter& r, const std::string& name, Body&& body) {
  r.step(name);
  try {
    r.result(name, true, body());
    return true;
  } catch (const std::exception& e) {
    r.result(name, false, e.what());
    return false;
  }
}

// Expects `body` to fail with a HostError (a returned error), not to succeed. A call that
// succeeds with what the ABI does not allow (a ContractError) did not return an error.
template <class Body>
void expect_error(Reporter& r, const std::string& name, Body&& body) {
  r.step(name);
  try {
    body();
    r.result(name, false, "the call succeeded; expected it to return an error");
  } catch (const ContractError& e) {
    r.result(name, false, std::string("the call succeeded, and breached the ABI: ") + e.what());
  } catch (const HostError& e) {
    r.result(name, true, std::string("returned: ") + e.what());
  }
}

// ------------------------------------------------------------------ ownership tracking
//
// Every tensor the host receives gets its deleter swapped for one that counts, so the
// checker can tell that each is deleted exactly once, and only when its owner says.

void track(genlab_tensor_map& map, const std::string& origin);
// Pointers of a map's tensors (to check after its destroy that all were deleted).
std::vector<DLManagedTensor*> members(const genlab_tensor_map& map);
size_t count_alive(const std::vector<DLManagedTensor*>& tensors);
// Destroys a map the checker received and checks every tensor of it got deleted once.
void release_and_verify(Reporter& r, const std::string& what, TensorMapPtr map);
// The first deleter called twice (or on an untracked tensor), if any.
std::string ownership_problem();

// ------------------------------------------------------------------------ shared parts

// Settings of an instance under test: seed 1234, one thread.
HostSettings settings(const std::string& name);
std::vector<int64_t> range(int64_t begin, int64_t end);
std::vector<int64_t> range(int64_t n);
// Same shape, dtype and (for compact CPU tensors) bytes.
bool same_bytes(const DLTensor& a, const DLTensor& b);
// A config with each declared parameter given a value of the wrong type, one at a time.
std::vector<std::pair<std::string, toml::table>> wrong_type_configs(const Plugin& plugin);
// Creates the object under test with the default config (checked), then checks that each
// wrongly typed parameter is refused with an error. `make(config)` builds one instance.
template <class Instance, class Make>
std::unique_ptr<Instance> create_checked(Reporter& r, const std::string& kind, const Plugin& plugin, Make&& make) {
  std::unique_ptr<Instance> instance;
  if (!attempt(r, kind + ": create with the default config", [&] {
        instance = make(toml::table{});
        return std::string();
      }))
    return nullptr;
  for (auto& wrong : wrong_type_configs(plugin))
    expect_error(r, kind + ": create with a wrongly typed '" + wrong.first + "' is an error",
                 [&] { make(wrong.second); });
  return instance;
}

// The dataset that feeds a model or metric under test: --dataset, else the first found that
// serves one of its modalities.
std::shared_ptr<const Plugin> find_dataset_for(const Plugin& plugin, const CheckOptions& options, Reporter& r);

// The checks of each kind (conformance_model.cpp, conformance_metric.cpp, conformance.cpp).
void check_dataset(Reporter& r, const std::shared_ptr<const Plugin>& plugin);
void check_model(Reporter& r, const std::shared_ptr<const Plugin>& plugin, const CheckOptions& options);
void check_metric(Reporter& r, const std::shared_ptr<const Plugin>& plugin, const CheckOptions& options);
void check_backend(Reporter& r, const std::shared_ptr<const Plugin>& plugin);

}  // namespace genlab::conformance
