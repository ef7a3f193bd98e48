// `genlab plugins check` of a model: create (and refuse wrongly typed parameters), train on a
// real batch, generate, score, and a bit-identical state round trip, with the ownership of
// every tensor tracked.
#include <cmath>
#include <functional>

#include "conformance_checker.hpp"

namespace genlab::conformance {
namespace {

using MakeModel = std::function<std::unique_ptr<ModelInstance>(const toml::table&)>;

const genlab_tensor_map kEmpty{GENLAB_TENSOR_MAP_STRUCT_SIZE, 0, nullptr, nullptr, nullptr};

void check_training(Reporter& r, ModelInstance& model, const genlab_tensor_map& batch) {
  auto borrowed = members(batch);
  attempt(r, "model: train_step returns finite losses", [&] {
    std::string detail;
    for (int step = 0; step < 2; ++step) {
      auto losses = model.train_step(batch, step);
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
  expect_error(r, "model: train_step on an empty batch is an error", [&] { model.train_step(kEmpty, 0); });
}

// A model that maps inputs to outputs (a classifier) gets the batch and answers per row; a
// radiance field renders the views of a view split (their poses).
void check_generate(Reporter& r, const Plugin& plugin, ModelInstance& model, DatasetInstance& data,
                    const genlab_tensor_map& batch) {
  const bool needs_inputs = plugin.has(GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS);
  TensorMapPtr views;
  if (is_rays(data.info()))
    for (size_t s = 0; s < data.info().split_count && !views; ++s)
      if (std::string split = data.info().split_names[s]; split != "train")
        views = data.get_batch(split, range(std::min<int64_t>(2, data.info().split_sizes[s])), 1);
  const genlab_tensor_map* inputs = views ? views.get() : needs_inputs ? &batch : nullptr;
  // The host checks the outputs' rows and, but for a model that needs inputs, their shape
  // against the data's (ModelInstance::generate); a breach fails this check.
  attempt(r,
          inputs ? "model: generate returns one row per input row (it needs inputs)"
                 : "model: generate returns samples of the data's shape, with the batch dimension asked for",
          [&] {
            const int64_t rows = inputs ? inputs->tensors[0]->dl_tensor.shape[0] : 3;
            TensorMapPtr out = model.generate(rows, nullptr, inputs);
            track(*out, "generate");
            if (out->count == 0) throw HostError("generate returned an empty map");
            const DLTensor& first = out->tensors[0]->dl_tensor;
            if (first.ndim < 1 || first.shape[0] != rows)
              throw HostError(std::string("output '") + out->names[0] + "' does not have " + std::to_string(rows) +
                              " rows");
            std::string names;
            for (size_t i = 0; i < out->count; ++i) names += std::string(names.empty() ? "" : ", ") + out->names[i];
            release_and_verify(r, "generate map", std::move(out));
            return names;
          });
  expect_error(r, "model: generate with a negative count is an error", [&] { model.generate(-1, nullptr, nullptr); });
}

void check_score(Reporter& r, const Plugin& plugin, ModelInstance& model, const genlab_tensor_map& batch, int64_t n) {
  if (!model.can_score()) {
    r.result("model: declares no score", plugin.model().score == nullptr || !plugin.has(GENLAB_CAPABILITY_SCORE),
             "no likelihood metrics will be asked of it");
    return;
  }
  expect_error(r, "model: score on an empty batch is an error", [&] { model.score(kEmpty); });
  // The host checks every score tensor's rows and dtype (ModelInstance::score).
  attempt(r, "model: score returns one value per example", [&] {
    TensorMapPtr scores = model.score(batch);
    track(*scores, "score");
    if (scores->count == 0) throw HostError("score returned an empty map");
    const DLTensor& s = scores->tensors[0]->dl_tensor;
    if (s.ndim != 1 || s.shape[0] != n) throw HostError(std::string("score '") + scores->names[0] + "' is not [N]");
    const std::string detail = std::string("'") + scores->names[0] + "' [" + std::to_string(n) + "]";
    release_and_verify(r, "score map", std::move(scores));
    return detail;
  });
}

void check_state_round_trip(Reporter& r, ModelInstance& model, const MakeModel& make_model) {
  attempt(r, "model: state round trip (export, import into a new model, export again) is bit-identical", [&] {
    TensorMapPtr state = model.export_state();
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
  expect_error(r, "model: import_state of an empty map is an error", [&] { model.import_state(kEmpty); });
}

}  // namespace

void check_model(Reporter& r, const std::shared_ptr<const Plugin>& plugin, const CheckOptions& options) {
  std::shared_ptr<const Plugin> data_plugin;
  if (!attempt(r, "model: a dataset to feed it", [&] {
        data_plugin = find_dataset_for(*plugin, options, r);
        return "'" + data_plugin->name() + "'";
      }))
    return;
  DatasetInstance data(data_plugin, settings(data_plugin->name()), toml::table{});
  const DLDevice cpu{kDLCPU, 0};
  const MakeModel make_model = [&](const toml::table& config) {
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
  check_training(r, *model, *batch);
  check_generate(r, *plugin, *model, data, *batch);
  check_score(r, *plugin, *model, *batch, n);
  check_state_round_trip(r, *model, make_model);
  model.reset();
  release_and_verify(r, "get_batch map (after the model used it)", std::move(batch));
}

}  // namespace genlab::conformance
