#include "genlab/core/worker.hpp"
#include "worker_parts.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cctype>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <set>
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
#include "genlab/core/util/sha256.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace fs = std::filesystem;

std::shared_ptr<std::atomic<bool>> cancel_flag = std::make_shared<std::atomic<bool>>(false);

namespace {

using Clock = std::chrono::steady_clock;

// The other ranks of a data-parallel run that this process started (LocalRanks), to which
// it passes SIGINT and SIGTERM on: they must stop after the same step as this one.
constexpr int kMaxLocalProcesses = 256;
pid_t forward_pids[kMaxLocalProcesses];
std::atomic<int> forward_count{0};

extern "C" void on_stop_signal(int sig) {
  cancel_flag->store(true);
  const int n = forward_count.load();
  for (int i = 0; i < n; ++i) ::kill(forward_pids[i], sig);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

HostSettings settings_for(const Component& c, const RunPlan& r) {
  HostSettings s;
  s.plugin_name = c.plugin_name;
  s.seed = static_cast<uint64_t>(r.seed);
  s.num_threads = r.settings.threads;
  // The run's precision is the model's compute; datasets and metrics read float32.
  if (&c == &r.model)
    s.precision = r.settings.precision == "bf16"   ? GENLAB_PRECISION_BF16
                  : r.settings.precision == "fp16" ? GENLAB_PRECISION_FP16
                                                   : GENLAB_PRECISION_FP32;
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
  // "cuda:N", N checked as at most 4 digits when the manifest was read.
  const int32_t index = device.size() > 5 ? static_cast<int32_t>(std::strtol(device.c_str() + 5, nullptr, 10)) : 0;
  return DLDevice{kDLCUDA, index};
}

std::vector<int64_t> first_indices(int64_t count) {
  std::vector<int64_t> v(static_cast<size_t>(count));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

namespace {

// Progress for the scheduler, one line at a time on stdout.
void report_progress(int64_t step, int64_t total, const std::vector<NamedScalar>& losses) {
  if (losses.empty()) std::printf("progress %lld %lld - nan\n", (long long)step, (long long)total);
  else std::printf("progress %lld %lld %s %.6g\n", (long long)step, (long long)total, losses[0].name.c_str(), losses[0].value);
  std::fflush(stdout);
}

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
constexpr const char* kCheckpointFormat = "genlab.checkpoint.1";

// "float32 [3, 4]"
std::string tensor_text(const DLTensor& t) {
  std::string out = (t.dtype.code == kDLFloat ? "float" : t.dtype.code == kDLInt ? "int" : t.dtype.code == kDLUInt ? "uint"
                     : t.dtype.code == kDLBfloat ? "bfloat" : "type" + std::to_string(t.dtype.code)) +
                    std::to_string(t.dtype.bits) + " [";
  for (int32_t d = 0; d < t.ndim; ++d) out += (d ? ", " : "") + std::to_string(t.shape[d]);
  return out + "]";
}

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
  const Metadata metadata = {{"format", kCheckpointFormat},
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

// A checkpoint's metadata value as a number of type T, or a HostError naming the file.
template <class T>
T checkpoint_number(const fs::path& file, const std::string& key, const std::string& text) {
  std::istringstream in(text);
  T value{};
  if (!(in >> value) || !in.eof())
    throw HostError(file.string() + ": checkpoint metadata '" + key + "' is \"" + text.substr(0, 40) + "\", not a number");
  return value;
}

// Loads a checkpoint into the model; returns the host's loop state from it. Everything is
// checked before the model sees it: the format, the run, the data's digest (safetensors.cpp),
// the step within the budget, the host's order a permutation of the train split, and every
// tensor's name, dtype and shape against what the model exports now. `train_size` < 0:
// loading weights only (evaluation), the loop state is not checked.
LoopState load_checkpoint_state(ModelInstance& model, const RunPlan& r, const fs::path& file, int64_t train_size = -1,
                                int64_t total_steps = 0) {
  SafetensorsContents contents = read_safetensors(file);
  auto meta = [&](const char* key) {
    auto it = contents.metadata.find(key);
    if (it == contents.metadata.end()) throw HostError(file.string() + ": checkpoint lacks metadata '" + key + "'");
    return it->second;
  };
  if (meta("format") != kCheckpointFormat)
    throw HostError(file.string() + ": checkpoint format '" + meta("format").substr(0, 40) + "', expected '" +
                    kCheckpointFormat + "' (written by another genlab?)");
  if (meta("run_id") != r.id)
    throw HostError(file.string() + ": checkpoint of run " + meta("run_id").substr(0, 64) + ", not of this run " + r.id);
  LoopState s;
  s.step = checkpoint_number<int64_t>(file, "step", meta("step"));
  s.cursor = checkpoint_number<size_t>(file, "cursor", meta("cursor"));
  s.elapsed = checkpoint_number<double>(file, "elapsed_seconds", meta("elapsed_seconds"));
  std::istringstream rng(meta("host_rng"));
  if (!(rng >> s.rng)) throw HostError(file.string() + ": checkpoint metadata 'host_rng' is not a generator state");
  if (s.step < 0 || (total_steps > 0 && s.step > total_steps))
    throw HostError(file.string() + ": checkpoint at step " + std::to_string(s.step) + ", outside the run's budget [0, " +
                    std::to_string(total_steps) + "]");
  if (!std::isfinite(s.elapsed) || s.elapsed < 0)
    throw HostError(file.string() + ": checkpoint metadata 'elapsed_seconds' is " + meta("elapsed_seconds"));
  // The model gets its own tensors; the host keeps the order.
  BorrowedMap model_part;
  bool has_order = false;
  for (size_t i = 0; i < contents.tensors->count; ++i) {
    if (std::string(contents.tensors->names[i]) != kOrderTensor) {
      model_part.add(contents.tensors->names[i], contents.tensors->tensors[i]);
      continue;
    }
    const DLTensor& t = contents.tensors->tensors[i]->dl_tensor;
    if (t.ndim != 1 || t.dtype.code != kDLInt || t.dtype.bits != 64)
      throw HostError(file.string() + ": checkpoint tensor '" + kOrderTensor + "' is not int64 [N]");
    const auto* values = static_cast<const int64_t*>(t.data);
    s.order.assign(values, values + genlab_util_numel(&t));
    has_order = true;
  }
  if (!has_order) throw HostError(file.string() + ": checkpoint lacks the host's data order '" + kOrderTensor + "'");
  if (train_size >= 0) {
    std::vector<int64_t> sorted = s.order;
    std::sort(sorted.begin(), sorted.end());
    bool permutation = static_cast<int64_t>(sorted.size()) == train_size;
    for (size_t i = 0; permutation && i < sorted.size(); ++i) permutation = sorted[i] == static_cast<int64_t>(i);
    if (!permutation)
      throw HostError(file.string() + ": checkpoint's data order is not a permutation of the " + std::to_string(train_size) +
                      " training examples (another dataset, or a damaged file)");
    if (s.cursor > s.order.size())
      throw HostError(file.string() + ": checkpoint's cursor " + std::to_string(s.cursor) + " is past the " +
                      std::to_string(s.order.size()) + " training examples");
  }
  // Names, dtypes and shapes as the model exports them now: a plugin is never handed a
  // tensor it did not make (an empty index tensor crashed one).
  TensorMapPtr expected = model.export_state();
  std::map<std::string, const DLTensor*> wanted;
  for (size_t i = 0; i < expected->count; ++i) wanted[expected->names[i]] = &expected->tensors[i]->dl_tensor;
  for (size_t i = 0; i < model_part.names.size(); ++i) {
    const std::string name = model_part.names[i];
    const DLTensor& got = model_part.tensors[i]->dl_tensor;
    auto it = wanted.find(name);
    if (it == wanted.end())
      throw HostError(file.string() + ": checkpoint tensor '" + name + "' is not part of plugin '" + r.model.plugin_name +
                      "''s state");
    const DLTensor& want = *it->second;
    const bool same_shape = got.ndim == want.ndim && std::equal(got.shape, got.shape + got.ndim, want.shape);
    if (got.dtype.code != want.dtype.code || got.dtype.bits != want.dtype.bits || !same_shape)
      throw HostError(file.string() + ": checkpoint tensor '" + name + "' is " + tensor_text(got) + ", the model's is " +
                      tensor_text(want));
    wanted.erase(it);
  }
  if (!wanted.empty())
    throw HostError(file.string() + ": checkpoint lacks tensor '" + wanted.begin()->first + "' of plugin '" +
                    r.model.plugin_name + "''s state");
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
  long long at = 0;
  while (std::getline(in, line))  // a torn or garbled line is dropped: it is no step's record
    if (line.rfind(prefix, 0) == 0 && std::sscanf(line.c_str() + prefix.size(), "%lld", &at) == 1 && at >= 0 && at < step)
      kept += line + "\n";
  write_file_atomic(file, kept, Durability::AtomicOnly);
}

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

// ------------------------------------------------------------------ data-parallel training
//
// A run with experiment.processes = N > 1 trains in N processes, each on its contiguous
// 1/N of every global batch (drawn the same way in all of them, from the run's seed). The
// model's SDK layer averages the gradients and the losses and agrees on when to stop (see
// genlab/sdk/distributed.hpp); the host gives each process its rank and a rendezvous file.
// Under Slurm the N tasks of one job step are the processes; with the local executor, rank
// 0 (the worker the scheduler started) starts ranks 1..N-1 itself and watches them. Only
// rank 0 writes the run's files; rank R > 0 logs to train.rank<R>.log.

// How a local rank 0 tells the ranks it starts their place.
constexpr const char* kRankVariable = "GENLAB_RANK";
constexpr const char* kWorldSizeVariable = "GENLAB_WORLD_SIZE";
constexpr const char* kRendezvousVariable = "GENLAB_RENDEZVOUS";

// This process's place among the processes that train one run.
struct Ranks {
  int32_t rank = 0;
  int32_t world_size = 1;
  fs::path rendezvous;        // the file where they meet (c10d's FileStore); empty for one
  bool starts_others = false; // rank 0 of the local executor: starts and watches ranks 1..N-1
  bool started_by_rank0 = false;  // one of those: its stdout is a pipe back to rank 0
};

int32_t env_int(const char* name, int32_t low, int32_t high) {
  const char* text = std::getenv(name);
  if (text == nullptr) throw HostError("environment variable " + std::string(name) + " is not set");
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < low || value > high)
    throw HostError("environment variable " + std::string(name) + "=\"" + text + "\": expected an integer in [" +
                    std::to_string(low) + ", " + std::to_string(high) + "]");
  return static_cast<int32_t>(value);
}

Ranks ranks_of(const fs::path& dir, const RunPlan& r) {
  Ranks ranks;
  const int32_t processes = r.settings.processes;
  if (processes <= 1) return ranks;
  ranks.world_size = processes;
  auto id_part = [](const char* name) {  // a Slurm id, checked before it becomes a file name
    const char* text = std::getenv(name);
    std::string id = text ? text : "";
    const bool ok = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
    return ok ? id : std::string();
  };
  if (std::getenv(kRankVariable) != nullptr) {
    const int32_t world = env_int(kWorldSizeVariable, 2, kMaxLocalProcesses);
    if (world != processes)
      throw HostError(std::string(kWorldSizeVariable) + " is " + std::to_string(world) + " but run " + r.name +
                      " has experiment.processes = " + std::to_string(processes));
    ranks.rank = env_int(kRankVariable, 1, world - 1);
    const char* rendezvous = std::getenv(kRendezvousVariable);
    if (rendezvous == nullptr || *rendezvous == '\0')
      throw HostError(std::string(kRankVariable) + " is set but " + kRendezvousVariable + " is not");
    ranks.rendezvous = rendezvous;
    ranks.started_by_rank0 = true;
  } else if (std::getenv("SLURM_NTASKS") != nullptr) {
    const int32_t tasks = env_int("SLURM_NTASKS", 1, 1 << 20);
    if (tasks != processes)
      throw HostError("Slurm runs this step as SLURM_NTASKS=" + std::to_string(tasks) + " tasks, but run " + r.name +
                      " has experiment.processes = " + std::to_string(processes) + "; expected srun --ntasks=" +
                      std::to_string(processes) + " (or, for the local executor, no Slurm job around it)");
    ranks.rank = env_int("SLURM_PROCID", 0, tasks - 1);
    const std::string job = id_part("SLURM_JOB_ID"), step = id_part("SLURM_STEP_ID"), restart = id_part("SLURM_RESTART_COUNT");
    if (job.empty()) throw HostError("SLURM_NTASKS is set but SLURM_JOB_ID is not (or is not an id)");
    // Fresh per launch: a requeued job keeps its id and restarts its step ids.
    ranks.rendezvous = dir / "dist" / (job + "." + (step.empty() ? "batch" : step) + (restart.empty() ? "" : ".r" + restart));
  } else {
    ranks.rendezvous = dir / "dist" / ("local-" + std::to_string(::getpid()));
    ranks.starts_others = true;
  }
  return ranks;
}

// Rank R > 0 logs to <dir>/train.rank<R>.log: its stderr (spdlog's sink) goes there.
void log_to_rank_file(const fs::path& dir, int32_t rank, bool resume) {
  const fs::path log = dir / ("train.rank" + std::to_string(rank) + ".log");
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (resume ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0) throw HostError(log.string() + ": cannot write the log of rank " + std::to_string(rank));
  std::fflush(stderr);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
}

// What a process's final state is, to compare the processes of a data-parallel run: a
// SHA-256 of each tensor (dtype, shape, bytes), of them all in order, and of the trained
// ones alone. Trained: by the host's convention for checkpoints, a tensor NAME beside the
// optimiser's moments P.m.NAME and P.v.NAME, and those moments. They must agree in every
// process; other tensors may not (BatchNorm's running statistics are each process's own,
// and rank 0's are saved), and a tensor not compact on the CPU is hashed by shape only.
struct StateDigest {
  std::string whole, trained;
  std::vector<std::pair<std::string, std::string>> tensors;  // name, digest
  std::set<std::string> trained_names;
};

StateDigest digest_state(const genlab_tensor_map& state) {
  StateDigest d;
  std::set<std::string> names;
  for (size_t i = 0; i < state.count; ++i) names.insert(state.names[i]);
  for (const auto& name : names) {
    const size_t m = name.find(".m.");
    if (m == std::string::npos) continue;
    const std::string prefix = name.substr(0, m), parameter = name.substr(m + 3);
    if (names.count(prefix + ".v." + parameter) == 0 || names.count(parameter) == 0) continue;
    d.trained_names.insert({name, prefix + ".v." + parameter, parameter});
  }
  Sha256 whole, trained;
  for (size_t i = 0; i < state.count; ++i) {
    const DLTensor& t = state.tensors[i]->dl_tensor;
    Sha256 one;
    const int32_t header[3] = {t.dtype.code, t.dtype.bits, t.ndim};
    one.update(header, sizeof header);
    one.update(t.shape, sizeof(int64_t) * static_cast<size_t>(t.ndim));
    if (genlab_util_is_cpu_compact(&t, t.dtype) && t.dtype.lanes == 1)
      one.update(static_cast<const char*>(t.data) + t.byte_offset,
                 static_cast<size_t>(genlab_util_numel(&t)) * ((t.dtype.bits + 7) / 8));
    const std::string digest = one.hex();
    const std::string line = std::string(state.names[i]) + '\0' + digest;
    whole.update(line);
    if (d.trained_names.count(state.names[i])) trained.update(line);
    d.tensors.emplace_back(state.names[i], digest);
  }
  d.whole = whole.hex();
  d.trained = trained.hex();
  return d;
}

// "a, b, c and 4 more": names for a message.
std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 5; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 5) out += " and " + std::to_string(names.size() - 5) + " more";
  return out;
}

// Ranks 1..N-1 of a run the local executor trains over N processes: children of rank 0
// running this binary, told their place by environment variables. They die with rank 0
// (PR_SET_PDEATHSIG), get its SIGINT and SIGTERM, log to train.rank<R>.log, and report on
// a pipe (their "error" line, the digests of their final state). A watcher thread reaps them:
// when one fails, rank 0 fails the node with that rank's reason rather than wait forever in
// a collective that rank will never join.
class LocalRanks {
 public:
  LocalRanks(const Ranks& ranks, const fs::path& dir, bool resume)
      : world_size_(ranks.world_size), dir_(dir), rendezvous_(ranks.rendezvous) {
    if (world_size_ > kMaxLocalProcesses)
      throw HostError("experiment.processes = " + std::to_string(world_size_) + ": the local executor starts at most " +
                      std::to_string(kMaxLocalProcesses));
    const std::string exe = fs::read_symlink("/proc/self/exe").string();
    std::vector<std::string> args = {exe, "worker", "train", dir.string()};
    if (resume) args.push_back("--resume");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    for (int32_t rank = 1; rank < world_size_; ++rank) {
      // Everything the child needs is built before fork: after it, only exec.
      std::vector<std::string> env;
      for (char** e = environ; *e != nullptr; ++e) {
        const std::string entry = *e;
        const std::string name = entry.substr(0, entry.find('='));
        if (name != kRankVariable && name != kWorldSizeVariable && name != kRendezvousVariable) env.push_back(entry);
      }
      env.push_back(std::string(kRankVariable) + "=" + std::to_string(rank));
      env.push_back(std::string(kWorldSizeVariable) + "=" + std::to_string(world_size_));
      env.push_back(std::string(kRendezvousVariable) + "=" + ranks.rendezvous.string());
      std::vector<char*> envp;
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      int out[2];
      if (::pipe2(out, O_CLOEXEC) != 0) throw HostError("cannot create a pipe for rank " + std::to_string(rank));
      const pid_t pid = ::fork();
      if (pid < 0) {
        ::close(out[0]);
        ::close(out[1]);
        throw HostError("cannot start rank " + std::to_string(rank) + " (fork failed)");
      }
      if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with rank 0, even after a kill -9 of it
        if (::getppid() != parent) ::_exit(1);
        ::dup2(out[1], STDOUT_FILENO);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
      }
      ::close(out[1]);
      ::fcntl(out[0], F_SETFL, O_NONBLOCK);
      Child child;
      child.rank = rank;
      child.pid = pid;
      child.out_fd = out[0];
      children_.push_back(std::move(child));
      forward_pids[forward_count.load()] = pid;
      forward_count.fetch_add(1);
    }
    watcher_ = std::thread([this] { watch(); });
  }

  ~LocalRanks() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      for (const auto& c : children_)
        if (!c.exited) ::kill(c.pid, SIGKILL);
    }
    changed_.notify_all();
    watcher_.join();
    forward_count.store(0);
    for (auto& c : children_) {
      if (!c.exited) ::waitpid(c.pid, nullptr, 0);
      ::close(c.out_fd);
    }
  }

  // Rank 0 failed with `own`: the error to report. Another rank's failure seen within
  // `wait` leads it, since rank 0's own error is then mostly Gloo's "connection closed".
  std::string failure_beside(const std::string& own, std::chrono::milliseconds wait) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (reporter_ == Reporter::Watcher) {  // it is reporting a rank's failure and ending this process
      lock.unlock();
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }
    reporter_ = Reporter::Main;
    changed_.wait_for(lock, wait, [&] { return first_failure_ != nullptr; });
    if (first_failure_ == nullptr) return own;
    const std::string theirs = describe(*first_failure_);
    return first_failure_->error == own ? own : theirs + "; rank 0: " + own;  // the same error everywhere: once
  }

  // Rank 0 ended its training: waits for the others, which end after the same step, and
  // returns the digests of their final states by tensor name, by rank from 1 (empty for a
  // rank that stopped cancelled). Throws naming a rank that failed or did not end within
  // `timeout`.
  std::vector<std::map<std::string, std::string>> finish(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (reporter_ == Reporter::Watcher) {
      lock.unlock();
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }
    reporter_ = Reporter::Main;
    changed_.wait_for(lock, timeout, [&] {
      return std::all_of(children_.begin(), children_.end(), [](const Child& c) { return c.exited; });
    });
    std::vector<std::map<std::string, std::string>> digests;
    for (const auto& c : children_) {
      if (!c.exited)
        throw HostError("rank " + std::to_string(c.rank) + " of " + std::to_string(world_size_) + " (pid " +
                        std::to_string(c.pid) + ") did not end within " + std::to_string(timeout.count()) +
                        " s of rank 0; log: " + log_of(c).string());
      if (!WIFEXITED(c.status) || (WEXITSTATUS(c.status) != 0 && WEXITSTATUS(c.status) != kWorkerCancelled))
        throw HostError(describe(c));
      digests.push_back(c.digests);
    }
    return digests;
  }

 private:
  struct Child {
    int32_t rank = 0;
    pid_t pid = -1;
    int out_fd = -1;
    bool exited = false;
    int status = 0;
    std::string out, error;  // its stdout; its "error" line
    std::map<std::string, std::string> digests;  // its "tensor DIGEST NAME" lines: its final state
  };

  fs::path log_of(const Child& c) const { return dir_ / ("train.rank" + std::to_string(c.rank) + ".log"); }

  std::string describe(const Child& c) const {
    std::string what = "rank " + std::to_string(c.rank) + " of " + std::to_string(world_size_) + " (pid " +
                       std::to_string(c.pid) + ") ";
    if (WIFSIGNALED(c.status)) {
      what += "was killed by signal " + std::to_string(WTERMSIG(c.status)) + " (" + strsignal(WTERMSIG(c.status)) + ")";
    } else {
      what += "exited with status " + std::to_string(WEXITSTATUS(c.status));
      if (!c.error.empty()) what += ": " + c.error;
    }
    return what + "; log: " + log_of(c).string();
  }

  static void drain(Child& c) {
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(c.out_fd, buffer, sizeof buffer)) > 0) c.out.append(buffer, static_cast<size_t>(got));
    size_t newline;
    while ((newline = c.out.find('\n')) != std::string::npos) {
      const std::string line = c.out.substr(0, newline);
      c.out.erase(0, newline + 1);
      if (line.rfind("error ", 0) == 0) {
        c.error = line.substr(6);
      } else if (line.rfind("tensor ", 0) == 0) {
        const size_t space = line.find(' ', 7);
        if (space != std::string::npos) c.digests[line.substr(space + 1)] = line.substr(7, space - 7);
      }
    }
  }

  // Polls the children (waitpid on their pids only: a plugin may have children of its own).
  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    std::optional<Clock::time_point> failed_at;
    while (!stop_) {
      for (auto& c : children_) {
        if (c.exited) continue;
        drain(c);
        int status = 0;
        if (::waitpid(c.pid, &status, WNOHANG) != c.pid) continue;
        drain(c);
        c.exited = true;
        c.status = status;
        const bool failed = !WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != kWorkerCancelled);
        if (failed && first_failure_ == nullptr) {
          first_failure_ = &c;
          failed_at = Clock::now();
        }
        changed_.notify_all();
      }
      // Rank 0 usually notices at once (Gloo's connection to the dead rank closes) and
      // reports through failure_beside(); if it is still busy after a grace, it is stuck
      // (waiting at the rendezvous for a rank that will never come): end it from here.
      if (failed_at && reporter_ == Reporter::None && Clock::now() - *failed_at > std::chrono::seconds(3)) {
        reporter_ = Reporter::Watcher;
        const std::string reason = describe(*first_failure_);
        spdlog::error("{}", reason);
        std::printf("error %s\n", reason.c_str());
        std::fflush(stdout);
        for (const auto& c : children_)
          if (!c.exited) ::kill(c.pid, SIGKILL);
        std::error_code ec;
        fs::remove(rendezvous_, ec);
        if (fs::is_empty(rendezvous_.parent_path(), ec)) fs::remove(rendezvous_.parent_path(), ec);
        ::_exit(1);
      }
      changed_.wait_for(lock, std::chrono::milliseconds(20));
    }
  }

  const int32_t world_size_;
  const fs::path dir_, rendezvous_;
  std::vector<Child> children_;
  const Child* first_failure_ = nullptr;
  // Who reports how rank 0 ended: its main thread, or the watcher when the main thread is stuck.
  enum class Reporter { None, Main, Watcher } reporter_ = Reporter::None;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::thread watcher_;
};

// Removes a rank 0's rendezvous file when the training ends (all ranks met long before), and
// its folder when that is left empty.
class RendezvousCleanup {
 public:
  explicit RendezvousCleanup(fs::path file) : file_(std::move(file)) {}
  ~RendezvousCleanup() {
    if (file_.empty()) return;
    std::error_code ec;
    fs::remove(file_, ec);
    if (fs::is_empty(file_.parent_path(), ec)) fs::remove(file_.parent_path(), ec);
  }
  RendezvousCleanup(const RendezvousCleanup&) = delete;
  RendezvousCleanup& operator=(const RendezvousCleanup&) = delete;

 private:
  fs::path file_;
};

// The training loop of one process; `ranks` says which of the run's processes it is (one,
// unless experiment.processes > 1). Only rank 0 writes the run's files.
int train_as(const fs::path& dir, bool resume, const RunPlan& r, const Ranks& ranks, LocalRanks* others) {
  const RunSettings& rs = r.settings;
  const bool writer = ranks.rank == 0;
  const int32_t world = ranks.world_size;
  DatasetInstance data(r.dataset.plugin, settings_for(r.dataset, r), r.dataset.params);
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
  // Local processes on "cuda" take a GPU each (NCCL wants one per process); under Slurm each
  // task sees the GPUs that --gpus-per-task gave it, from cuda:0.
  DLDevice device = parse_device(rs.device);
  if (world > 1 && rs.device == "cuda" && (ranks.starts_others || ranks.started_by_rank0)) device.device_id = ranks.rank;
  ModelInstance model(r.model.plugin, std::move(model_settings), r.model.params, device, &data.info());
  const int64_t train_size = data.split_size("train");
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

  LoopState s;
  const fs::path checkpoint = checkpoint_file(dir);
  const fs::path losses_path = dir / "losses.jsonl";
  if (resume && fs::exists(checkpoint)) {
    s = load_checkpoint_state(model, r, checkpoint, train_size, total);
    if (writer) truncate_losses(losses_path, s.step);
    spdlog::info("resumed {} from its checkpoint at step {}", r.name, s.step);
  } else {
    s.rng.seed(static_cast<uint64_t>(r.seed));
    s.order = first_indices(train_size);
    s.cursor = s.order.size();  // shuffles at the first step
    if (writer) write_file_atomic(losses_path, "", Durability::AtomicOnly);
  }
  std::ofstream losses_log;
  if (writer) losses_log.open(losses_path, std::ios::app);

  // Every process draws the same global batch; rank r keeps its contiguous r-th 1/N.
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
    if (world > 1) indices = std::vector<int64_t>(indices.begin() + ranks.rank * shard, indices.begin() + (ranks.rank + 1) * shard);
    return indices;
  };
  auto batch_seed = [&](int64_t step) { return static_cast<uint64_t>(r.seed) * 1000003ULL + static_cast<uint64_t>(step); };

  const auto started = Clock::now();
  auto elapsed = [&] { return s.elapsed + std::chrono::duration<double>(Clock::now() - started).count(); };
  auto steps_left = [&] { return total == 0 || s.step < total; };
  auto time_spent = [&] { return rs.budget.seconds > 0 && elapsed() >= rs.budget.seconds; };
  // With several processes, the clock and the signals only vote (see below): every
  // process must stop after the same step.
  auto budget_left = [&] { return steps_left() && (world > 1 || !time_spent()); };
  auto checkpoint_now = [&] {
    if (!writer) return;
    losses_log.flush();
    LoopState saved = s;
    saved.elapsed = elapsed();
    save_checkpoint(model, r, saved, checkpoint);
  };
  auto cancelled = [&] {
    checkpoint_now();
    if (writer) spdlog::warn("cancelled at step {}; checkpoint saved, resume with --resume", s.step);
    else spdlog::warn("cancelled at step {}, with the other ranks", s.step);
    if (others != nullptr) others->finish(std::chrono::seconds(60));
    return kWorkerCancelled;
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
      if (world == 1 && cancel_flag->load()) {
        before_draw.step = s.step;
        std::swap(s, before_draw);
        return cancelled();
      }
      TensorMapPtr batch = prefetch.take();
      const int64_t step = s.step;
      before_draw = s;
      if (total == 0 || step + 1 < total) prefetch.request(next_indices(), batch_seed(step + 1));
      // Several processes agree in the step on whether to stop after it (the largest wish:
      // 0 go on, 1 the time budget is spent, 2 a signal asked to stop).
      int32_t stop = 0;
      try {
        if (world > 1) losses = model.train_step(*batch, step, cancel_flag->load() ? 2 : time_spent() ? 1 : 0, &stop);
        else losses = model.train_step(*batch, step);
      } catch (const HostError& e) {
        // The plugin and the call are in the message; the step is the host's to add.
        throw HostError("run " + r.name + ", step " + std::to_string(step) + ": " + e.what());
      }
      if (losses.empty()) throw HostError("train_step of plugin '" + r.model.plugin_name + "' returned no losses");
      if (!std::isfinite(losses.front().value))
        throw HostError("loss '" + losses.front().name + "' is " + std::to_string(losses.front().value) + " at step " +
                        std::to_string(step) + ": stopped early (lower the learning rate or check the data)");
      s.step = step + 1;
      if (writer) {
        losses_log << loss_line(step, losses);
        if (Clock::now() - last_report > std::chrono::milliseconds(200)) {
          report_progress(s.step, total, losses);
          last_report = Clock::now();
        }
      }
      if (rs.checkpoint_every > 0 && s.step % rs.checkpoint_every == 0 && budget_left() && stop == 0) {
        const LoopState live = s;
        s = before_draw;
        s.step = live.step;
        checkpoint_now();
        s = live;
      }
      if (stop == 2) {
        before_draw.step = s.step;
        s = before_draw;
        return cancelled();
      }
      if (stop == 1) break;
    }
  }
  before_draw.step = s.step;
  s = before_draw;
  checkpoint_now();
  if (writer) report_progress(s.step, total, losses);

  // The ranks must end with the same trained state: each logs its digests, and a local
  // rank 0 compares the others' with its own, tensor by tensor.
  if (world > 1) {
    const StateDigest mine = digest_state(*model.export_state());
    spdlog::info("rank {} of {}: final state checksum {}, trained tensors {}, after {} steps", ranks.rank, world,
                 mine.whole, mine.trained, s.step);
    if (ranks.started_by_rank0) {
      for (const auto& [name, digest] : mine.tensors) std::printf("tensor %s %s\n", digest.c_str(), name.c_str());
      std::fflush(stdout);
    }
    if (others != nullptr) {
      const auto theirs = others->finish(std::chrono::seconds(60));
      for (size_t i = 0; i < theirs.size(); ++i) {
        if (theirs[i].empty()) continue;
        std::vector<std::string> trained, untrained;
        for (const auto& [name, digest] : mine.tensors) {
          const auto found = theirs[i].find(name);
          if (found != theirs[i].end() && found->second == digest) continue;
          (mine.trained_names.count(name) ? trained : untrained).push_back(name);
        }
        const std::string rank = "rank " + std::to_string(i + 1);
        if (!trained.empty())
          throw HostError("the processes diverged: " + rank + " ended with other values than rank 0 in " +
                          std::to_string(trained.size()) + " trained tensor(s): " + join_names(trained) +
                          " (logs: " + dir.string() + "/train.rank*.log)");
        if (!untrained.empty())
          spdlog::info("{} keeps its own values of {}: statistics of its shards (BatchNorm's running means); "
                       "rank 0's are saved", rank, join_names(untrained));
      }
    }
  }
  if (!writer) return 0;

  toml::table final_losses;
  for (const auto& l : losses) final_losses.insert(l.name, l.value);
  // A local rank 0 has reaped the other ranks: their CPU time counts too.
  const double cpu = cpu_seconds() + (others != nullptr ? cpu_seconds(RUSAGE_CHILDREN) : 0.0);
  toml::table done{{"steps", s.step},
                   {"seconds", elapsed()},
                   {"cpu_seconds", cpu},
                   {"peak_rss_mb", peak_rss_mb()},
                   {"final_losses", std::move(final_losses)}};
  if (world > 1) done.insert("processes", world);
  write_toml(done_file(dir, NodeKind::Train), done);
  return 0;
}

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

}  // namespace

void load_weights(ModelInstance& model, const RunPlan& r, const fs::path& checkpoint) {
  load_checkpoint_state(model, r, checkpoint);
}

namespace {

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
