// The evaluate node. An evaluation draws its samples (and the model's scores of real data)
// once per samples identity, and computes each metric once per metric identity
// (experiment.hpp): when an earlier evaluation of the same run drew the same samples, this
// one reads them from its folder and copies the values of the metrics whose identity it
// shares, so adding a metric computes that metric alone. results.json says which values
// were computed and which reused, and from where.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <spdlog/spdlog.h>

#include "genlab/util/error.hpp"
#include "genlab/core/experiment.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/json.hpp"
#include "genlab/core/reuse.hpp"
#include "genlab/core/safetensors.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/genlab_util.h"
#include "checkpoint.hpp"
#include "progress.hpp"
#include "worker_parts.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Metrics as written to done files and results.json: "<metric>.<scalar>" -> value; a NaN
// is written as the string "NaN", never as a number.
void put_metric(toml::table& out, const std::string& key, double value) {
  if (std::isfinite(value)) out.insert(key, value);
  else out.insert(key, std::isnan(value) ? std::string("NaN") : std::string(value > 0 ? "inf" : "-inf"));
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
    load_weights(*model, plan, checkpoint_file(dir));
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
  if (truth.size() != predicted.size())
    throw HostError("feature network returned " + std::to_string(predicted.size()) + " labels for " +
                    std::to_string(truth.size()) + " images");
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) correct += truth[i] == predicted[i];
  toml::table metrics{{"classifier.accuracy", static_cast<double>(correct) / static_cast<double>(truth.size())}};
  toml::table directions{{"classifier.accuracy", "higher"}};
  if (const int64_t parameters = checkpoint_trainable_parameters(checkpoint_file(run_dir)); parameters >= 0) {
    metrics.insert("cost.parameters", parameters);
    directions.insert("cost.parameters", "lower");
  }
  toml::table result{{"run", r.name},
                     {"run_id", r.id},
                     {"eval_id", r.eval_id},
                     {"samples", n},
                     {"split", r.settings.eval_split},
                     {"metrics", metrics},
                     {"directions", directions}};
  write_file_atomic(dir / "results.json", to_json(result) + "\n", Durability::AtomicOnly);
  write_toml(done_file(dir, NodeKind::Evaluate), result);
  return 0;
}

// The resolved run an evaluation folder evaluates: its own run.toml (written by the
// scheduler for this eval id), else the run folder's (a folder from before 0.x).
RunPlan evaluated_run(const fs::path& dir) {
  fs::path file = dir / "run.toml";
  if (!fs::exists(file)) file = dir.parent_path() / "run.toml";
  try {
    return run_from_resolved(toml::parse_file(file.string()), file);
  } catch (const toml::parse_error& e) {
    throw HostError(file.string() + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()) +
                    " (written by genlab run from the manifest: run it again to write it anew)");
  }
}

// A donor's file in this evaluation's folder: a hard link, or a copy across file systems.
void take_file(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove(to, ec);
  fs::create_hard_link(from, to, ec);
  if (!ec) return;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) throw HostError("cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
}

// The values of an evaluation: metric -> value, and each one's direction.
struct Values {
  toml::table metrics, directions;
  // What a value means beyond its name (experiment.hpp's Convention): values whose
  // conventions differ are never ranked together. Host-measured costs have none.
  toml::table conventions;
  // The keys in the order the metrics gave their values (a metric lists its main value
  // first; the tables above are sorted by name): the report's headline reads it.
  toml::array order;

  void put(const std::string& key, double value, genlab_direction direction) {
    if (!metrics.contains(key)) order.push_back(key);
    put_metric(metrics, key, value);
    directions.insert_or_assign(key, direction_name(direction));
  }
  // Copies from `result` (a done file) every value whose key is `prefix` or starts with it.
  void copy(const toml::table& result, const std::string& prefix) {
    const toml::table* m = result["metrics"].as_table();
    const toml::table* d = result["directions"].as_table();
    if (m == nullptr) return;
    std::vector<std::string> keys;  // the donor's order where it kept one, else by name
    if (const toml::array* o = result["value_order"].as_array())
      for (const auto& k : *o) keys.push_back(k.value_or(std::string()));
    for (const auto& [k, v] : *m)
      if (std::find(keys.begin(), keys.end(), std::string(k.str())) == keys.end()) keys.emplace_back(k.str());
    for (const auto& key : keys) {
      const toml::node* v = m->get(key);
      if (v == nullptr || key.rfind(prefix, 0) != 0) continue;
      if (!metrics.contains(key)) order.push_back(key);
      metrics.insert_or_assign(key, *v);
      directions.insert_or_assign(key, d ? (*d)[key].value_or(std::string("none")) : std::string("none"));
      if (auto c = result["conventions"][key].value<std::string>()) conventions.insert_or_assign(key, *c);
    }
  }
};

// Samples and scores, drawn by the model (and saved) or read from a donor's folder.
struct Drawn {
  TensorMapPtr generated, scores;
  std::string score_convention;  // what the scores measure, as the model said; empty: unstated
  std::string from;              // the donor's folder name; empty: drawn here
};

Drawn draw(const RunPlan& r, DatasetInstance& data, const genlab_tensor_map& real, int64_t n, const fs::path& dir,
           const std::optional<EarlierEvaluation>& donor, Values& values) {
  const fs::path run_dir = dir.parent_path();
  const RunSettings& rs = r.settings;
  Drawn out;
  if (donor) {
    out.from = donor->dir.filename().string();
    out.generated = read_safetensors(donor->dir / "samples.safetensors").tensors;
    take_file(donor->dir / "samples.safetensors", dir / "samples.safetensors");
    if (fs::exists(donor->dir / "scores.safetensors")) {
      SafetensorsContents scores = read_safetensors(donor->dir / "scores.safetensors");
      out.scores = std::move(scores.tensors);
      out.score_convention = scores.metadata["convention"];
      take_file(donor->dir / "scores.safetensors", dir / "scores.safetensors");
    }
    values.copy(donor->result, "cost.sampl");  // sampling_seconds, samples_per_second, sample_latency_ms
    return out;
  }
  ModelInstance model(r.model.plugin, settings_for(r.model, r), r.model.params, parse_device(rs.device), &data.info());
  load_weights(model, r, checkpoint_file(run_dir));
  // A radiance field renders the eval split's views: their poses are generate's inputs.
  const bool render_views = is_rays(data.info());
  TensorMapPtr first_view = render_views ? data.get_batch(rs.eval_split, {0}, static_cast<uint64_t>(r.seed)) : nullptr;
  // Sampling latency: one sample, after a warm-up call, so it is the steady-state cost.
  model.generate(1, &rs.eval_generate, first_view.get());
  auto start = Clock::now();
  model.generate(1, &rs.eval_generate, first_view.get());
  const double latency = std::chrono::duration<double>(Clock::now() - start).count();
  start = Clock::now();
  const double cpu_started = process_cpu_seconds();
  out.generated = model.generate(n, &rs.eval_generate, render_views ? &real : nullptr);  // shape checked by the host
  const double sampling_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double sampling_cpu_seconds = process_cpu_seconds() - cpu_started;
  if (model.can_score()) {
    out.scores = model.score(real);
    out.score_convention = model.score_convention();
  }
  values.put("cost.sampling_seconds", sampling_seconds, GENLAB_DIRECTION_LOWER);
  values.put("cost.samples_per_second", sampling_seconds > 0 ? n / sampling_seconds : NAN, GENLAB_DIRECTION_HIGHER);
  values.put("cost.sample_latency_ms", 1000 * latency, GENLAB_DIRECTION_LOWER);
  // Per CPU second: what a core shared with another process changes least (the wall clock
  // halves; docs/metrics.md).
  values.put("cost.samples_per_cpu_second", sampling_cpu_seconds > 0 ? n / sampling_cpu_seconds : NAN,
             GENLAB_DIRECTION_HIGHER);
  // Kept for later evaluations of this run (and the registry): a failure to save costs
  // only that reuse.
  try {
    write_safetensors(dir / "samples.safetensors", *out.generated, {{"run_id", r.id}, {"samples_id", r.samples_id}});
    if (out.scores)
      write_safetensors(dir / "scores.safetensors", *out.scores,
                        {{"run_id", r.id}, {"samples_id", r.samples_id}, {"convention", out.score_convention}});
  } catch (const HostError& e) {
    spdlog::warn("samples not saved: {}", e.what());
  }
  return out;
}

// What metric `m`'s values mean beyond their names: the metric's build; for one that reads
// a model's scores, what the scores measure (a Bernoulli likelihood and a dequantised
// density are both "nats", and not comparable); for one that reads features, the network.
std::string value_convention(const RunPlan& r, const Component& m, const std::string& score_convention) {
  std::string out = m.plugin_name + " " + m.plugin->description().version;
  if (m.plugin->has(GENLAB_CAPABILITY_NEEDS_SCORES))
    out += "; scores: " + (score_convention.empty() ? "unstated by " + r.model.plugin_name : score_convention);
  if (m.plugin->has(GENLAB_CAPABILITY_READS_FEATURES) && !r.features_id.empty())
    out += "; features: " + r.features_id.substr(0, 12);
  return out;
}

// What the metrics see: the real and generated maps, plus the feature network's outputs on
// both ("features", "logits"); made on first use, so only when a metric is computed here.
class MetricViews {
 public:
  MetricViews(const RunPlan& r, DatasetInstance& data, const genlab_tensor_map& real,
              const genlab_tensor_map& generated)
      : r_(r), data_(data), real_(real), generated_(generated) {}

  std::pair<genlab_tensor_map, genlab_tensor_map> get() {
    if (!ready_) make();
    return {real_view_.view(), generated_view_.view()};
  }

 private:
  void make() {
    ready_ = true;
    for (size_t i = 0; i < real_.count; ++i) real_view_.add(real_.names[i], real_.tensors[i]);
    for (size_t i = 0; i < generated_.count; ++i) generated_view_.add(generated_.names[i], generated_.tensors[i]);
    if (r_.features_id.empty()) return;
    FeatureNet net(r_.features_dir, data_);
    real_features_ = net.classify(real_.tensors[0], real_.names[0]);
    generated_features_ = net.classify(generated_.tensors[0], real_.names[0]);
    for (const char* name : {"features", "logits"}) {
      for (auto [map, view] :
           {std::pair{real_features_.get(), &real_view_}, std::pair{generated_features_.get(), &generated_view_}}) {
        const long at = find_tensor(*map, name);
        if (at < 0) throw HostError("feature network '" + net.plan.model.plugin_name + "' returned no '" + name + "'");
        view->add(name, map->tensors[at]);
      }
    }
  }

  const RunPlan& r_;
  DatasetInstance& data_;
  const genlab_tensor_map& real_;
  const genlab_tensor_map& generated_;
  bool ready_ = false;
  BorrowedMap real_view_, generated_view_;
  TensorMapPtr real_features_, generated_features_;
};

// Which metrics were computed here, which reused from the donor (same metric identity), and
// which values came out NaN; metric_ids names each metric's identity for later reuse.
struct MetricOutcome {
  toml::table metric_ids;
  toml::array computed, reused, nan_values;
};

MetricOutcome compute_metrics(const RunPlan& r, MetricViews& views, const Drawn& drawn,
                              const std::optional<EarlierEvaluation>& donor, Values& values) {
  const toml::table* donor_ids = donor ? donor->result["metric_ids"].as_table() : nullptr;
  MetricOutcome out;
  for (const auto& m : r.metrics) {
    out.metric_ids.insert(m.name, m.id);
    if (donor_ids != nullptr && !m.id.empty() && (*donor_ids)[m.name].value_or(std::string()) == m.id) {
      values.copy(donor->result, m.name + ".");
      out.reused.push_back(m.name);
      continue;
    }
    const auto [real_map, generated_map] = views.get();
    MetricInstance metric(m.plugin, settings_for(m, r), m.params);
    metric.update(&real_map, &generated_map, drawn.scores.get());
    const std::string convention = value_convention(r, m, drawn.score_convention);
    const std::vector<NamedScalar> computed_values = metric.compute();  // inf refused by the host
    for (const auto& name : MetricInstance::nan_names(computed_values)) {
      spdlog::warn("[{}] {}.{} is NaN (no number)", m.name, m.name, name);
      out.nan_values.push_back(m.name + "." + name);
    }
    for (const auto& value : computed_values) {
      values.put(m.name + "." + value.name, value.value, value.direction);
      values.conventions.insert_or_assign(m.name + "." + value.name, convention);
    }
    out.computed.push_back(m.name);
  }
  return out;
}

// Cost: what the host measured. Training figures come from the train step's done file, the
// model's size from its checkpoint.
void put_training_costs(const fs::path& run_dir, Values& values) {
  if (const auto trained = read_toml(done_file(run_dir, NodeKind::Train))) {
    values.put("cost.train_seconds", (*trained)["seconds"].value_or(NAN), GENLAB_DIRECTION_LOWER);
    values.put("cost.train_cpu_seconds", (*trained)["cpu_seconds"].value_or(NAN), GENLAB_DIRECTION_LOWER);
    // Trainings recorded before the count began at the first step are not comparable with
    // later ones: the report and the claims never rank the two conventions together.
    values.conventions.insert_or_assign("cost.train_cpu_seconds",
                                        (*trained)["cpu_from"].value_or(std::string()) == kCpuFromFirstStep
                                            ? "training CPU from the first step"
                                            : "training CPU with start-up (recorded before 2026-12)");
    values.put("cost.train_peak_rss_mb", (*trained)["peak_rss_mb"].value_or(NAN), GENLAB_DIRECTION_LOWER);
  }
  if (const int64_t parameters = checkpoint_trainable_parameters(checkpoint_file(run_dir)); parameters >= 0)
    values.put("cost.parameters", static_cast<double>(parameters), GENLAB_DIRECTION_LOWER);
}

}  // namespace

int evaluate(const fs::path& dir) {
  const fs::path run_dir = dir.parent_path();
  const RunPlan r = evaluated_run(dir);
  if (r.is_feature_net) return evaluate_feature_net(r, dir);
  const RunSettings& rs = r.settings;
  DatasetInstance data(r.dataset.plugin, settings_for(r.dataset, r), r.dataset.params);
  const int64_t n = std::min(rs.eval_samples, data.split_size(rs.eval_split));
  TensorMapPtr real = data.get_batch(rs.eval_split, first_indices(n), static_cast<uint64_t>(r.seed));

  Values values;
  const std::optional<EarlierEvaluation> donor = find_earlier_evaluation(run_dir, dir, r.samples_id);
  const Drawn drawn = draw(r, data, *real, n, dir, donor, values);
  if (!drawn.from.empty()) spdlog::info("samples and scores of {} reused from {}", r.name, drawn.from);
  MetricViews views(r, data, *real, *drawn.generated);
  const MetricOutcome metrics = compute_metrics(r, views, drawn, donor, values);
  put_training_costs(run_dir, values);

  toml::table result{{"run", r.name},
                     {"run_id", r.id},
                     {"samples_id", r.samples_id},
                     {"eval_id", r.eval_id},
                     {"samples", n},
                     {"scored", drawn.scores != nullptr},
                     {"samples_from", drawn.from},
                     {"computed", metrics.computed},
                     {"reused", metrics.reused},
                     {"nan", metrics.nan_values},
                     {"metric_ids", metrics.metric_ids},
                     {"metrics", values.metrics},
                     {"directions", values.directions},
                     {"conventions", values.conventions},
                     {"value_order", values.order}};
  write_file_atomic(dir / "results.json", to_json(result) + "\n", Durability::AtomicOnly);
  write_toml(done_file(dir, NodeKind::Evaluate), result);
  return 0;
}

}  // namespace genlab
