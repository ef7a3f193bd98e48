// Shared by the model plugins' tests: a model plugin beside a real dataset, trained batch
// after batch through the host, and small helpers to read and make tensor maps.
#pragma once

#include "catch.hpp"

#include <cstring>
#include <filesystem>
#include <stb_image_write.h>
#include <memory>
#include <string>
#include <vector>

#include "genlab/util/error.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/genlab_util.h"
#include "support.hpp"

namespace genlab::test {

inline std::shared_ptr<const Plugin> builtin(const std::string& name) {
  return load_plugin(read_plugin_manifest(builtin_plugin(name)));
}

inline HostSettings settings(uint64_t seed = 0) {
  HostSettings s;
  s.plugin_name = "test";
  s.seed = seed;
  return s;
}

// The error a dataset plugin's create gives for `config` (a test failure if it opens).
inline std::string create_error(const std::string& plugin, const toml::table& config) {
  try {
    DatasetInstance data(builtin(plugin), settings(), config);
  } catch (const HostError& e) {
    return e.what();
  }
  FAIL("the dataset opened");
  return {};
}

// A model plugin with a dataset (by default the real 8x8 digits): builds models and trains
// them on consecutive batches of the training split.
struct ModelOnData {
  std::shared_ptr<const Plugin> plugin;
  DatasetInstance data;
  toml::table config;
  ModelOnData(const std::string& model, toml::table config, const std::string& dataset = "digits-csv",
              const toml::table& dataset_config = {})
      : plugin(builtin(model)), data(builtin(dataset), settings(), dataset_config), config(std::move(config)) {}
  std::unique_ptr<ModelInstance> make(uint64_t seed = 5) {
    return std::make_unique<ModelInstance>(plugin, settings(seed), config, DLDevice{kDLCPU, 0}, &data.info());
  }
  // The first loss of each step.
  std::vector<double> train(ModelInstance& model, int steps, int batch = 64) {
    std::vector<double> losses;
    for (int s = 0; s < steps; ++s) {
      std::vector<int64_t> idx;
      for (int i = 0; i < batch; ++i) idx.push_back((s * batch + i) % data.split_size("train"));
      TensorMapPtr b = data.get_batch("train", idx, 0);
      losses.push_back(model.train_step(*b, s).at(0).value);
    }
    return losses;
  }
  // The first n examples of a split.
  TensorMapPtr examples(const std::string& split, int64_t n) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    return data.get_batch(split, idx, 0);
  }
};

// A w x h PNG of `channels` channels, every value `value`.
inline void write_png(const std::filesystem::path& file, int w, int h, int channels, unsigned char value) {
  std::vector<unsigned char> pixels(static_cast<size_t>(w * h * channels), value);
  std::filesystem::create_directories(file.parent_path());
  REQUIRE(stbi_write_png(file.c_str(), w, h, channels, pixels.data(), w * channels));
}

inline double mean(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / static_cast<double>(to - from);
}

// The values of a float32 tensor of a map (the first by default).
inline std::vector<float> floats(const genlab_tensor_map& map, size_t index = 0) {
  const DLTensor& t = map.tensors[index]->dl_tensor;
  const float* x = static_cast<const float*>(t.data);
  return std::vector<float>(x, x + genlab_util_numel(&t));
}

// Builds a map of CPU tensors from values: MapBuilder().add_float(...).add_int64(...).build().
class MapBuilder {
 public:
  MapBuilder& add_float(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& values) {
    return add(name, genlab_util_dtype_float32(), shape, values.data(), values.size() * sizeof(float));
  }
  // A vector, or with `shape` a tensor of that shape.
  MapBuilder& add_int64(const std::string& name, const std::vector<int64_t>& values, std::vector<int64_t> shape = {}) {
    if (shape.empty()) shape = {static_cast<int64_t>(values.size())};
    return add(name, genlab_util_dtype_int64(), shape, values.data(), values.size() * sizeof(int64_t));
  }
  TensorMapPtr build() {
    TensorMapPtr map(genlab_util_tensor_map_new(tensors_.size()));
    for (size_t i = 0; i < tensors_.size(); ++i)
      genlab_util_tensor_map_set(map.get(), i, tensors_[i].first.c_str(), tensors_[i].second);
    tensors_.clear();
    return map;
  }

 private:
  MapBuilder& add(const std::string& name, DLDataType dtype, const std::vector<int64_t>& shape, const void* data,
                  size_t bytes) {
    DLManagedTensor* t = genlab_util_cpu_tensor_new(dtype, static_cast<int32_t>(shape.size()), shape.data());
    REQUIRE(static_cast<size_t>(genlab_util_numel(&t->dl_tensor)) * dtype.bits / 8 == bytes);
    std::memcpy(t->dl_tensor.data, data, bytes);
    tensors_.emplace_back(name, t);
    return *this;
  }
  std::vector<std::pair<std::string, DLManagedTensor*>> tensors_;
};

inline TensorMapPtr float_map(const std::string& name, const std::vector<int64_t>& shape,
                              const std::vector<float>& values) {
  return MapBuilder().add_float(name, shape, values).build();
}

}  // namespace genlab::test
