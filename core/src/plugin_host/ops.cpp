#include "genlab/core/ops.hpp"

#include <algorithm>
#include <thread>
#include <spdlog/spdlog.h>

#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"

namespace genlab {

struct OpDispatcher::Backend {
  std::string family;
  std::unique_ptr<BackendInstance> instance;

  bool serves(int32_t device_type, const std::string& op) const {
    const auto& devices = instance->device_types();
    const auto& ops = instance->op_names();
    return std::find(devices.begin(), devices.end(), device_type) != devices.end() &&
           std::find(ops.begin(), ops.end(), op) != ops.end();
  }
};

namespace {
// "cpu,cuda", or "no device" (a CUDA backend on a machine without a GPU).
std::string device_list(const BackendInstance& backend) {
  std::string devices;
  for (int32_t d : backend.device_types()) devices += (devices.empty() ? "" : ",") + device_type_name(d);
  return devices.empty() ? "no device" : devices;
}
}  // namespace

OpDispatcher::OpDispatcher(std::vector<std::filesystem::path> roots, int32_t num_threads)
    : roots_(std::move(roots)), num_threads_(std::max<int32_t>(1, num_threads)) {}
OpDispatcher::~OpDispatcher() = default;

std::shared_ptr<OpDispatcher> OpDispatcher::default_instance() {
  // Never destroyed: backends' objects may be in use by plugins until the process ends.
  static auto* instance = new std::shared_ptr<OpDispatcher>(
      std::make_shared<OpDispatcher>(plugin_search_path(), static_cast<int32_t>(std::thread::hardware_concurrency())));
  return *instance;
}

void OpDispatcher::discover() {
  if (discovered_) return;
  discovered_ = true;
  for (const auto& manifest : discover_plugins(roots_).plugins) {
    if (manifest.kind != GENLAB_PLUGIN_KIND_BACKEND) continue;
    // A backend that cannot load or start (a CUDA one on a machine without the driver) is
    // skipped with its reason: the others still serve.
    try {
      HostSettings settings;
      settings.plugin_name = manifest.name;
      settings.num_threads = num_threads_;
      auto backend = std::make_unique<Backend>();
      backend->family = manifest.family;
      backend->instance = std::make_unique<BackendInstance>(load_plugin(manifest), settings, toml::table{});
      backends_.push_back(std::move(backend));
    } catch (const HostError& e) {
      problems_.push_back(manifest.name + ": " + e.what());
      spdlog::warn("backend '{}' is not used: {}", manifest.name, e.what());
    }
  }
  // Discovery lists by name; a vendor's backend goes before the CPU reference.
  std::stable_sort(backends_.begin(), backends_.end(), [](const auto& a, const auto& b) {
    return (a->family != "reference") > (b->family != "reference");
  });
}

TensorMapPtr OpDispatcher::run(const std::string& op, const genlab_tensor_map& inputs) {
  if (inputs.count == 0 || inputs.tensors == nullptr)
    throw HostError("run_op '" + op + "': no input tensors, so no device to choose a backend by");
  int32_t device_type = -1;
  for (size_t i = 0; i < inputs.count; ++i) {
    if (inputs.tensors[i] == nullptr)
      throw HostError("run_op '" + op + "': input slot " + std::to_string(i) + " is empty");
    const int32_t type = inputs.tensors[i]->dl_tensor.device.device_type;
    if (device_type >= 0 && type != device_type)
      throw HostError("run_op '" + op + "': inputs are on different devices (" + device_type_name(device_type) +
                      " and " + device_type_name(type) + " for '" + inputs.names[i] + "')");
    device_type = type;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  discover();
  for (const auto& backend : backends_)
    if (backend->serves(device_type, op)) return backend->instance->run_op(op, inputs, nullptr);
  std::string found;
  for (const auto& backend : backends_)
    found +=
        (found.empty() ? "" : "; ") + backend->instance->plugin().name() + " (" + device_list(*backend->instance) + ")";
  for (const auto& problem : problems_) found += (found.empty() ? "" : "; ") + problem;
  throw NoBackendError("run_op '" + op + "': no backend plugin serves it on " + device_type_name(device_type) +
                       " (backends found: " + (found.empty() ? "none" : found) + ")");
}

std::vector<std::string> OpDispatcher::describe() {
  std::lock_guard<std::mutex> lock(mutex_);
  discover();
  std::vector<std::string> lines;
  for (const auto& backend : backends_) {
    std::string ops;
    for (const auto& op : backend->instance->op_names()) ops += (ops.empty() ? "" : ", ") + op;
    lines.push_back(backend->instance->plugin().name() + ": " + device_list(*backend->instance) + " [" + ops + "]");
  }
  for (const auto& problem : problems_) lines.push_back(problem);
  return lines;
}

}  // namespace genlab
