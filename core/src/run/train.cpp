// The train node: builds the run's dataset and model, resumes from the checkpoint or
// starts afresh, runs the training loop within the budget (prefetching the next batch,
// checkpointing between steps, stopping on a signal), and writes the done file. Separate
// from the worker's entry: it is the largest job, and its steps (setup, loop, end) are
// named here one by one; the checkpoint format, the progress and loss lines and the
// data-parallel ranks it calls are modules of their own.
#include "checkpoint.hpp"
#include "data_parallel.hpp"
#include "during.hpp"
#include "progress.hpp"
#include "worker_parts.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>
#include <spdlog/spdlog.h>

#include "genlab/core/worker.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/util/error.hpp"
#include "genlab/util/files.hpp"

namespace genlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

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

double cpu_seconds(int who = RUSAGE_SELF) {
  rusage usage{};
  getrusage(who, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int64_t peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

// The sizes a training works with: the train split, the global batch and each process's
// share of it, and the step budget (0: none).
struct StepPlan {
  int64_t train_size = 0;
  int64_t batch_size = 0;
  int64_t shard = 0;
  int64_t total = 0;
};

StepPlan plan_steps(const RunPlan& r, int64_t train_size, int32_t world) {
  const RunSettings& rs = r.settings;
  if (train_size <= 0) throw HostError("dataset '" + r.dataset.name + "' has an empty train split");
  // The global batch; with several processes a multiple of their number, each taking 1/N.
  const int64_t batch_size = std::min(rs.batch_size, train_size) / world * world;
  if (batch_size <= 0)
    throw HostError("dataset '" + r.dataset.name + "' has " + std::to_string(train_size) +
                    " training examples, fewer than the " + std::to_string(world) + " processes");
  const int64_t shard = batch_size / world;

  // The step budget: the smaller of steps and epochs where both are set; seconds apply live.
  int64_t total = 0;
  if (rs.budget.steps > 0) total = rs.budget.steps;
  if (rs.budget.epochs > 0) {
    const auto by_epochs = static_cast<int64_t>(std::ceil(rs.budget.epochs * train_size / batch_size));
    total = total > 0 ? std::min(total, by_epochs) : by_epochs;
  }
  return {train_size, batch_size, shard, total};
}

// The model's host settings; with several processes, its place among them (a model that
// cannot train so is refused).
HostSettings model_settings_for(const RunPlan& r, const Ranks& ranks) {
  const int32_t world = ranks.world_size;
  HostSettings model_settings = settings_for(r.model, r);
  if (world > 1) {
    if (!r.model.plugin->has(GENLAB_CAPABILITY_DATA_PARALLEL))
      throw HostError("model plugin '" + r.model.plugin_name + "' cannot train over " + std::to_string(world) +
                      " processes: it does not declare GENLAB_CAPABILITY_DATA_PARALLEL (ABI 1.4; plugins built with "
                      "the genlab SDK and LibTorch's c10d do); set experiment.processes = 1");
    model_settings.rank = ranks.rank;
    model_settings.world_size = world;
    model_settings.rendezvous = ranks.rendezvous.string();
  }
  return model_settings;
}

// Local processes on "cuda" take a GPU each (NCCL wants one per process); under Slurm each
// task sees the GPUs that --gpus-per-task gave it, from cuda:0.
DLDevice training_device(const RunSettings& rs, const Ranks& ranks) {
  DLDevice device = parse_device(rs.device);
  if (ranks.world_size > 1 && rs.device == "cuda" && (ranks.starts_others || ranks.started_by_rank0))
    device.device_id = ranks.rank;
  return device;
}

// The training loop of one process over its model and dataset: the host's loop state, the
// budget, the checkpoints and the loss log. Only rank 0 (the writer) writes the run's files.
class TrainingLoop {
 public:
  // `during`: the evaluation during training (rank 0's; null on the others).
  // `until` (> 0): stop after that step, below the budget: a rung of ASHA.
  TrainingLoop(const fs::path& dir, const RunPlan& r, const Ranks& ranks, LocalRanks* others, DatasetInstance& data,
               ModelInstance& model, const StepPlan& plan, DuringTraining* during, int64_t until)
      : dir_(dir), r_(r), rs_(r.settings), ranks_(ranks), others_(others), writer_(ranks.rank == 0),
        world_(ranks.world_size), data_(data), model_(model), plan_(plan),
        stop_at_(until > 0 && (plan.total == 0 || until < plan.total) ? until : plan.total),
        checkpoint_(checkpoint_file(dir)), losses_path_(dir / "losses.jsonl"), during_(during) {}

  // The loop state from the checkpoint (resuming) or a fresh one; opens the loss log.
  void start(bool resume) {
    if (resume && fs::exists(checkpoint_)) {
      s_ = load_checkpoint_state(model_, r_, checkpoint_, plan_.train_size, plan_.total);
      if (writer_) keep_lines_before(losses_path_, s_.step);
      spdlog::info("resumed {} from its checkpoint at step {}", r_.name, s_.step);
    } else {
      s_.rng.seed(static_cast<uint64_t>(r_.seed));
      s_.order = first_indices(plan_.train_size);
      s_.cursor = s_.order.size();  // shuffles at the first step
      if (writer_) write_file_atomic(losses_path_, "", Durability::AtomicOnly);
    }
    if (writer_) losses_log_.open(losses_path_, std::ios::app);
    if (during_ != nullptr) during_->start_at(s_.step);
    started_ = Clock::now();
    cpu_at_start_ = cpu_seconds();
  }

  // The steps, until the budget is spent or the processes agree to stop; kWorkerCancelled
  // when a signal stopped them (after a checkpoint).
  std::optional<int> run_steps();

  // After the last step: the final checkpoint and progress line.
  void save_final_checkpoint() {
    before_draw_.step = s_.step;
    s_ = before_draw_;
    checkpoint_now();
    if (writer_) report_progress(s_.step, plan_.total, losses_);
  }

  // Rank 0's done file: steps, time, CPU time, peak memory and the final losses.
  void write_done() const;
  // Stopped at a rung below the budget (ASHA): rank 0 makes sure the evaluation during
  // training ran at this step and writes the rung's file with its values.
  bool at_rung() const { return stop_at_ != plan_.total && s_.step == stop_at_; }
  void write_rung();

  int64_t step() const { return s_.step; }

 private:
  // Every process draws the same global batch; rank r keeps its contiguous r-th 1/N.
  std::vector<int64_t> next_indices() {
    std::vector<int64_t> indices;
    indices.reserve(static_cast<size_t>(plan_.batch_size));
    while (static_cast<int64_t>(indices.size()) < plan_.batch_size) {
      if (s_.cursor >= s_.order.size()) {
        std::shuffle(s_.order.begin(), s_.order.end(), s_.rng);
        s_.cursor = 0;
      }
      indices.push_back(s_.order[s_.cursor++]);
    }
    if (world_ > 1)
      indices = std::vector<int64_t>(indices.begin() + ranks_.rank * plan_.shard,
                                     indices.begin() + (ranks_.rank + 1) * plan_.shard);
    return indices;
  }
  uint64_t batch_seed(int64_t step) const {
    return static_cast<uint64_t>(r_.seed) * 1000003ULL + static_cast<uint64_t>(step);
  }

  double elapsed() const { return s_.elapsed + std::chrono::duration<double>(Clock::now() - started_).count(); }
  // The training's CPU seconds: earlier processes' (from the checkpoint) and this one's since
  // its loop started (loading the plugins and the data is not training), less its
  // evaluations during training. A local rank 0 has reaped the other ranks by the end:
  // their CPU time counts then.
  double train_cpu_seconds() const {
    const double others = others_ != nullptr ? cpu_seconds(RUSAGE_CHILDREN) : 0.0;
    return s_.cpu_seconds + cpu_seconds() - cpu_at_start_ + others -
           (during_ != nullptr ? during_->cost().cpu_seconds : 0.0);
  }
  bool steps_left() const { return stop_at_ == 0 || s_.step < stop_at_; }
  bool time_spent() const { return rs_.budget.seconds > 0 && elapsed() >= rs_.budget.seconds; }
  // With several processes, the clock and the signals only vote (see train_step): every
  // process must stop after the same step.
  bool budget_left() const { return steps_left() && (world_ > 1 || !time_spent()); }

  std::vector<NamedScalar> train_step(const genlab_tensor_map& batch, int64_t step, int32_t& stop);
  void record_step(int64_t step);
  void evaluate_during();
  void checkpoint_between_steps();
  void checkpoint_now();
  int cancelled();

  const fs::path& dir_;
  const RunPlan& r_;
  const RunSettings& rs_;
  const Ranks& ranks_;
  LocalRanks* const others_;
  const bool writer_;
  const int32_t world_;
  DatasetInstance& data_;
  ModelInstance& model_;
  const StepPlan plan_;
  const int64_t stop_at_;  // the last step of this process's training: the budget's, or a rung's
  double cpu_at_start_ = 0;
  const fs::path checkpoint_;
  const fs::path losses_path_;
  LoopState s_;
  // With prefetching, the indices of step k+1 are drawn while step k trains. A checkpoint
  // after step k must hold the drawing state from before that draw, so that a resumed run
  // draws the same batch again: `before_draw_` is that state.
  LoopState before_draw_;
  std::vector<NamedScalar> losses_;
  std::ofstream losses_log_;
  DuringTraining* const during_;
  Clock::time_point started_;
  Clock::time_point last_report_;
};

std::optional<int> TrainingLoop::run_steps() {
  last_report_ = Clock::now() - std::chrono::seconds(1);
  before_draw_ = s_;
  Prefetcher prefetch(data_);
  if (budget_left()) prefetch.request(next_indices(), batch_seed(s_.step));
  while (budget_left()) {
    if (world_ == 1 && cancel_flag->load()) {
      before_draw_.step = s_.step;
      std::swap(s_, before_draw_);
      return cancelled();
    }
    TensorMapPtr batch = prefetch.take();
    const int64_t step = s_.step;
    before_draw_ = s_;
    if (stop_at_ == 0 || step + 1 < stop_at_) prefetch.request(next_indices(), batch_seed(step + 1));
    int32_t stop = 0;
    losses_ = train_step(*batch, step, stop);
    s_.step = step + 1;
    if (writer_) record_step(step);
    if (during_ != nullptr && during_->due(s_.step)) evaluate_during();
    if (rs_.checkpoint_every > 0 && s_.step % rs_.checkpoint_every == 0 && budget_left() && stop == 0)
      checkpoint_between_steps();
    if (stop == 2) {
      before_draw_.step = s_.step;
      s_ = before_draw_;
      return cancelled();
    }
    if (stop == 1) break;
  }
  return std::nullopt;
}

// One step of the model. Several processes agree in the step on whether to stop after it
// (`stop`, the largest wish: 0 go on, 1 the time budget is spent, 2 a signal asked to stop).
std::vector<NamedScalar> TrainingLoop::train_step(const genlab_tensor_map& batch, int64_t step, int32_t& stop) {
  std::vector<NamedScalar> losses;
  try {
    if (world_ > 1) losses = model_.train_step(batch, step, cancel_flag->load() ? 2 : time_spent() ? 1 : 0, &stop);
    else losses = model_.train_step(batch, step);
  } catch (const HostError& e) {
    // The plugin and the call are in the message; the step is the host's to add.
    throw HostError("run " + r_.name + ", step " + std::to_string(step) + ": " + e.what());
  }
  if (losses.empty()) throw HostError("train_step of plugin '" + r_.model.plugin_name + "' returned no losses");
  if (!std::isfinite(losses.front().value))
    throw HostError("loss '" + losses.front().name + "' is " + std::to_string(losses.front().value) + " at step " +
                    std::to_string(step) + ": stopped early (lower the learning rate or check the data)");
  return losses;
}

// Rank 0's record of step `step`: its loss line, and a progress line at most every 200 ms.
void TrainingLoop::record_step(int64_t step) {
  losses_log_ << loss_line(step, losses_);
  if (Clock::now() - last_report_ > std::chrono::milliseconds(200)) {
    report_progress(s_.step, plan_.total, losses_);
    last_report_ = Clock::now();
  }
}

// The evaluation during training after this step. Its time is not training time: the
// clock of the time budget (and cost.train_seconds) moves past it.
void TrainingLoop::evaluate_during() {
  const double before = during_->cost().seconds;
  during_->evaluate(model_, s_.step);
  started_ +=
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(during_->cost().seconds - before));
}

// A checkpoint every rs.checkpoint_every steps, with the drawing state from before the
// prefetch's draw of the next step's indices.
void TrainingLoop::checkpoint_between_steps() {
  const LoopState live = s_;
  s_ = before_draw_;
  s_.step = live.step;
  checkpoint_now();
  s_ = live;
}

void TrainingLoop::checkpoint_now() {
  if (!writer_) return;
  losses_log_.flush();
  LoopState saved = s_;
  saved.elapsed = elapsed();
  saved.cpu_seconds = train_cpu_seconds();
  save_checkpoint(model_, r_, saved, checkpoint_);
}

// Stopped by a signal: saves a checkpoint (rank 0) and waits for the other local ranks.
int TrainingLoop::cancelled() {
  checkpoint_now();
  if (writer_) spdlog::warn("cancelled at step {}; checkpoint saved, resume with --resume", s_.step);
  else spdlog::warn("cancelled at step {}, with the other ranks", s_.step);
  if (others_ != nullptr) others_->finish(std::chrono::seconds(60));
  return kWorkerCancelled;
}

void TrainingLoop::write_done() const {
  toml::table final_losses;
  for (const auto& l : losses_) final_losses.insert(l.name, l.value);
  const DuringCost during = during_ != nullptr ? during_->cost() : DuringCost{};
  toml::table done{{"steps", s_.step},
                   {"seconds", elapsed()},
                   {"cpu_seconds", train_cpu_seconds()},
                   {"cpu_from", kCpuFromFirstStep},
                   {"peak_rss_mb", peak_rss_mb()},
                   {"final_losses", std::move(final_losses)}};
  if (world_ > 1) done.insert("processes", world_);
  if (during.evaluations > 0)  // this process's: apart from the training's seconds above
    done.insert("during", toml::table{{"evaluations", during.evaluations},
                                      {"seconds", during.seconds},
                                      {"cpu_seconds", during.cpu_seconds}});
  write_toml(done_file(dir_, NodeKind::Train), done);
}

void TrainingLoop::write_rung() {
  if (!writer_) return;
  if (during_ == nullptr || during_->last_step() != s_.step) evaluate_during();
  toml::table values, directions;
  for (const auto& v : during_->last_values()) {
    values.insert_or_assign(v.name, v.value);
    directions.insert_or_assign(v.name, direction_name(v.direction));
  }
  write_toml(rung_file(dir_, s_.step), toml::table{{"step", s_.step},
                                                   {"seconds", elapsed()},
                                                   {"cpu_seconds", train_cpu_seconds()},
                                                   {"values", std::move(values)},
                                                   {"directions", std::move(directions)}});
  spdlog::info("stopped at step {}, a rung of the search: checkpoint and {} written", s_.step,
               rung_file(dir_, s_.step).filename().string());
}

// The step a trial of ASHA stops at (train.until.toml, written by the scheduler); 0: none.
int64_t rung_target(const fs::path& dir) {
  const auto target = read_toml(rung_target_file(dir));
  if (!target) return 0;
  const int64_t until = (*target)["until"].value_or(int64_t{0});
  if (until <= 0) throw HostError(rung_target_file(dir).string() + ": expected until = a positive step count");
  return until;
}

// The training of one process; `ranks` says which of the run's processes it is (one,
// unless experiment.processes > 1). Only rank 0 writes the run's files.
int train_as(const fs::path& dir, bool resume, const RunPlan& r, const Ranks& ranks, LocalRanks* others) {
  DatasetInstance data(r.dataset.plugin, settings_for(r.dataset, r), r.dataset.params);
  HostSettings model_settings = model_settings_for(r, ranks);
  const DLDevice device = training_device(r.settings, ranks);
  ModelInstance model(r.model.plugin, std::move(model_settings), r.model.params, device, &data.info());
  std::optional<DuringTraining> during;
  if (ranks.rank == 0) during.emplace(dir, r, data);
  TrainingLoop loop(dir, r, ranks, others, data, model, plan_steps(r, data.split_size("train"), ranks.world_size),
                    during ? &*during : nullptr, rung_target(dir));
  loop.start(resume);
  if (const std::optional<int> cancelled = loop.run_steps()) return *cancelled;
  loop.save_final_checkpoint();
  if (loop.at_rung()) {
    loop.write_rung();
    return 0;
  }

  // The ranks must end with the same trained state: each logs its digests, and a local
  // rank 0 compares the others' with its own, tensor by tensor.
  if (ranks.world_size > 1) agree_on_final_state(dir, model, ranks, others, loop.step());
  if (ranks.rank != 0) return 0;
  loop.write_done();
  return 0;
}

}  // namespace

int train(const fs::path& dir, bool resume) {
  const RunPlan r = run_from_resolved(toml::parse_file((dir / "run.toml").string()), dir / "run.toml");
  const Ranks ranks = ranks_of(dir, r);
  if (ranks.world_size == 1) return train_as(dir, resume, r, ranks, nullptr);

  if (ranks.rank > 0) log_to_rank_file(dir, ranks.rank, resume);
  spdlog::info("rank {} of {} of run {} (pid {}); rendezvous {}", ranks.rank, ranks.world_size, r.name, ::getpid(),
               ranks.rendezvous.string());
  std::error_code ec;
  fs::create_directories(ranks.rendezvous.parent_path(), ec);  // every rank: they race, that is fine
  RendezvousCleanup cleanup(ranks.rank == 0 ? ranks.rendezvous : fs::path());
  std::unique_ptr<LocalRanks> others;
  if (ranks.starts_others) {
    fs::remove(ranks.rendezvous, ec);  // a file left by a crashed process of the same pid
    others = std::make_unique<LocalRanks>(ranks, dir, resume);
  }
  try {
    return train_as(dir, resume, r, ranks, others.get());
  } catch (const std::exception& e) {
    if (others == nullptr) throw;
    throw HostError(others->failure_beside(e.what(), std::chrono::milliseconds(1000)));
  }
}

}  // namespace genlab
