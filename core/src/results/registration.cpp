#include "genlab/core/registration.hpp"
#include "genlab/core/samples.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>
#include <stb_image_write.h>

#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"
#include "genlab/core/safetensors.hpp"
#include "genlab/util/files.hpp"
#include "genlab/util/sha256.hpp"
#include "genlab/core/workspace.hpp"
#include "genlab/genlab_util.h"

namespace genlab {
namespace fs = std::filesystem;

namespace {

registry::PluginBuild build_of(const Component& c) {
  const auto& api = c.plugin->api();
  return registry::PluginBuild{c.plugin_name, c.plugin->description().version,
                               std::to_string(api.abi_major) + "." + std::to_string(api.abi_minor),
                               library_sha256(c.plugin->library())};
}

std::string host_info() {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  utsname u{};
  uname(&u);
  return std::string(name) + "; " + u.sysname + " " + u.release + " " + u.machine + "; " +
         std::to_string(std::thread::hardware_concurrency()) + " cores";
}

}  // namespace

std::string dataset_content_hash(const toml::table& params) {
  Sha256 all;
  bool any = false;
  for (const auto& [key, node] : params) {
    const auto* s = node.as_string();
    if (s == nullptr) continue;
    const fs::path path = s->get();
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_regular_file(path, ec)) {
      files.push_back(path);
    } else if (fs::is_directory(path, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(path, ec))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
    }
    for (const auto& f : files) {
      all.update(std::string(key.str()) + "\n" +
                 fs::relative(f, fs::is_directory(path) ? path : path.parent_path()).string() + "\n" + sha256_file(f) +
                 "\n");
      any = true;
    }
  }
  return any ? all.hex() : std::string();
}

registry::Version register_run(registry::Registry& reg, const Experiment& e, const RunPlan& r, const fs::path& run_dir,
                               const fs::path& eval_dir) {
  const auto train_done = read_toml(done_file(run_dir, NodeKind::Train));
  const auto eval_done = read_toml(done_file(eval_dir, NodeKind::Evaluate));
  if (!train_done || !eval_done) throw HostError(run_dir.string() + ": run not finished; nothing to register");
  registry::NewVersion v;
  v.model = r.is_feature_net ? r.name : r.model.name;  // a feature network is named by its dataset
  v.run = registry::RunRecord{r.id,
                              e.name,
                              e.file.string(),
                              toml_text(r.resolved()),
                              r.seed,
                              "finished",
                              (*train_done)["seconds"].value_or(0.0),
                              host_info(),
                              0};
  v.eval_id = r.eval_id;
  v.model_plugin = build_of(r.model);
  v.other_plugins.push_back(build_of(r.dataset));
  for (const auto& m : r.metrics) v.other_plugins.push_back(build_of(m));
  v.dataset_plugin = r.dataset.plugin_name;
  v.dataset_params = toml_text(r.dataset.params);
  v.dataset_hash = dataset_content_hash(r.dataset.params);
  v.config = toml_text(r.model.params);
  const toml::table* directions = (*eval_done)["directions"].as_table();
  if (const toml::table* metrics = (*eval_done)["metrics"].as_table())
    for (const auto& [k, node] : *metrics) {
      const double value = node.is_number() ? node.value_or(0.0) : std::nan("");
      const std::string direction = directions ? (*directions)[k.str()].value_or(std::string("none")) : "none";
      v.metrics.push_back(registry::Metric{std::string(k.str()), value, direction, r.settings.eval_split});
    }
  if (const toml::table* losses = (*train_done)["final_losses"].as_table())
    for (const auto& [k, node] : *losses)
      v.metrics.push_back({"train." + std::string(k.str()), node.value_or(std::nan("")), "lower", "train"});
  v.files.push_back({checkpoint_file(run_dir), "checkpoint"});
  if (fs::exists(eval_dir / "samples.safetensors")) v.files.push_back({eval_dir / "samples.safetensors", "samples"});
  v.files.push_back({log_file(run_dir, NodeKind::Train), "log"});
  return reg.register_version(v);
}

std::string samples_png(const genlab_tensor_map& outputs) {
  if (outputs.count == 0) throw HostError("the model generated nothing to draw");
  const DLTensor& t = outputs.tensors[0]->dl_tensor;
  if (!genlab_util_is_cpu_compact(&t, genlab_util_dtype_float32()))
    throw HostError(std::string("output '") + outputs.names[0] + "' is not a compact float32 CPU tensor");
  const float* x = static_cast<const float*>(t.data) + t.byte_offset / sizeof(float);
  std::vector<unsigned char> pixels;
  int width = 0, height = 0, channels = 0;
  if (t.ndim == 4 && (t.shape[1] == 1 || t.shape[1] == 3)) {  // images [N, C, H, W] in [0, 1]: a grid
    const int64_t n = t.shape[0], c = t.shape[1], h = t.shape[2], w = t.shape[3];
    const int64_t columns = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
    const int64_t rows = (n + columns - 1) / columns;
    const int64_t pad = 2;
    width = static_cast<int>(columns * (w + pad) + pad);
    height = static_cast<int>(rows * (h + pad) + pad);
    channels = static_cast<int>(c);
    pixels.assign(static_cast<size_t>(width * height * channels), 255);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t xx = 0; xx < w; ++xx) {
            const float v = std::clamp(x[((i * c + ch) * h + y) * w + xx], 0.0f, 1.0f);
            const int64_t px = pad + (i % columns) * (w + pad) + xx, py = pad + (i / columns) * (h + pad) + y;
            pixels[static_cast<size_t>((py * width + px) * channels + ch)] =
                static_cast<unsigned char>(v * 255.0f + 0.5f);
          }
  } else if (t.ndim == 2 && t.shape[1] == 2) {  // 2-D points: a scatter plot, axes fitted to the data
    const int64_t n = t.shape[0];
    width = height = 512;
    channels = 1;
    pixels.assign(static_cast<size_t>(width * height), 255);
    float lo = 1e30f, hi = -1e30f;
    for (int64_t i = 0; i < 2 * n; ++i)
      if (std::isfinite(x[i])) lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    const float span = hi > lo ? (hi - lo) * 1.1f : 1.0f, mid = (hi + lo) / 2;
    for (int64_t i = 0; i < n; ++i) {
      const int px = static_cast<int>((x[2 * i] - mid) / span * width + width / 2);
      const int py = static_cast<int>(height / 2 - (x[2 * i + 1] - mid) / span * height);
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx)
          if (px + dx >= 0 && px + dx < width && py + dy >= 0 && py + dy < height)
            pixels[static_cast<size_t>((py + dy) * width + px + dx)] = 0;
    }
  } else {
    throw HostError(std::string("cannot draw output '") + outputs.names[0] +
                    "': expected images [N, 1 or 3, H, W] or points [N, 2] (for a text model, --out FILE.txt)");
  }
  std::string bytes;
  const auto append = [](void* out, void* data, int size) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &bytes, width, height, channels, pixels.data(), width * channels))
    throw HostError("cannot encode the samples as a PNG");
  return bytes;
}

void write_samples_png(const genlab_tensor_map& outputs, const fs::path& png) {
  write_file_atomic(png, samples_png(outputs), Durability::AtomicOnly);
}

void write_samples_text(const genlab_tensor_map& outputs, const fs::path& file) {
  const long index = genlab_util_tensor_map_find(&outputs, "text");
  if (index < 0) throw HostError("the model generated no 'text' output to write to " + file.string());
  const DLTensor& t = outputs.tensors[index]->dl_tensor;
  const DLDataType u8{kDLUInt, 8, 1};
  if (t.ndim != 2 || !genlab_util_is_cpu_compact(&t, u8))
    throw HostError("output 'text' is not a compact uint8 CPU tensor [N, L]");
  const char* bytes = static_cast<const char*>(t.data) + t.byte_offset;
  std::string out;
  for (int64_t i = 0; i < t.shape[0]; ++i) {
    const char* row = bytes + i * t.shape[1];
    out += "----- sample " + std::to_string(i + 1) + " -----\n" +
           std::string(row, strnlen(row, static_cast<size_t>(t.shape[1]))) + "\n";
  }
  write_file_atomic(file, out);
}

double sample_version(registry::Registry& reg, const std::string& ref, int64_t count, const toml::table& options,
                      const fs::path& png, const std::vector<fs::path>& plugin_paths) {
  if (count <= 0) throw HostError("--n must be > 0, got " + std::to_string(count));
  const registry::Version v = reg.resolve(ref);
  const Discovery found = discover_plugins(plugin_search_path(plugin_paths));
  auto model_plugin = load_plugin(find_plugin(found, v.plugin.name));
  const std::string sha = library_sha256(model_plugin->library());
  if (sha != v.plugin.library_sha256)
    throw HostError(v.ref() + " was trained with plugin '" + v.plugin.name + "' library sha256 " +
                    v.plugin.library_sha256.substr(0, 16) + "..., but " + model_plugin->library().string() + " has " +
                    sha.substr(0, 16) + "...: a different build; rebuild the recorded version or retrain");
  check_generate_options(*model_plugin, options);
  auto data_plugin = load_plugin(find_plugin(found, v.dataset_plugin));
  const toml::table data_params = toml::parse(v.dataset_params);
  const toml::table model_params = toml::parse(v.config);
  HostSettings settings;
  settings.seed = static_cast<uint64_t>(v.seed);
  settings.plugin_name = v.dataset_plugin;
  DatasetInstance data(data_plugin, settings, data_params);
  settings.plugin_name = v.plugin.name;
  ModelInstance model(model_plugin, settings, model_params, DLDevice{kDLCPU, 0}, &data.info());
  for (const auto& a : v.artifacts) {
    if (a.kind != "checkpoint") continue;
    SafetensorsContents state = read_safetensors(reg.verified_artifact(a));
    std::vector<const char*> names;
    std::vector<DLManagedTensor*> tensors;
    for (size_t i = 0; i < state.tensors->count; ++i)
      if (std::string(state.tensors->names[i]).rfind("genlab.host.", 0) != 0) {
        names.push_back(state.tensors->names[i]);
        tensors.push_back(state.tensors->tensors[i]);
      }
    const genlab_tensor_map view{GENLAB_TENSOR_MAP_STRUCT_SIZE, names.size(), names.data(), tensors.data(), nullptr};
    model.import_state(view);
  }
  const auto start = std::chrono::steady_clock::now();
  TensorMapPtr outputs = model.generate(count, &options, nullptr);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (png.extension() == ".txt") write_samples_text(*outputs, png);
  else write_samples_png(*outputs, png);
  return seconds;
}

}  // namespace genlab
