#include "genlab/core/conformance.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------ ownership tracking
//
// Every tensor the host receives gets its deleter swapped for one that counts, so the
// checker can tell that each is deleted exactly once, and only when its owner says.

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

void track(genlab_tensor_map& map, const std::string& origin) {
  std::lock_guard<std::mutex> lock(tracked_mutex);
  for (size_t i = 0; i < map.count; ++i) {
    DLManagedTensor* t = map.tensors[i];
    if (t == nullptr) continue;
    tracked[t] = Tracked{t->deleter, origin + " '" + map.names[i] + "'"};
    t->deleter = counting_deleter;
  }
}

// Pointers of a map's tensors (to check after its destroy that all were deleted).
std::vector<DLManagedTensor*> members(const genlab_tensor_map& map) {
  return std::vector<DLManagedTensor*>(map.tensors, map.tensors + map.count);
}

size_t count_alive(const std::vector<DLManagedTensor*>& tensors) {
  std::lock_guard<std::mutex> lock(tracked_mutex);
  size_t alive = 0;
  for (auto* t : tensors) alive += tracked.count(t);
  return alive;
}

std::string still_alive(const std::vector<DLManagedTensor*>& tensors) {
  std::lock_guard<std::mutex> lock(tracked_mutex);
  std::string out;
  for (auto* t : tensors)
    if (auto it = tracked.find(t); it != tracked.end()) out += (out.empty() ? "" : ", ") + it->second.origin;
  return out;
}

// -------------------------------------------------------------------- the child side

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
  void write(const char* tag, const std::string& name, const std::string& detail) {
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
  return std::memcmp(static_cast<const char*>(a.data) + a.byte_offset,
                     static_cast<const char*>(b.data) + b.byte_offset, bytes) == 0;
}

// A config with each declared parameter given a value of the wrong type, one at a time.
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
    expect_error(r, kind + ": create with a wrongly typed '" + wrong.first + "' is an error", [&] { make(wrong.second); });
  return instance;
}

// Destroys a map the checker received and checks every tensor of it got deleted once.
void release_and_verify(Reporter& r, const std::string& what, TensorMapPtr map) {
  if (!map) return;
  auto tensors = members(*map);
  map.reset();
  const std::string alive = still_alive(tensors);
  r.result("ownership: " + what + " deletes every tensor on destroy", alive.empty(),
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

void check_dataset(Reporter& r, const std::shared_ptr<const Plugin>& plugin) {
  auto data = create_checked<DatasetInstance>(r, "dataset", *plugin, [&](const toml::table& config) {
    return std::make_unique<DatasetInstance>(plugin, settings(plugin->name()), config);
  });
  if (!data) return;
  const auto& info = data->info();
  r.result("dataset: info has a modality, splits and elements", info.element_count > 0,
           std::string("modality ") + info.modality + ", " + std::to_string(info.split_count) + " split(s), " +
               std::to_string(info.element_count) + " element(s)");
  for (size_t s = 0; s < info.split_count; ++s) {
    const std::string split = info.split_names[s];
    const int64_t n = std::min<int64_t>(4, info.split_sizes[s]);
    attempt(r, "dataset: get_batch from '" + split + "' matches the element specs", [&] {
      TensorMapPtr a = data->get_batch(split, range(n), 7);
      track(*a, "get_batch");
      for (size_t e = 0; e < info.element_count; ++e) {
        const auto& spec = info.elements[e];
        if (!split_holds(info, split, spec.name)) continue;  // rays data: a view element in "train"
        long i = find_tensor(*a, spec.name);
        if (i < 0) throw HostError(std::string("the batch lacks element '") + spec.name + "'");
        const DLTensor& t = a->tensors[i]->dl_tensor;
        if (t.ndim != spec.ndim + 1 || t.shape[0] != n)
          throw HostError(std::string("element '") + spec.name + "' has ndim " + std::to_string(t.ndim) +
                          " and batch size " + std::to_string(t.ndim ? t.shape[0] : 0) + ", expected ndim " +
                          std::to_string(spec.ndim + 1) + " and " + std::to_string(n));
        for (int32_t d = 0; d < spec.ndim; ++d)
          if (t.shape[d + 1] != spec.shape[d])
            throw HostError(std::string("element '") + spec.name + "' dim " + std::to_string(d + 1) + " is " +
                            std::to_string(t.shape[d + 1]) + ", its spec says " + std::to_string(spec.shape[d]));
        if (t.dtype.code != spec.dtype.code || t.dtype.bits != spec.dtype.bits)
          throw HostError(std::string("element '") + spec.name + "' has another dtype than its spec");
      }
      TensorMapPtr b = data->get_batch(split, range(n), 7);
      track(*b, "get_batch");
      for (size_t i = 0; i < a->count; ++i)
        if (!same_bytes(a->tensors[i]->dl_tensor, b->tensors[i]->dl_tensor))
          throw HostError(std::string("two get_batch calls with the same indices and seed differ in '") +
                          a->names[i] + "'");
      release_and_verify(r, "get_batch map", std::move(a));
      release_and_verify(r, "get_batch map", std::move(b));
      return std::to_string(n) + " example(s), deterministic";
    });
    expect_error(r, "dataset: get_batch with an index past the end of '" + split + "' is an error",
                 [&] { data->get_batch(split, {info.split_sizes[s]}, 0); });
  }
  expect_error(r, "dataset: get_batch from an unknown split is an error",
               [&] { data->get_batch("no-such-split", {0}, 0); });
}

void check_model(Reporter& r, const std::shared_ptr<const Plugin>& plugin, const CheckOptions& options) {
  std::shared_ptr<const Plugin> data_plugin;
  if (!attempt(r, "model: a dataset to feed it", [&] {
        data_plugin = find_dataset_for(*plugin, options, r);
        return "'" + data_plugin->name() + "'";
      }))
    return;
  DatasetInstance data(data_plugin, settings(data_plugin->name()), toml::table{});
  const DLDevice cpu{kDLCPU, 0};
  auto make_model = [&](const toml::table& config) {
    return std::make_unique<ModelInstance>(plugin, settings(plugin->name()), config, cpu, &data.info());
  };
  auto model = create_checked<ModelInstance>(r, "model", *plugin, make_model);
  if (!model) return;
  attempt(r, "model: create and destroy twice more", [&] {
    for (int i = 0; i < 2; ++i) make_model(toml::table{});
    return std::string();
  });

  const int64_t n = std::min<int64_t>(8, data.split_size("train"));
  TensorMapPtr batch = data.get_batch("train", range(n), 1);
  track(*batch, "batch");
  auto borrowed = members(*batch);
  attempt(r, "model: train_step returns finite losses", [&] {
    std::string detail;
    for (int step = 0; step < 2; ++step) {
      auto losses = model->train_step(*batch, step);
      if (losses.empty()) throw HostError("train_step returned no losses");
      for (const auto& l : losses) {
        if (!std::isfinite(l.value)) throw HostError("loss '" + l.name + "' is " + std::to_string(l.value));
        detail += l.name + "=" + std::to_string(l.value) + " ";
      }
    }
    return detail;
  });
  r.result("ownership: train_step leaves the borrowed batch alone", count_alive(borrowed) == borrowed.size(),
           std::to_string(borrowed.size() - count_alive(borrowed)) + " borrowed tensor(s) deleted by the model");
  genlab_tensor_map empty{GENLAB_TENSOR_MAP_STRUCT_SIZE, 0, nullptr, nullptr, nullptr};
  expect_error(r, "model: train_step on an empty batch is an error", [&] { model->train_step(empty, 0); });

  // A model that maps inputs to outputs (a classifier) gets the batch and answers per row; a
  // radiance field renders the views of a view split (their poses).
  const bool needs_inputs = plugin->has(GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS);
  TensorMapPtr views;
  if (is_rays(data.info()))
    for (size_t s = 0; s < data.info().split_count && !views; ++s)
      if (std::string split = data.info().split_names[s]; split != "train")
        views = data.get_batch(split, range(std::min<int64_t>(2, data.info().split_sizes[s])), 1);
  const genlab_tensor_map* inputs = views ? views.get() : needs_inputs ? batch.get() : nullptr;
  // The host checks the outputs' rows and, but for a model that needs inputs, their shape
  // against the data's (ModelInstance::generate); a breach fails this check.
  attempt(r, inputs ? "model: generate returns one row per input row (it needs inputs)"
                    : "model: generate returns samples of the data's shape, with the batch dimension asked for",
          [&] {
    const int64_t rows = views ? views->tensors[0]->dl_tensor.shape[0] : needs_inputs ? n : 3;
    TensorMapPtr out = model->generate(rows, nullptr, inputs);
    track(*out, "generate");
    if (out->count == 0) throw HostError("generate returned an empty map");
    const DLTensor& first = out->tensors[0]->dl_tensor;
    if (first.ndim < 1 || first.shape[0] != rows)
      throw HostError(std::string("output '") + out->names[0] + "' does not have " + std::to_string(rows) + " rows");
    std::string names;
    for (size_t i = 0; i < out->count; ++i) names += std::string(names.empty() ? "" : ", ") + out->names[i];
    release_and_verify(r, "generate map", std::move(out));
    return names;
  });

  expect_error(r, "model: generate with a negative count is an error", [&] { model->generate(-1, nullptr, nullptr); });

  if (model->can_score()) {
    expect_error(r, "model: score on an empty batch is an error", [&] { model->score(empty); });
    // The host checks every score tensor's rows and dtype (ModelInstance::score).
    attempt(r, "model: score returns one value per example", [&] {
      TensorMapPtr scores = model->score(*batch);
      track(*scores, "score");
      if (scores->count == 0) throw HostError("score returned an empty map");
      const DLTensor& s = scores->tensors[0]->dl_tensor;
      if (s.ndim != 1 || s.shape[0] != n) throw HostError(std::string("score '") + scores->names[0] + "' is not [N]");
      const std::string detail = std::string("'") + scores->names[0] + "' [" + std::to_string(n) + "]";
      release_and_verify(r, "score map", std::move(scores));
      return detail;
    });
  } else {
    r.result("model: declares no score", plugin->model().score == nullptr || !plugin->has(GENLAB_CAPABILITY_SCORE),
             "no likelihood metrics will be asked of it");
  }

  attempt(r, "model: state round trip (export, import into a new model, export again) is bit-identical", [&] {
    TensorMapPtr state = model->export_state();
    track(*state, "export_state");
    auto fresh = make_model(toml::table{});
    fresh->import_state(*state);
    TensorMapPtr again = fresh->export_state();
    track(*again, "export_state");
    if (again->count != state->count) throw HostError("the second export has another number of tensors");
    for (size_t i = 0; i < state->count; ++i) {
      long j = find_tensor(*again, state->names[i]);
      if (j < 0) throw HostError(std::string("'") + state->names[i] + "' is missing after the round trip");
      if (!same_bytes(state->tensors[i]->dl_tensor, again->tensors[j]->dl_tensor))
        throw HostError(std::string("'") + state->names[i] + "' differs after the round trip");
    }
    const size_t count = state->count;
    release_and_verify(r, "export_state map", std::move(state));
    release_and_verify(r, "export_state map", std::move(again));
    return std::to_string(count) + " tensor(s)";
  });
  expect_error(r, "model: import_state of an empty map is an error", [&] { model->import_state(empty); });
  model.reset();
  release_and_verify(r, "get_batch map (after the model used it)", std::move(batch));
}

void check_metric(Reporter& r, const std::shared_ptr<const Plugin>& plugin, const CheckOptions& options) {
  std::shared_ptr<const Plugin> data_plugin;
  if (!attempt(r, "metric: a dataset to feed it", [&] {
        data_plugin = find_dataset_for(*plugin, options, r);
        return "'" + data_plugin->name() + "'";
      }))
    return;
  DatasetInstance data(data_plugin, settings(data_plugin->name()), toml::table{});
  auto metric = create_checked<MetricInstance>(r, "metric", *plugin, [&](const toml::table& config) {
    return std::make_unique<MetricInstance>(plugin, settings(plugin->name()), config);
  });
  if (!metric) return;
  const int64_t n = std::min<int64_t>(64, data.split_size("train"));
  TensorMapPtr a = data.get_batch("train", range(n), 1);
  TensorMapPtr b = data.get_batch("train", range(n / 2, n), 2);
  // Real data stands in for generated outputs: a borrowed view of `b` whose first tensor is
  // named "samples", the name models give their main output.
  std::vector<const char*> names(b->names, b->names + b->count);
  if (!names.empty()) names[0] = "samples";
  const genlab_tensor_map generated{GENLAB_TENSOR_MAP_STRUCT_SIZE, b->count, names.data(), b->tensors, nullptr};
  // A metric that needs a model's scores gets one per example, as a model's score() gives.
  TensorMapPtr scores(genlab_util_tensor_map_new(1));
  const int64_t count = static_cast<int64_t>(a->tensors[0]->dl_tensor.shape[0]);
  DLManagedTensor* nll = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 1, &count);
  for (int64_t i = 0; i < count; ++i) static_cast<float*>(nll->dl_tensor.data)[i] = 1.0f + 0.01f * static_cast<float>(i);
  genlab_util_tensor_map_set(scores.get(), 0, "nll", nll);
  const bool needs_scores = plugin->has(GENLAB_CAPABILITY_NEEDS_SCORES);
  // A metric that reads a feature network's outputs gets stand-ins of their shapes:
  // "features" [N, 16] and "logits" [N, 10], as the host appends them to image data.
  std::vector<TensorMapPtr> stand_ins;
  std::vector<std::vector<const char*>> view_names;
  std::vector<std::vector<DLManagedTensor*>> view_tensors;
  auto with_features = [&](const genlab_tensor_map& map, uint32_t seed) {
    if (!plugin->has(GENLAB_CAPABILITY_READS_FEATURES)) return map;
    const int64_t rows = map.tensors[0]->dl_tensor.shape[0];
    TensorMapPtr extra(genlab_util_tensor_map_new(2));
    uint32_t state = seed;
    auto uniform = [&] { return static_cast<float>((state = state * 1664525u + 1013904223u) >> 8) / 16777216.0f; };
    for (auto [index, name, width] : {std::tuple{0, "features", int64_t{16}}, std::tuple{1, "logits", int64_t{10}}}) {
      const int64_t shape[] = {rows, width};
      DLManagedTensor* t = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 2, shape);
      for (int64_t i = 0; i < rows * width; ++i) static_cast<float*>(t->dl_tensor.data)[i] = uniform();
      genlab_util_tensor_map_set(extra.get(), static_cast<size_t>(index), name, t);
    }
    view_names.emplace_back(map.names, map.names + map.count);
    view_tensors.emplace_back(map.tensors, map.tensors + map.count);
    for (size_t i = 0; i < extra->count; ++i) {
      view_names.back().push_back(extra->names[i]);
      view_tensors.back().push_back(extra->tensors[i]);
    }
    stand_ins.push_back(std::move(extra));
    return genlab_tensor_map{GENLAB_TENSOR_MAP_STRUCT_SIZE, view_names.back().size(), view_names.back().data(),
                             view_tensors.back().data(), nullptr};
  };
  view_names.reserve(2);
  view_tensors.reserve(2);
  const genlab_tensor_map real_in = with_features(*a, 7), generated_in = with_features(generated, 8);
  // The host checks the values' names (non-empty, unique) and that none is infinite
  // (MetricInstance::compute); a NaN is allowed and named here.
  attempt(r, "metric: update and compute give named finite scalars (or NaN) with directions", [&] {
    metric->update(&real_in, &generated_in, needs_scores ? scores.get() : nullptr);
    const auto values = metric->compute();
    std::string detail;
    for (const auto& s : values) detail += s.name + "=" + std::to_string(s.value) + " ";
    if (detail.empty()) throw HostError("compute returned no scalars");
    std::string nans;
    for (const auto& name : MetricInstance::nan_names(values)) nans += (nans.empty() ? "" : ", ") + name;
    if (!nans.empty()) detail += "(NaN: " + nans + ")";
    return detail;
  });
  expect_error(r, "metric: update with no data at all is an error",
               [&] { metric->update(nullptr, nullptr, nullptr); });
  attempt(r, "metric: reset then compute does not crash", [&] {
    metric->reset();
    try {
      metric->compute();
      return std::string("computed on no data");
    } catch (const ContractError&) {
      throw;  // an answer the ABI does not allow (an infinity) is not an error returned
    } catch (const HostError& e) {
      return std::string("returned an error: ") + e.what();
    }
  });
}

void check_backend(Reporter& r, const std::shared_ptr<const Plugin>& plugin) {
  std::unique_ptr<BackendInstance> backend;
  if (!attempt(r, "backend: create and info", [&] {
        backend = std::make_unique<BackendInstance>(plugin, settings(plugin->name()), toml::table{});
        std::string ops;
        for (const auto& op : backend->op_names()) ops += (ops.empty() ? "" : ", ") + op;
        return "ops: " + ops;
      }))
    return;
  genlab_tensor_map empty{GENLAB_TENSOR_MAP_STRUCT_SIZE, 0, nullptr, nullptr, nullptr};
  expect_error(r, "backend: run_op of an unknown op is an error", [&] { backend->run_op("no-such-op", empty, nullptr); });
  for (const auto& op : backend->op_names())
    expect_error(r, "backend: run_op '" + op + "' without inputs is an error", [&] { backend->run_op(op, empty, nullptr); });
}

void run_checks(Reporter& r, const fs::path& path, const CheckOptions& options) {
  std::optional<PluginManifest> manifest;
  fs::path library = path;
  std::error_code status;  // a path the file system refuses is reported by the load below
  if (fs::is_directory(path, status)) {
    if (!attempt(r, "plugin.toml is valid", [&] {
          manifest = read_plugin_manifest(path);
          library = manifest->library;
          return manifest->manifest_path.string();
        }))
      return;
  }
  std::shared_ptr<const Plugin> plugin;
  // Loaded without its plugin.toml, whose every field is then checked on its own below (the
  // loader's comparison, compare_with_manifest), so that one disagreement does not hide another.
  if (!attempt(r, "loads: entry symbol, ABI version, struct sizes, required functions",
               [&] {
                 plugin = load_plugin_library_unchecked(library);
                 return "ABI " + std::to_string(plugin->api().abi_major) + "." +
                        std::to_string(plugin->api().abi_minor) + ", " + kind_name(plugin->kind()) + " '" +
                        plugin->name() + "' " + plugin->description().version;
               }))
    return;
  if (manifest) {
    for (const auto& f : compare_with_manifest(*plugin, *manifest))
      r.result("plugin.toml agrees with the library: " + f.field, f.agrees,
               f.agrees ? "'" + f.in_toml + "'" : f.message(manifest->manifest_path, plugin->library()));
  }
  attempt(r, "describe is stable and runs nothing", [&] {
    genlab_describe_args args{};
    args.struct_size = GENLAB_DESCRIBE_ARGS_STRUCT_SIZE;
    plugin->check(plugin->api().describe(&args), "describe");
    if (args.description == nullptr || args.description->name == nullptr ||
        plugin->name() != args.description->name)
      throw HostError("a second describe gave another answer");
    return std::string();
  });
  switch (plugin->kind()) {
    case GENLAB_PLUGIN_KIND_MODEL: check_model(r, plugin, options); break;
    case GENLAB_PLUGIN_KIND_DATASET: check_dataset(r, plugin); break;
    case GENLAB_PLUGIN_KIND_METRIC: check_metric(r, plugin, options); break;
    case GENLAB_PLUGIN_KIND_BACKEND: check_backend(r, plugin); break;
  }
  std::lock_guard<std::mutex> lock(tracked_mutex);
  r.result("ownership: no deleter called twice", ownership_problems.empty(),
           ownership_problems.empty() ? "" : ownership_problems.front());
}

}  // namespace

std::vector<CheckItem> check_plugin(const fs::path& path, const CheckOptions& options) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw HostError("cannot create a pipe for the checker");
  const pid_t child = fork();
  if (child < 0) throw HostError("cannot fork the checker");
  if (child == 0) {  // the child loads the plugin; whatever it does cannot hurt the parent
    close(pipe_fds[0]);
    Reporter reporter(pipe_fds[1]);
    try {
      run_checks(reporter, path, options);
    } catch (const std::exception& e) {
      reporter.result("checker", false, e.what());
    }
    close(pipe_fds[1]);
    _exit(reporter.failed() ? 1 : 0);
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);

  std::vector<CheckItem> items;
  std::string last_step;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t a = line.find('\t');
    const size_t b = line.find('\t', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string tag = line.substr(0, a), name = line.substr(a + 1, b - a - 1), detail = line.substr(b + 1);
    if (tag == "STEP") {
      last_step = name;
    } else {
      items.push_back(CheckItem{name, tag == "PASS", detail});
      last_step.clear();
    }
  }
  if (WIFSIGNALED(status)) {
    items.push_back(CheckItem{last_step.empty() ? "checker" : last_step, false,
                              std::string("the plugin crashed the process with signal ") +
                                  strsignal(WTERMSIG(status))});
  }
  return items;
}

}  // namespace genlab
