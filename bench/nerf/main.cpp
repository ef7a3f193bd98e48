// bench/nerf: the NeRF's speed, in two modes.
//
//   nerf_bench model [--steps N] [--warmup N] [--batch B] [--threads T] [KEY=VALUE]...
//     The built-in `nerf` plugin loaded through the host (ModelInstance, as `genlab run`
//     does), trained on synthetic rays (origins on a sphere of radius 4, directions at the
//     origin with a small jitter, random colours: the speed does not depend on the values),
//     then one 100x100 view rendered through generate. KEY=VALUE pairs are the model's
//     parameters (TOML values; a bare word is a string), over the MLP of the design note's
//     CPU reference point: depth 4, width 128, skip 2, 64 coarse + 64 fine samples. Prints
//       genlab rays_per_second X render_ms_per_view Y
//     the line bench/nerf_speed.sh sets beside its PyTorch peer's (bench/peers/nerf.py).
//
//   nerf_bench composite [R] [S]
//     The volume-rendering composite through the host's run_op (the backend ops, as the
//     plugin's composite = "backend") against LibTorch autograd (composite = "autograd"),
//     forward + backward of an MSE on the pixels, R rays x S samples (default 4096 x 192),
//     1 thread, alternating rounds, medians. Goal: op >= 2x faster than autograd.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "genlab/core/discovery.hpp"
#include "genlab/util/error.hpp"
#include "genlab/core/host_services.hpp"
#include "genlab/core/instances.hpp"
#include "genlab/core/loader.hpp"
#include "genlab/core/ops.hpp"
#include "genlab/core/plugin_manifest.hpp"
#include "genlab/genlab_util.h"
#include "genlab/sdk/plugin.hpp"
#include "genlab/rendering/composite.hpp"
#include "genlab/rendering/sampling.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: nerf_bench model [--steps N] [--warmup N] [--batch B] [--threads T] [KEY=VALUE]...\n"
    "       nerf_bench composite [RAYS] [SAMPLES]\n";

constexpr int64_t kViewSize = 100;                    // the rendered view is kViewSize x kViewSize
constexpr double kCameraAngleX = 0.6911112070083618;  // the NeRF-synthetic scenes' field of view

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

int64_t parse_count(const std::string& text, const std::string& what, int64_t minimum) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < minimum)
    throw genlab::HostError(what + ": expected an integer >= " + std::to_string(minimum) + ", got '" + text + "'");
  return value;
}

// ------------------------------------------------------------------ model

// A CPU float32 tensor of `shape` in a new map slot; returns its data to fill.
float* add_float(genlab_tensor_map& map, size_t slot, const char* name, const std::vector<int64_t>& shape) {
  DLManagedTensor* t =
      genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), static_cast<int32_t>(shape.size()), shape.data());
  if (t == nullptr || genlab_util_tensor_map_set(&map, slot, name, t) != 0)
    throw genlab::HostError(std::string("out of memory for the bench tensor '") + name + "'");
  return static_cast<float*>(t->dl_tensor.data);
}

genlab::TensorMapPtr new_map(size_t count) {
  genlab::TensorMapPtr map(genlab_util_tensor_map_new(count));
  if (!map) throw genlab::HostError("out of memory for a bench tensor map");
  return map;
}

// A training batch like the nerf-synthetic dataset's: "origins", "directions", "colors" [B, 3].
genlab::TensorMapPtr synthetic_rays(std::mt19937_64& rng, int64_t rays) {
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform;
  auto map = new_map(3);
  float* origins = add_float(*map, 0, "origins", {rays, 3});
  float* directions = add_float(*map, 1, "directions", {rays, 3});
  float* colors = add_float(*map, 2, "colors", {rays, 3});
  auto normalise = [](float* v) {
    const float length = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    for (int i = 0; i < 3; ++i) v[i] /= length;
  };
  for (int64_t r = 0; r < rays; ++r) {
    float* o = origins + 3 * r;
    float* d = directions + 3 * r;
    for (int i = 0; i < 3; ++i) o[i] = normal(rng);
    normalise(o);
    for (int i = 0; i < 3; ++i) {
      d[i] = -o[i] + 0.05f * normal(rng);  // at the origin, give or take
      o[i] *= 4;
      colors[3 * r + i] = uniform(rng);
    }
    normalise(d);
  }
  return map;
}

// generate's inputs for one view: "pose" [1, 4, 4] of a camera at distance 4 and 30 degrees
// up, looking at the origin (camera-to-world, OpenGL's convention: it looks down its -z),
// "focal" [1] and "image" [1, 3, H, W] (only its shape is read). The peer renders this view.
genlab::TensorMapPtr view_inputs() {
  const double elevation = M_PI / 6;
  const double position[3] = {0, -4 * std::cos(elevation), 4 * std::sin(elevation)};
  const double back[3] = {0, -std::cos(elevation), std::sin(elevation)};  // position / 4
  const double right[3] = {1, 0, 0};                                      // world up (0, 0, 1) x back
  const double up[3] = {back[1] * right[2] - back[2] * right[1], back[2] * right[0] - back[0] * right[2],
                        back[0] * right[1] - back[1] * right[0]};
  auto map = new_map(3);
  float* pose = add_float(*map, 0, "pose", {1, 4, 4});
  for (int row = 0; row < 3; ++row) {
    pose[4 * row + 0] = static_cast<float>(right[row]);
    pose[4 * row + 1] = static_cast<float>(up[row]);
    pose[4 * row + 2] = static_cast<float>(back[row]);
    pose[4 * row + 3] = static_cast<float>(position[row]);
  }
  pose[15] = 1;
  *add_float(*map, 1, "focal", {1}) = static_cast<float>(0.5 * kViewSize / std::tan(0.5 * kCameraAngleX));
  add_float(*map, 2, "image", {1, 3, kViewSize, kViewSize});
  return map;
}

// KEY=VALUE as a TOML value under KEY; a value that is no TOML (a bare word) is a string.
void set_param(toml::table& config, const std::string& pair) {
  const size_t eq = pair.find('=');
  if (eq == std::string::npos || eq == 0)
    throw genlab::HostError("expected a model parameter as KEY=VALUE (e.g. encoding=hashgrid), got '" + pair + "'");
  const std::string key = pair.substr(0, eq), value = pair.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    config.insert_or_assign(key, value);
    return;
  }
  config.insert_or_assign(key, *parsed.get("v"));
}

int model_bench(const std::vector<std::string>& args) {
  int64_t steps = 5, warmup = 3, batch = 1024, threads = 1;
  toml::table given;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](int64_t minimum) {
      if (i + 1 >= args.size()) throw genlab::HostError(a + ": expected a value after it");
      return parse_count(args[++i], a, minimum);
    };
    if (a == "--steps") steps = value(1);
    else if (a == "--warmup") warmup = value(0);
    else if (a == "--batch") batch = value(1);
    else if (a == "--threads") threads = value(1);
    else if (a.rfind("--", 0) == 0) throw genlab::HostError("unknown option '" + a + "'\n" + kUsage);
    else set_param(given, a);
  }
  // The design note's CPU reference point as configs/nerf-bunny.toml sizes it (the MLP:
  // depth 4, width 128, the input again after layer 2; 64 + 64 samples) under what was
  // given; every other key at the plugin's default.
  toml::table config{{"encoding", "frequency"}, {"samples", 64}, {"fine_samples", 64}};
  if (given["encoding"].value_or(std::string("frequency")) == "frequency") {
    config.insert("depth", 4);
    config.insert("width", 128);
    config.insert("skip", 2);
  }
  for (const auto& [key, value] : given) config.insert_or_assign(key, value);

  const std::filesystem::path folder = genlab::builtin_plugin_dir() / "nerf";
  if (!std::filesystem::exists(folder / "plugin.toml"))
    throw genlab::HostError(folder.string() + ": no built `nerf` plugin there (cmake --build build --target nerf)");
  genlab::HostSettings settings;
  settings.plugin_name = "nerf";
  settings.seed = 1;
  settings.num_threads = static_cast<int32_t>(threads);  // the SDK sizes LibTorch's pool from it
  // The composite's backend (run_op) gets the same budget, as in a worker.
  settings.ops = std::make_shared<genlab::OpDispatcher>(genlab::plugin_search_path(), settings.num_threads);
  genlab::ModelInstance model(genlab::load_plugin(genlab::read_plugin_manifest(folder)), settings, config,
                              DLDevice{kDLCPU, 0}, nullptr);

  // A few batches in memory, cycled: the rays are made before the clock starts.
  std::mt19937_64 rng(1);
  std::vector<genlab::TensorMapPtr> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(synthetic_rays(rng, batch));
  double loss = 0;
  for (int64_t s = 0; s < warmup; ++s) loss = model.train_step(*batches[s % batches.size()], s).at(0).value;
  const auto start = Clock::now();
  for (int64_t s = warmup; s < warmup + steps; ++s)
    loss = model.train_step(*batches[s % batches.size()], s).at(0).value;
  const double train_seconds = seconds_since(start);

  const auto inputs = view_inputs();
  model.generate(1, nullptr, inputs.get());  // warm-up
  std::vector<double> render_ms;
  for (int i = 0; i < 3; ++i) {
    const auto begin = Clock::now();
    const genlab::TensorMapPtr view = model.generate(1, nullptr, inputs.get());
    render_ms.push_back(1000 * seconds_since(begin));
  }

  std::printf(
      "model: nerf {%s}, %lld rays per step, %lld timed steps after %lld, %lld thread(s), final loss %.4f\n",
      [&] {
        std::string text;
        for (const auto& [key, value] : config) {
          std::ostringstream v;
          value.visit([&](const auto& node) { v << node; });
          text += (text.empty() ? "" : ", ") + std::string(key.str()) + " = " + v.str();
        }
        return text;
      }()
          .c_str(),
      static_cast<long long>(batch), static_cast<long long>(steps), static_cast<long long>(warmup),
      static_cast<long long>(threads), loss);
  std::printf("genlab rays_per_second %.1f render_ms_per_view %.1f\n",
              static_cast<double>(steps * batch) / train_seconds, median(render_ms));
  return 0;
}

// ------------------------------------------------------------------ composite

int composite_bench(const std::vector<std::string>& args) {
  if (args.size() > 2) throw genlab::HostError(std::string("too many arguments\n") + kUsage);
  const int64_t rays = args.size() > 0 ? parse_count(args[0], "RAYS", 1) : 4096;
  const int64_t samples = args.size() > 1 ? parse_count(args[1], "SAMPLES", 2) : 192;
  const int rounds = 9, calls = 5;
  at::set_num_threads(1);

  // A host table like the worker's: run_op dispatches to the built-in backends (cpu-reference
  // for CPU tensors), each created with 1 thread.
  genlab::HostServices services(genlab::HostSettings{
      "nerf-bench", 0, 1, nullptr, {}, std::make_shared<genlab::OpDispatcher>(genlab::plugin_search_path(), 1)});
  const genlab::sdk::Host host(services.api());

  // Inputs like a training pass's: perturbed samples in [2, 6], densities from empty space
  // to opaque (a few exactly 0, as ReLU fields give), colours in [0, 1].
  at::manual_seed(1);
  const at::Tensor ts = genlab::nerf::stratified_samples(rays, samples, 2.0, 6.0, true, at::kFloat);
  const at::Tensor deltas = genlab::nerf::deltas_from_ts(ts, 6.0);
  at::Tensor sigmas = at::relu(at::randn({rays, samples}) * 4 - 1).requires_grad_(true);
  at::Tensor rgbs = at::rand({rays, samples, 3}).requires_grad_(true);
  const at::Tensor target = at::rand({rays, 3});

  // One training-like call: composite, pixels on a white background, MSE, backward.
  auto run = [&](bool through_op, bool backward) {
    sigmas.mutable_grad() = at::Tensor();
    rgbs.mutable_grad() = at::Tensor();
    const at::AutoGradMode grad_mode(backward);
    const genlab::nerf::Composite c = through_op ? genlab::nerf::composite_op(host, sigmas, rgbs, deltas, ts)
                                                 : genlab::nerf::composite_autograd(sigmas, rgbs, deltas, ts);
    const at::Tensor pixels = c.color + (1 - c.opacity).unsqueeze(-1);
    const at::Tensor loss = (pixels - target).square().mean();
    if (backward) loss.backward();
    return std::vector<at::Tensor>{pixels.detach(), c.depth.detach(), backward ? sigmas.grad() : at::Tensor(),
                                   backward ? rgbs.grad() : at::Tensor()};
  };

  // The two must agree before their times mean anything.
  const auto op = run(true, true), reference = run(false, true);
  double worst = 0;
  for (size_t i = 0; i < op.size(); ++i)
    worst = std::max(worst, (op[i] - reference[i]).abs().max().item<double>() /
                                std::max(1e-12, reference[i].abs().max().item<double>()));
  if (!(worst < 1e-3))
    throw genlab::HostError("the composite op and autograd disagree: largest relative difference " +
                            std::to_string(worst));

  // Alternating rounds, so that a slow spell of a noisy machine hits both.
  auto per_call_ms = [&](bool through_op, bool backward) {
    const auto start = Clock::now();
    for (int i = 0; i < calls; ++i) run(through_op, backward);
    return 1000 * seconds_since(start) / calls;
  };
  std::vector<double> op_both, autograd_both, op_forward, autograd_forward;
  for (int r = 0; r < rounds; ++r) {
    op_both.push_back(per_call_ms(true, true));
    autograd_both.push_back(per_call_ms(false, true));
    op_forward.push_back(per_call_ms(true, false));
    autograd_forward.push_back(per_call_ms(false, false));
  }
  std::printf(
      "composite of %lld rays x %lld samples, 1 thread, median of %d rounds x %d calls; op = run_op on the "
      "cpu-reference backend, autograd = LibTorch ops (largest relative difference %.1e)\n",
      static_cast<long long>(rays), static_cast<long long>(samples), rounds, calls, worst);
  std::printf("%-20s %12s %12s %10s\n", "call", "op ms", "autograd ms", "ratio");
  std::printf("%-20s %12.2f %12.2f %10.2f\n", "forward + backward", median(op_both), median(autograd_both),
              median(autograd_both) / median(op_both));
  std::printf("%-20s %12.2f %12.2f %10.2f\n", "forward (no grad)", median(op_forward), median(autograd_forward),
              median(autograd_forward) / median(op_forward));
  std::printf("composite ratio autograd / op (forward + backward): %.2f (goal >= 2)\n",
              median(autograd_both) / median(op_both));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command = "command:";
  for (int i = 0; i < argc; ++i) command += std::string(" ") + argv[i];
  std::printf("%s\n", command.c_str());
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // The host's info lines (a backend that serves no device here, ...) would break up the
  // figures; warnings still show.
  spdlog::set_level(spdlog::level::warn);
  const std::string mode = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (mode == "model") return model_bench(args);
    if (mode == "composite") return composite_bench(args);
    std::fprintf(stderr, "unknown mode '%s'\n%s", mode.c_str(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nerf_bench %s: %s\n", mode.c_str(), e.what());
    return 1;
  }
}
