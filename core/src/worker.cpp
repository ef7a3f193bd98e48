#include "genlab/core/worker.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>
#include <spdlog/spdlog.h>

#include "genlab/core/discovery.hpp"
#include "genlab/core/error.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/ops.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/safetensors.hpp"
#include "genlab/core/util/files.hpp"
#include "genlab/core/util/json.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Set by SIGINT/SIGTERM; plugins see it through genlab_host_api::is_cancelled.
std::shared_ptr<std::atomic<bool>> cancel_flag = std::make_shared<std::atomic<bool>>(false);
extern "C" void on_stop_signal(int) { cancel_flag->store(true); }

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

HostSettings settings_for(const Component& c, const RunPlan& r) {
  HostSettings s;
  s.plugin_name = c.plugin_name;
  s.seed = static_cast<uint64_t>(r.seed);
  s.num_threads = r.settings.threads;
  s.cancel = cancel_flag;
  // The backends serving this run's ops (run_op) share its thread budget; they are found
  // where the model's own plugin folder is (a manifest's plugin_paths), on GENLAB_PLUGIN_PATH
  // and among the built-ins. A worker runs one run, so one dispatcher per process.
  static const auto ops = std::make_shared<OpDispatcher>(
      plugin_search_path({r.model.plugin->library().parent_path().parent_path()}), r.settings.threads);
  s.ops = ops;
  return s;
}

DLDevice parse_device(const std::string& device) {
  if (device == "cpu") return DLDevice{kDLCPU, 0};
  const int32_t index = device.size() > 5 ? std::stoi(device.substr(5)) : 0;
  return DLDevice{kDLCUDA, index};
}

std::vector<int64_t> first_indices(int64_t count) {
  std::vector<int64_t> v(static_cast<size_t>(count));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Progress for the scheduler, one line at a time on stdout.
void report_progress(int64_t step, int64_t total, const std::vector<NamedScalar>& losses) {
  if (losses.empty()) std::printf("progress %lld %lld - nan\n", (long long)step, (long long)total);
  else std::printf("progress %lld %lld %s %.6g\n", (long long)step, (long long)total, losses[0].name.c_str(), losses[0].value);
  std::fflush(stdout);
}

// A map of borrowed tensors to hand to the host's own writers (checkpoints).
struct BorrowedMap {
  std::vector<const char*> names;
  std::vector<DLManagedTensor*> tensors;
  genlab_tensor_map view() { return {GENLAB_TENSOR_MAP_STRUCT_SIZE, names.size(), names.data(), tensors.data(), nullptr}; }
  void add(const char* name, DLManagedTensor* t) {
    names.push_back(name);
    tensors.push_back(t);
  }
};

// Fetches the next batch on a background thread while the model trains on this one.
// The dataset is called from that one thread only (the ABI allows one caller at a time).
class Prefetcher {
 public:
  explicit Prefetcher(DatasetInstance& data) : data_(data), thread_([this] { loop(); }) {}
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void request(std::vector<int64_t> indices, uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_ = Request{std::move(indices), seed};
    wake_.notify_all();
  }
  TensorMapPtr take() {  // rethrows what get_batch threw
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return ready_ || error_; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    ready_ = false;
    return std::move(batch_);
  }

 private:
  struct Request {
    std::vector<int64_t> indices;
    uint64_t seed;
  };
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || pending_.has_value(); });
      if (stop_) return;
      Request request = std::move(*pending_);
      pending_.reset();
      lock.unlock();
      TensorMapPtr batch;
      std::exception_ptr error;
      try {
        batch = data_.get_batch("train", request.indices, request.seed);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      batch_ = std::move(batch);
      error_ = error;
      ready_ = !error;
      wake_.notify_all();
    }
  }
  DatasetInstance& data_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<Request> pending_;
  TensorMapPtr batch_;
  std::exception_ptr error_;
  bool ready_ = false, stop_ = false;
  std::thread thread_;
};

// The host's part of the training state, saved in every checkpoint beside the model's, so
// a resumed run draws the same batches as an uninterrupted one.
struct LoopState {
  int64_t step = 0;
  std::mt19937_64 rng;
  std::vector<int64_t> order;  // the current epoch's permutation of the train split
  size_t cursor = 0;           // next position in `order`
  double elapsed = 0;          // training seconds before this process
};

constexpr const char* kOrderTensor = "genlab.host.order";

void save_checkpoint(ModelInstance& model, const RunPlan& r, const LoopState& s, const fs::path& file) {
  TensorMapPtr state = model.export_state();
  BorrowedMap all;
  for (size_t i = 0; i < state->count; ++i) all.add(state->names[i], state->tensors[i]);
  const int64_t n = static_cast<int64_t>(s.order.size());
  DLManagedTensor* order = genlab_util_cpu_tensor_new(genlab_util_dtype_int64(), 1, &n);
  if (order == nullptr) throw HostError("out of memory for a checkpoint");
  std::copy(s.order.begin(), s.order.end(), static_cast<int64_t*>(order->dl_tensor.data));
  all.add(kOrderTensor, order);
  std::ostringstream rng;
  rng << s.rng;
  const Metadata metadata = {{"format", "genlab.checkpoint.1"},
                             {"run_id", r.id},
                             {"plugin", r.model.plugin_name},
                             {"plugin_version", r.model.plugin->description().version},
                             {"config", [&] {
                                std::ostringstream text;
                                text << r.model.params;
                                return text.str();
                              }()},
                             {"step", std::to_string(s.step)},
                             {"cursor", std::to_string(s.cursor)},
                             {"host_rng", rng.str()},
                             {"elapsed_seconds", std::to_string(s.elapsed)}};
  genlab_tensor_map view = all.view();
  try {
    write_safetensors(file, view, metadata);
  } catch (...) {
    order->deleter(order);
    throw;
  }
  order->deleter(order);
}

// Loads a checkpoint into the model; returns the host's loop state from it.
LoopState load_checkpoint(ModelInstance& model, const RunPlan& r, const fs::path& file) {
  SafetensorsContents contents = read_safetensors(file);
  auto meta = [&](const char* key) {
    auto it = contents.metadata.find(key);
    if (it == contents.metadata.end()) throw HostError(file.string() + ": checkpoint lacks metadata '" + key + "'");
    return it->second;
  };
  if (meta("run_id") != r.id)
    throw HostError(file.string() + ": checkpoint of run " + meta("run_id") + ", not of this run " + r.id);
  LoopState s;
  s.step = std::stoll(meta("step"));
  s.cursor = std::stoull(meta("cursor"));
  s.elapsed = std::stod(meta("elapsed_seconds"));
  std::istringstream(meta("host_rng")) >> s.rng;
  // The model gets its own tensors; the host keeps the order.
  BorrowedMap model_part;
  for (size_t i = 0; i < contents.tensors->count; ++i) {
    if (std::string(contents.tensors->names[i]) == kOrderTensor) {
      const DLTensor& t = contents.tensors->tensors[i]->dl_tensor;
      const auto* values = static_cast<const int64_t*>(t.data);
      s.order.assign(values, values + genlab_util_numel(&t));
    } else {
      model_part.add(contents.tensors->names[i], contents.tensors->tensors[i]);
    }
  }
  genlab_tensor_map view = model_part.view();
  model.import_state(view);
  return s;
}

// One line of losses.jsonl: {"step":12,"loss":0.5,...}; a non-finite loss is a string.
std::string loss_line(int64_t step, const std::vector<NamedScalar>& losses) {
  std::string line = "{\"step\":" + std::to_string(step);
  char number[32];
  for (const auto& l : losses) {
    if (std::isfinite(l.value)) std::snprintf(number, sizeof number, "%.9g", l.value);
    else std::snprintf(number, sizeof number, "\"%s\"", std::isnan(l.value) ? "NaN" : l.value > 0 ? "inf" : "-inf");
    line += "," + json_quote(l.name) + ":" + number;
  }
  return line + "}\n";
}

// Keeps the loss lines of the steps before `step` (those the checkpoint covers).
void truncate_losses(const fs::path& file, int64_t step) {
  std::ifstream in(file);
  std::string kept, line;
  const std::string prefix = "{\"step\":";
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0 && std::stoll(line.substr(prefix.size())) < step) kept += line + "\n";
  write_file_atomic(file, kept, Durability::AtomicOnly);
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int64_t peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

int train(const fs::path& dir, bool resume) {
  const RunPlan r = run_from_resolved(toml::parse_file((dir / "run.toml").string()), dir / "run.toml");
  const RunSettings& rs = r.settings;
  DatasetInstance data(r.dataset.plugin, settings_for(r.dataset, r), r.dataset.params);
  ModelInstance model(r.model.plugin, settings_for(r.model, r), r.model.params, parse_device(rs.device), &data.info());
  const int64_t train_size = data.split_size("train");
  if (train_size <= 0) throw HostError("dataset '" + r.dataset.name + "' has an empty train split");
  const int64_t batch_size = std::min(rs.batch_size, train_size);

  // The step budget: the smaller of steps and epochs where both are set; seconds apply live.
  int64_t total = 0;
  if (rs.budget.steps > 0) total = rs.budget.steps;
  if (rs.budget.epochs > 0) {
    const auto by_epochs = static_cast<int64_t>(std::ceil(rs.budget.epochs * train_size / batch_size));
    total = total > 0 ? std::min(total, by_epochs) : by_epochs;
  }

  LoopState s;
  const fs::path checkpoint = checkpoint_file(dir);
  const fs::path losses_path = dir / "losses.jsonl";
  if (resume && fs::exists(checkpoint)) {
    s = load_checkpoint(model, r, checkpoint);
    truncate_losses(losses_path, s.step);
    spdlog::info("resumed {} from its checkpoint at step {}", r.name, s.step);
  } else {
    s.rng.seed(static_cast<uint64_t>(r.seed));
    s.order = first_indices(train_size);
    s.cursor = s.order.size();  // shuffles at the first step
    write_file_atomic(losses_path, "", Durability::AtomicOnly);
  }
  std::ofstream losses_log(losses_path, std::ios::app);

  auto next_indices = [&] {
    std::vector<int64_t> indices;
    indices.reserve(static_cast<size_t>(batch_size));
    while (static_cast<int64_t>(indices.size()) < batch_size) {
      if (s.cursor >= s.order.size()) {
        std::shuffle(s.order.begin(), s.order.end(), s.rng);
        s.cursor = 0;
      }
      indices.push_back(s.order[s.cursor++]);
    }
    return indices;
  };
  auto batch_seed = [&](int64_t step) { return static_cast<uint64_t>(r.seed) * 1000003ULL + static_cast<uint64_t>(step); };

  const auto started = Clock::now();
  auto elapsed = [&] { return s.elapsed + std::chrono::duration<double>(Clock::now() - started).count(); };
  auto budget_left = [&] {
    if (total > 0 && s.step >= total) return false;
    if (rs.budget.seconds > 0 && elapsed() >= rs.budget.seconds) return false;
    return true;
  };
  auto checkpoint_now = [&] {
    losses_log.flush();
    LoopState saved = s;
    saved.elapsed = elapsed();
    save_checkpoint(model, r, saved, checkpoint);
  };

  // With prefetching, the indices of step k+1 are drawn while step k trains. A checkpoint
  // after step k must hold the drawing state from before that draw, so that a resumed run
  // draws the same batch again: `before_draw` is that state.
  std::vector<NamedScalar> losses;
  auto last_report = Clock::now() - std::chrono::seconds(1);
  LoopState before_draw = s;
  {
    Prefetcher prefetch(data);
    if (budget_left()) prefetch.request(next_indices(), batch_seed(s.step));
    while (budget_left()) {
      if (cancel_flag->load()) {
        before_draw.step = s.step;
        std::swap(s, before_draw);
        checkpoint_now();
        spdlog::warn("cancelled at step {}; checkpoint saved, resume with --resume", s.step);
        return kWorkerCancelled;
      }
      TensorMapPtr batch = prefetch.take();
      const int64_t step = s.step;
      before_draw = s;
      if (total == 0 || step + 1 < total) prefetch.request(next_indices(), batch_seed(step + 1));
      losses = model.train_step(*batch, step);
      if (losses.empty()) throw HostError("train_step of plugin '" + r.model.plugin_name + "' returned no losses");
      if (!std::isfinite(losses.front().value))
        throw HostError("loss '" + losses.front().name + "' is " + std::to_string(losses.front().value) + " at step " +
                        std::to_string(step) + ": stopped early (lower the learning rate or check the data)");
      s.step = step + 1;
      losses_log << loss_line(step, losses);
      if (Clock::now() - last_report > std::chrono::milliseconds(200)) {
        report_progress(s.step, total, losses);
        last_report = Clock::now();
      }
      if (rs.checkpoint_every > 0 && s.step % rs.checkpoint_every == 0 && budget_left()) {
        const LoopState live = s;
        s = before_draw;
        s.step = live.step;
        checkpoint_now();
        s = live;
      }
    }
  }
  before_draw.step = s.step;
  s = before_draw;
  checkpoint_now();
  report_progress(s.step, total, losses);

  toml::table final_losses;
  for (const auto& l : losses) final_losses.insert(l.name, l.value);
  write_toml(done_file(dir, NodeKind::Train), toml::table{{"steps", s.step},
                                                          {"seconds", elapsed()},
                                                          {"cpu_seconds", cpu_seconds()},
                                                          {"peak_rss_mb", peak_rss_mb()},
                                                          {"final_losses", std::move(final_losses)}});
  return 0;
}

// Metrics as written to done files and results.json: "<metric>.<scalar>" -> value; a NaN
// is written as the string "NaN", never as a number.
void put_metric(toml::table& out, const std::string& key, double value) {
  if (std::isfinite(value)) out.insert(key, value);
  else out.insert(key, std::isnan(value) ? std::string("NaN") : std::string(value > 0 ? "inf" : "-inf"));
}

// Trainable parameters in a checkpoint, counted from its optimiser moments: every tensor
// "P.m.NAME" that has a "P.v.NAME" beside it (the SDK's Adam names them so). 0: none.
int64_t trainable_parameters(const fs::path& checkpoint) {
  const SafetensorsContents contents = read_safetensors(checkpoint);
  const genlab_tensor_map& map = *contents.tensors;
  int64_t count = 0;
  for (size_t i = 0; i < map.count; ++i) {
    const std::string name = map.names[i];
    const size_t m = name.find(".m.");
    if (m == std::string::npos || find_tensor(map, name.substr(0, m) + ".v." + name.substr(m + 3)) < 0) continue;
    count += genlab_util_numel(&map.tensors[i]->dl_tensor);
  }
  return count;
}

// The n rows of a float32 or int64 CPU tensor as int64 class indices, or throws naming it.
std::vector<int64_t> class_indices(const genlab_tensor_map& map, const std::string& name, const std::string& whose) {
  const long at = find_tensor(map, name);
  if (at < 0) throw HostError(whose + " has no tensor '" + name + "'");
  const DLTensor& t = map.tensors[at]->dl_tensor;
  if (!genlab_util_is_cpu_compact(&t, genlab_util_dtype_int64()) || t.ndim != 1)
    throw HostError(whose + ": expected '" + name + "' to be int64 [N] on the CPU");
  const auto* data = static_cast<const int64_t*>(t.data);
  return std::vector<int64_t>(data, data + t.shape[0]);
}

// A feature network loaded from its run folder, beside the data of the run it serves.
struct FeatureNet {
  RunPlan plan;
  std::unique_ptr<ModelInstance> model;

  FeatureNet(const fs::path& dir, const DatasetInstance& data) {
    plan = run_from_resolved(toml::parse_file((dir / "run.toml").string()), dir / "run.toml");
    model = std::make_unique<ModelInstance>(plan.model.plugin, settings_for(plan.model, plan), plan.model.params,
                                            parse_device(plan.settings.device), &data.info());
    load_checkpoint(*model, plan, checkpoint_file(dir));
  }
  // "features", "logits", "label" of images [N, C, H, W], given as the dataset's first element.
  TensorMapPtr classify(DLManagedTensor* images, const std::string& input_name) {
    BorrowedMap inputs;
    inputs.add(input_name.c_str(), images);
    const genlab_tensor_map view = inputs.view();
    return model->generate(images->dl_tensor.shape[0], nullptr, &view);
  }
};

// Test accuracy of a feature network: its argmax against the eval split's labels.
int evaluate_feature_net(const RunPlan& r, const fs::path& dir) {
  const fs::path run_dir = dir.parent_path();
  DatasetInstance data(r.dataset.plugin, settings_for(r.dataset, r), r.dataset.params);
  FeatureNet net(run_dir, data);
  const int64_t n = std::min(r.settings.eval_samples, data.split_size(r.settings.eval_split));
  TensorMapPtr real = data.get_batch(r.settings.eval_split, first_indices(n), static_cast<uint64_t>(r.seed));
  TensorMapPtr out = net.classify(real->tensors[0], real->names[0]);
  const auto truth = class_indices(*real, "label", "dataset '" + r.dataset.name + "'");
  const auto predicted = class_indices(*out, "label", "feature network '" + r.model.plugin_name + "'");
  if (truth.size() != predicted.size()) throw HostError("feature network returned " + std::to_string(predicted.size()) +
                                                        " labels for " + std::to_string(truth.size()) + " images");
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) correct += truth[i] == predicted[i];
  toml::table metrics{{"classifier.accuracy", static_cast<double>(correct) / static_cast<double>(truth.size())},
                      {"cost.parameters", trainable_parameters(checkpoint_file(run_dir))}};
  toml::table directions{{"classifier.accuracy", "higher"}, {"cost.parameters", "lower"}};
  toml::table result{{"run", r.name}, {"run_id", r.id}, {"eval_id", r.eval_id}, {"samples", n},
                     {"split", r.settings.eval_split}, {"metrics", metrics}, {"directions", directions}};
  write_file_atomic(dir / "results.json", to_json(result) + "\n", Durability::AtomicOnly);
  write_toml(done_file(dir, NodeKind::Evaluate), result);
  return 0;
}

int evaluate(const fs::path& dir) {
  const fs::path run_dir = dir.parent_path();
  const RunPlan r = run_from_resolved(toml::parse_file((run_dir / "run.toml").string()), run_dir / "run.toml");
  if (r.is_feature_net) return evaluate_feature_net(r, dir);
  const RunSettings& rs = r.settings;
  DatasetInstance data(r.dataset.plugin, settings_for(r.dataset, r), r.dataset.params);
  ModelInstance model(r.model.plugin, settings_for(r.model, r), r.model.params, parse_device(rs.device), &data.info());
  load_checkpoint(model, r, checkpoint_file(run_dir));

  const int64_t n = std::min(rs.eval_samples, data.split_size(rs.eval_split));
  TensorMapPtr real = data.get_batch(rs.eval_split, first_indices(n), static_cast<uint64_t>(r.seed));
  // A radiance field renders the eval split's views: their poses are generate's inputs.
  const bool render_views = is_rays(data.info());
  TensorMapPtr first_view = render_views ? data.get_batch(rs.eval_split, {0}, static_cast<uint64_t>(r.seed)) : nullptr;
  // Sampling latency: one sample, after a warm-up call, so it is the steady-state cost.
  model.generate(1, &rs.eval_generate, first_view.get());
  auto start = Clock::now();
  model.generate(1, &rs.eval_generate, first_view.get());
  const double latency = std::chrono::duration<double>(Clock::now() - start).count();
  start = Clock::now();
  TensorMapPtr generated = model.generate(n, &rs.eval_generate, render_views ? real.get() : nullptr);
  const double sampling_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (generated->count == 0 || generated->tensors[0]->dl_tensor.ndim < 1 || generated->tensors[0]->dl_tensor.shape[0] != n)
    throw HostError("generate of plugin '" + r.model.plugin_name + "' returned " +
                    (generated->count == 0 ? std::string("no outputs")
                                           : "'" + std::string(generated->names[0]) + "' without " + std::to_string(n) +
                                                 " rows") +
                    "; asked for " + std::to_string(n) + " samples");
  TensorMapPtr scores;
  if (model.can_score()) scores = model.score(*real);

  // The metrics see the real and generated maps, plus the feature network's outputs on both.
  BorrowedMap real_view, generated_view;
  for (size_t i = 0; i < real->count; ++i) real_view.add(real->names[i], real->tensors[i]);
  for (size_t i = 0; i < generated->count; ++i) generated_view.add(generated->names[i], generated->tensors[i]);
  TensorMapPtr real_features, generated_features;
  if (!r.features_id.empty()) {
    FeatureNet net(r.features_dir, data);
    real_features = net.classify(real->tensors[0], real->names[0]);
    generated_features = net.classify(generated->tensors[0], real->names[0]);
    for (const char* name : {"features", "logits"}) {
      for (auto [map, view] : {std::pair{real_features.get(), &real_view}, std::pair{generated_features.get(), &generated_view}}) {
        const long at = find_tensor(*map, name);
        if (at < 0) throw HostError("feature network '" + net.plan.model.plugin_name + "' returned no '" + name + "'");
        view->add(name, map->tensors[at]);
      }
    }
  }
  const genlab_tensor_map real_map = real_view.view(), generated_map = generated_view.view();

  toml::table metrics;
  toml::table directions;
  auto put = [&](const std::string& key, double value, genlab_direction direction) {
    put_metric(metrics, key, value);
    directions.insert_or_assign(key, direction == GENLAB_DIRECTION_LOWER    ? "lower"
                                     : direction == GENLAB_DIRECTION_HIGHER ? "higher"
                                                                            : "none");
  };
  for (const auto& m : r.metrics) {
    MetricInstance metric(m.plugin, settings_for(m, r), m.params);
    metric.update(&real_map, &generated_map, scores.get());
    for (const auto& value : metric.compute()) put(m.name + "." + value.name, value.value, value.direction);
  }
  // Cost: what the host measured. Training figures come from the train step's done file.
  if (const auto trained = read_toml(done_file(run_dir, NodeKind::Train))) {
    put("cost.train_seconds", (*trained)["seconds"].value_or(NAN), GENLAB_DIRECTION_LOWER);
    put("cost.train_cpu_seconds", (*trained)["cpu_seconds"].value_or(NAN), GENLAB_DIRECTION_LOWER);
    put("cost.train_peak_rss_mb", (*trained)["peak_rss_mb"].value_or(NAN), GENLAB_DIRECTION_LOWER);
  }
  if (const int64_t parameters = trainable_parameters(checkpoint_file(run_dir)); parameters > 0)
    put("cost.parameters", static_cast<double>(parameters), GENLAB_DIRECTION_LOWER);
  put("cost.sampling_seconds", sampling_seconds, GENLAB_DIRECTION_LOWER);
  put("cost.samples_per_second", sampling_seconds > 0 ? n / sampling_seconds : NAN, GENLAB_DIRECTION_HIGHER);
  put("cost.sample_latency_ms", 1000 * latency, GENLAB_DIRECTION_LOWER);

  try {
    write_safetensors(dir / "samples.safetensors", *generated, {{"run_id", r.id}, {"count", std::to_string(n)}});
  } catch (const HostError& e) {
    spdlog::warn("samples not saved: {}", e.what());
  }
  toml::table result{{"run", r.name}, {"run_id", r.id}, {"eval_id", r.eval_id}, {"samples", n},
                     {"metrics", metrics}, {"directions", directions}};
  write_file_atomic(dir / "results.json", to_json(result) + "\n", Durability::AtomicOnly);
  write_toml(done_file(dir, NodeKind::Evaluate), result);
  return 0;
}

int prepare(const fs::path& dir) {
  const auto node = toml::parse_file((dir / "node.toml").string());
  const toml::table* dataset = node["dataset"].as_table();
  if (dataset == nullptr) throw HostError((dir / "node.toml").string() + ": no [dataset]");
  auto plugin = load_plugin_library((*dataset)["library"].value_or(std::string()));
  const toml::table* params = (*dataset)["params"].as_table();
  HostSettings s;
  s.plugin_name = plugin->name();
  s.cancel = cancel_flag;
  DatasetInstance data(plugin, s, params ? *params : toml::table{});
  toml::table splits;
  for (size_t i = 0; i < data.info().split_count; ++i) splits.insert(data.info().split_names[i], data.info().split_sizes[i]);
  write_toml(done_file(dir, NodeKind::Prepare), toml::table{{"modality", data.info().modality}, {"splits", std::move(splits)}});
  return 0;
}

}  // namespace

int run_worker(NodeKind kind, const fs::path& dir, bool resume) {
  install_signal_handlers();
  try {
    switch (kind) {
      case NodeKind::Prepare: return prepare(dir);
      case NodeKind::Train: return train(dir, resume);
      case NodeKind::Evaluate: return evaluate(dir);
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    // Also on stdout, the scheduler's pipe: the log may be on a disk that is full.
    std::string line = e.what();
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::printf("error %s\n", line.c_str());
    std::fflush(stdout);
    return 1;
  }
  return 1;
}

}  // namespace genlab
