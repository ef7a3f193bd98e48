// The training checkpoint: writes the model's state and the host's loop state to one
// safetensors file, and reads it back after checking it. Separate so that one module alone
// knows the checkpoint format (its name, its metadata keys, the host's order tensor) and
// checks format and version on load; the training loop and evaluation only call it.
#include "checkpoint.hpp"
#include "worker_parts.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>

#include "genlab/core/safetensors.hpp"
#include "genlab/util/error.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kOrderTensor = "genlab.host.order";
constexpr const char* kCheckpointFormat = "genlab.checkpoint.1";

// "float32 [3, 4]"
std::string tensor_text(const DLTensor& t) {
  std::string out = (t.dtype.code == kDLFloat    ? "float"
                     : t.dtype.code == kDLInt    ? "int"
                     : t.dtype.code == kDLUInt   ? "uint"
                     : t.dtype.code == kDLBfloat ? "bfloat"
                                                 : "type" + std::to_string(t.dtype.code)) +
                    std::to_string(t.dtype.bits) + " [";
  for (int32_t d = 0; d < t.ndim; ++d) out += (d ? ", " : "") + std::to_string(t.shape[d]);
  return out + "]";
}

// A checkpoint's metadata value as a number of type T, or a HostError naming the file.
template <class T>
T checkpoint_number(const fs::path& file, const std::string& key, const std::string& text) {
  std::istringstream in(text);
  T value{};
  if (!(in >> value) || !in.eof())
    throw HostError(file.string() + ": checkpoint metadata '" + key + "' is \"" + text.substr(0, 40) +
                    "\", not a number");
  return value;
}

// A checkpoint's metadata value, or a HostError naming the file and the missing key.
std::string metadata_value(const fs::path& file, const SafetensorsContents& contents, const char* key) {
  auto it = contents.metadata.find(key);
  if (it == contents.metadata.end()) throw HostError(file.string() + ": checkpoint lacks metadata '" + key + "'");
  return it->second;
}

// The checkpoint is in this format and of this run.
void check_format_and_run(const fs::path& file, const SafetensorsContents& contents, const RunPlan& r) {
  auto meta = [&](const char* key) { return metadata_value(file, contents, key); };
  if (meta("format") != kCheckpointFormat)
    throw HostError(file.string() + ": checkpoint format '" + meta("format").substr(0, 40) + "', expected '" +
                    kCheckpointFormat + "' (written by another genlab?)");
  if (meta("run_id") != r.id)
    throw HostError(file.string() + ": checkpoint of run " + meta("run_id").substr(0, 64) + ", not of this run " +
                    r.id);
}

// The host's loop state from the metadata (all but the order), the step within the budget.
LoopState loop_state_from_metadata(const fs::path& file, const SafetensorsContents& contents, int64_t total_steps) {
  auto meta = [&](const char* key) { return metadata_value(file, contents, key); };
  LoopState s;
  s.step = checkpoint_number<int64_t>(file, "step", meta("step"));
  s.cursor = checkpoint_number<size_t>(file, "cursor", meta("cursor"));
  s.elapsed = checkpoint_number<double>(file, "elapsed_seconds", meta("elapsed_seconds"));
  if (contents.metadata.count("cpu_seconds"))
    s.cpu_seconds = checkpoint_number<double>(file, "cpu_seconds", meta("cpu_seconds"));
  std::istringstream rng(meta("host_rng"));
  if (!(rng >> s.rng)) throw HostError(file.string() + ": checkpoint metadata 'host_rng' is not a generator state");
  if (s.step < 0 || (total_steps > 0 && s.step > total_steps))
    throw HostError(file.string() + ": checkpoint at step " + std::to_string(s.step) +
                    ", outside the run's budget [0, " + std::to_string(total_steps) + "]");
  if (!std::isfinite(s.elapsed) || s.elapsed < 0)
    throw HostError(file.string() + ": checkpoint metadata 'elapsed_seconds' is " + meta("elapsed_seconds"));
  if (!std::isfinite(s.cpu_seconds) || s.cpu_seconds < 0)
    throw HostError(file.string() + ": checkpoint metadata 'cpu_seconds' is " + meta("cpu_seconds"));
  return s;
}

// Puts the host's order tensor into `order`; returns the rest, the model's tensors.
BorrowedMap split_off_host_order(const fs::path& file, const SafetensorsContents& contents,
                                 std::vector<int64_t>& order) {
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
    order.assign(values, values + genlab_util_numel(&t));
    has_order = true;
  }
  if (!has_order) throw HostError(file.string() + ": checkpoint lacks the host's data order '" + kOrderTensor + "'");
  return model_part;
}

// The host's order is a permutation of the train split, and the cursor within it.
void check_order(const fs::path& file, const LoopState& s, int64_t train_size) {
  std::vector<int64_t> sorted = s.order;
  std::sort(sorted.begin(), sorted.end());
  bool permutation = static_cast<int64_t>(sorted.size()) == train_size;
  for (size_t i = 0; permutation && i < sorted.size(); ++i) permutation = sorted[i] == static_cast<int64_t>(i);
  if (!permutation)
    throw HostError(file.string() + ": checkpoint's data order is not a permutation of the " +
                    std::to_string(train_size) + " training examples (another dataset, or a damaged file)");
  if (s.cursor > s.order.size())
    throw HostError(file.string() + ": checkpoint's cursor " + std::to_string(s.cursor) + " is past the " +
                    std::to_string(s.order.size()) + " training examples");
}

// Names, dtypes and shapes as the model exports them now: a plugin is never handed a
// tensor it did not make (an empty index tensor crashed one).
void check_against_model(ModelInstance& model, const RunPlan& r, const fs::path& file, const BorrowedMap& model_part) {
  TensorMapPtr expected = model.export_state();
  std::map<std::string, const DLTensor*> wanted;
  for (size_t i = 0; i < expected->count; ++i) wanted[expected->names[i]] = &expected->tensors[i]->dl_tensor;
  for (size_t i = 0; i < model_part.names.size(); ++i) {
    const std::string name = model_part.names[i];
    const DLTensor& got = model_part.tensors[i]->dl_tensor;
    auto it = wanted.find(name);
    if (it == wanted.end())
      throw HostError(file.string() + ": checkpoint tensor '" + name + "' is not part of plugin '" +
                      r.model.plugin_name + "''s state");
    const DLTensor& want = *it->second;
    const bool same_shape = got.ndim == want.ndim && std::equal(got.shape, got.shape + got.ndim, want.shape);
    if (got.dtype.code != want.dtype.code || got.dtype.bits != want.dtype.bits || !same_shape)
      throw HostError(file.string() + ": checkpoint tensor '" + name + "' is " + tensor_text(got) +
                      ", the model's is " + tensor_text(want));
    wanted.erase(it);
  }
  if (!wanted.empty())
    throw HostError(file.string() + ": checkpoint lacks tensor '" + wanted.begin()->first + "' of plugin '" +
                    r.model.plugin_name + "''s state");
}

}  // namespace

int64_t checkpoint_trainable_parameters(const fs::path& file) {
  const SafetensorsContents contents = read_safetensors(file);
  const auto found = contents.metadata.find(kTrainableParametersKey);
  if (found == contents.metadata.end()) return -1;
  return checkpoint_number<int64_t>(file, kTrainableParametersKey, found->second);
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
  Metadata metadata = {{"format", kCheckpointFormat},
                       {"run_id", r.id},
                       {"plugin", r.model.plugin_name},
                       {"plugin_version", r.model.plugin->description().version},
                       {"config",
                        [&] {
                          std::ostringstream text;
                          text << r.model.params;
                          return text.str();
                        }()},
                       {"step", std::to_string(s.step)},
                       {"cursor", std::to_string(s.cursor)},
                       {"host_rng", rng.str()},
                       {"elapsed_seconds", std::to_string(s.elapsed)},
                       {"cpu_seconds", std::to_string(s.cpu_seconds)}};
  // The model's own count (ABI 1.6), read back by evaluation as cost.parameters.
  if (model.trainable_parameters() >= 0)
    metadata[kTrainableParametersKey] = std::to_string(model.trainable_parameters());
  genlab_tensor_map view = all.view();
  try {
    write_safetensors(file, view, metadata);
  } catch (...) {
    order->deleter(order);
    throw;
  }
  order->deleter(order);
}

LoopState load_checkpoint_state(ModelInstance& model, const RunPlan& r, const fs::path& file, int64_t train_size,
                                int64_t total_steps) {
  SafetensorsContents contents = read_safetensors(file);
  check_format_and_run(file, contents, r);
  LoopState s = loop_state_from_metadata(file, contents, total_steps);
  // The model gets its own tensors; the host keeps the order.
  BorrowedMap model_part = split_off_host_order(file, contents, s.order);
  if (train_size >= 0) check_order(file, s, train_size);
  check_against_model(model, r, file, model_part);
  genlab_tensor_map view = model_part.view();
  model.import_state(view);
  return s;
}

void load_weights(ModelInstance& model, const RunPlan& r, const fs::path& checkpoint) {
  load_checkpoint_state(model, r, checkpoint);
}

}  // namespace genlab
