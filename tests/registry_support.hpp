// Registry test helpers: a registration request with a real checkpoint file, and the message
// of the error a body raises.
#pragma once

#include <cmath>
#include <functional>
#include <string>

#include "catch.hpp"
#include "genlab/core/safetensors.hpp"
#include "genlab/genlab_util.h"
#include "genlab/registry/registry.hpp"
#include "support.hpp"

namespace genlab::test {

using namespace genlab::registry;
namespace fs = std::filesystem;

// A registration of run `run` with a checkpoint file holding `value`.
inline NewVersion request(const TempDir& dir, const std::string& model, const std::string& run, float value = 1.5f) {
  genlab::TensorMapPtr map(genlab_util_tensor_map_new(1));
  const int64_t shape[1] = {3};
  DLManagedTensor* w = genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), 1, shape);
  static_cast<float*>(w->dl_tensor.data)[0] = value;
  genlab_util_tensor_map_set(map.get(), 0, "weight", w);
  const fs::path checkpoint = dir.path() / ("ckpt-" + run + ".safetensors");
  genlab::write_safetensors(checkpoint, *map, {{"run_id", run}});
  NewVersion v;
  v.model = model;
  v.run = RunRecord{run, "exp", "/m.toml", "seed = 1\n", 1, "finished", 2.5, "host", 0};
  v.eval_id = "eval-" + run;
  v.model_plugin = PluginBuild{"vae", "1.0.0", "1.0", "abc123"};
  v.dataset_plugin = "idx-images";
  v.dataset_params = "path = \"/data/mnist\"\n";
  v.dataset_hash = "d4t4";
  v.config = "latent = 20\nlr = 0.001\n";
  v.metrics = {{"nll", 95.5, "lower", "test"}, {"broken", std::nan(""), "lower", "test"}};
  v.files = {{checkpoint, "checkpoint"}};
  return v;
}

inline std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const std::exception& e) {
    return e.what();
  }
  FAIL("no error was raised");
  return {};
}

}  // namespace genlab::test
