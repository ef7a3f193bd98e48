#include "conformance_checker.hpp"

#include <algorithm>
#include <map>
#include <mutex>

#include "genlab/core/discovery.hpp"
#include "genlab/genlab_util.h"

namespace genlab::conformance {
namespace {

struct Tracked {
  void (*original)(DLManagedTensor*);
  std::string origin;
};
std::mutex tracked_mutex;
std::map<DLManagedTensor*, Tracked> tracked;  // alive and tracked
std::vector<std::string> ownership_problems;

void counting_deleter(DLManagedTensor* tensor) {
  void (*original)(DLManagedTensor*) = nullptr;
  {
    std::lock_guard<std::mutex> lock(tracked_mutex);
    auto it = tracked.find(tensor);
    if (it == tracked.end()) {
      ownership_problems.push_back("a tensor's deleter was called twice (or on an untracked tensor)");
      return;
    }
    original = it->second.original;
    tracked.erase(it);
  }
  if (original) original(tensor);
}

std::string still_alive(const std::vector<DLManagedTensor*>& tensors) {
  std::lock_guard<std::mutex> lock(tracked_mutex);
  std::string out;
  for (auto* t : tensors)
    if (auto it = tracked.find(t); it != tracked.end()) out += (out.empty() ? "" : ", ") + it->second.origin;
  return out;
}

}  // namespace

void track(genlab_tensor_map& map, const std::string& origin) {
  std::lock_guard<std::mutex> lock(tracked_mutex);
  for (size_t i = 0; i < map.count; ++i) {
    DLManagedTensor* t = map.tensors[i];
    if (t == nullptr) continue;
    tracked[t] = Tracked{t->deleter, origin + " '" + map.names[i] + "'"};
    t->deleter = counting_deleter;
  }
}

std::vector<DLManagedTensor*> members(const genlab_tensor_map& map) {
  return std::vector<DLManagedTensor*>(map.tensors, map.tensors + map.count);
}

size_t count_alive(const std::vector<DLManagedTensor*>& tensors) {
  std::lock_guard<std::mutex> lock(tracked_mutex);
  size_t alive = 0;
  for (auto* t : tensors) alive += tracked.count(t);
  return alive;
}

std::string ownership_problem() {
  std::lock_guard<std::mutex> lock(tracked_mutex);
  return ownership_problems.empty() ? std::string() : ownership_problems.front();
}

void Reporter::write(const char* tag, const std::string& name, const std::string& detail) {
  std::string line = std::string(tag) + "\t" + name + "\t" + detail;
  for (char& c : line)
    if (c == '\n') c = ' ';
  line += "\n";
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

HostSettings settings(const std::string& name) {
  HostSettings s;
  s.plugin_name = name;
  s.seed = 1234;
  s.num_threads = 1;
  return s;
}

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> v;
  for (int64_t i = begin; i < end; ++i) v.push_back(i);
  return v;
}
std::vector<int64_t> range(int64_t n) { return range(0, n); }

bool same_bytes(const DLTensor& a, const DLTensor& b) {
  if (a.ndim != b.ndim || a.dtype.code != b.dtype.code || a.dtype.bits != b.dtype.bits) return false;
  for (int32_t i = 0; i < a.ndim; ++i)
    if (a.shape[i] != b.shape[i]) return false;
  if (a.device.device_type != kDLCPU || b.device.device_type != kDLCPU) return true;  // not comparable here
  if (!genlab_util_is_cpu_compact(&a, a.dtype) || !genlab_util_is_cpu_compact(&b, b.dtype)) return true;
  const size_t bytes = static_cast<size_t>(genlab_util_numel(&a)) * ((a.dtype.bits * a.dtype.lanes + 7) / 8);
  return std::memcmp(static_cast<const char*>(a.data) + a.byte_offset, static_cast<const char*>(b.data) + b.byte_offset,
                     bytes) == 0;
}

std::vector<std::pair<std::string, toml::table>> wrong_type_configs(const Plugin& plugin) {
  std::vector<std::pair<std::string, toml::table>> out;
  for (const auto& p : plugin.description().params) {
    toml::table t;
    if (p.type == GENLAB_PARAM_STRING) t.insert(p.name, 12345);
    else t.insert(p.name, "not-a-" + std::string(p.type == GENLAB_PARAM_BOOL ? "bool" : "number"));
    out.emplace_back(p.name, std::move(t));
  }
  return out;
}

void release_and_verify(Reporter& r, const std::string& what, TensorMapPtr map) {
  if (!map) return;
  auto tensors = members(*map);
  map.reset();
  const std::string alive = still_alive(tensors);
  r.result(
      "ownership: " + what + " deletes every tensor on destroy", alive.empty(),
      alive.empty() ? std::to_string(tensors.size()) + " tensor(s) deleted exactly once" : "never deleted: " + alive);
}

std::shared_ptr<const Plugin> find_dataset_for(const Plugin& plugin, const CheckOptions& options, Reporter& r) {
  const Discovery found = discover_plugins(plugin_search_path(options.plugin_paths));
  if (!options.dataset.empty()) return load_plugin(find_plugin(found, options.dataset));
  for (const auto& m : found.plugins) {
    if (m.kind != GENLAB_PLUGIN_KIND_DATASET) continue;
    for (const auto& modality : m.modalities) {
      const auto& want = plugin.description().modalities;
      if (want.empty() || std::find(want.begin(), want.end(), modality) != want.end()) {
        r.result("found a dataset to test with", true, "'" + m.name + "' (modality " + modality + ")");
        return load_plugin(m);
      }
    }
  }
  throw HostError("no dataset plugin serves the plugin's modalities; pass --dataset NAME");
}

}  // namespace genlab::conformance
