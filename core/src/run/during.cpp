// Evaluation during training: a few samples and the cheap metrics every evaluation.every
// steps, while the training runs (during.hpp). Its time is measured apart and taken out of
// the training's, so that cost.train_seconds means the same with and without it.
#include "during.hpp"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "genlab/core/safetensors.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"
#include "progress.hpp"
#include "worker_parts.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

// The step of a during/step-<step>.safetensors file; -1 for any other name.
int64_t step_of_samples_file(const fs::path& file) {
  long long step = -1;
  char tail[32] = {};
  if (std::sscanf(file.filename().c_str(), "step-%lld.%31s", &step, tail) != 2 || std::string(tail) != "safetensors")
    return -1;
  return step;
}

}  // namespace

DuringTraining::DuringTraining(const fs::path& run_dir, const RunPlan& r, DatasetInstance& data)
    : run_dir_(run_dir), r_(r), every_(r.settings.eval_every) {
  if (every_ == 0) return;
  const RunSettings& rs = r.settings;
  for (const auto& m : r.metrics)
    if (std::find(rs.eval_during.begin(), rs.eval_during.end(), m.name) != rs.eval_during.end()) {
      metrics_.push_back(&m);
      wants_scores_ = wants_scores_ || m.plugin->has(GENLAB_CAPABILITY_NEEDS_SCORES);
    }
  const int64_t n = std::min(rs.eval_during_samples, data.split_size(rs.eval_split));
  if (n <= 0) throw HostError("dataset '" + r.dataset.name + "' has no '" + rs.eval_split + "' split to evaluate on");
  real_ = data.get_batch(rs.eval_split, first_indices(n), static_cast<uint64_t>(r.seed));
  render_views_ = is_rays(data.info());
}

void DuringTraining::start_at(int64_t step) {
  if (every_ == 0) return;
  std::error_code ec;
  fs::create_directories(during_folder(run_dir_), ec);
  if (ec) throw HostError("cannot make " + during_folder(run_dir_).string() + ": " + ec.message());
  const fs::path series = during_series_file(run_dir_);
  if (step == 0) write_file_atomic(series, "", Durability::AtomicOnly);
  else keep_lines_before(series, step + 1);  // an evaluation at `step` ran after that step
  for (const auto& entry : fs::directory_iterator(during_folder(run_dir_), ec))
    if (const int64_t at = step_of_samples_file(entry.path()); at > step) fs::remove(entry.path(), ec);
}

void DuringTraining::evaluate(ModelInstance& model, int64_t step) {
  const auto started = std::chrono::steady_clock::now();
  const double cpu_started = process_cpu_seconds();
  const RunSettings& rs = r_.settings;
  const int64_t n = static_cast<int64_t>(real_->tensors[0]->dl_tensor.shape[0]);
  TensorMapPtr generated;
  TensorMapPtr scores;
  try {
    generated = model.generate(n, &rs.eval_generate, render_views_ ? real_.get() : nullptr);
    if (wants_scores_ && model.can_score()) scores = model.score(*real_);
  } catch (const HostError& e) {
    throw HostError("run " + r_.name + ", evaluation during training after step " + std::to_string(step) + ": " +
                    e.what());
  }
  std::vector<NamedScalar> values;
  for (const Component* m : metrics_) {
    MetricInstance metric(m->plugin, settings_for(*m, r_), m->params);
    metric.update(real_.get(), generated.get(), scores.get());
    for (const auto& v : metric.compute()) values.push_back({m->name + "." + v.name, v.value, v.direction});
  }
  write_safetensors(during_samples_file(run_dir_, step), *generated,
                    {{"run_id", r_.id}, {"step", std::to_string(step)}});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double cpu_seconds = process_cpu_seconds() - cpu_started;
  values.insert(values.begin(),
                {{"seconds", seconds, GENLAB_DIRECTION_NONE}, {"cpu_seconds", cpu_seconds, GENLAB_DIRECTION_NONE}});
  std::ofstream series(during_series_file(run_dir_), std::ios::app);
  series << loss_line(step, values);
  series.flush();
  if (!series) throw HostError("cannot append to " + during_series_file(run_dir_).string());
  last_values_ = std::move(values);
  last_step_ = step;
  ++cost_.evaluations;
  cost_.seconds += seconds;
  cost_.cpu_seconds += cpu_seconds;
}

}  // namespace genlab
