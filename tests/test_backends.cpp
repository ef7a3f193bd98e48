// The backend plugins of plugins/backends/ through the host's BackendInstance: the
// volume-rendering composite of the cpu-reference backend against closed forms, an
// independent double-precision composite and finite differences of its own forward; its
// errors; and the cuda backend where it was built (the GPU comparison itself is
// tests/cuda/cuda_backend_check, which links CUDA; this executable links none).
#include "catch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "model_support.hpp"

namespace {

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;

constexpr const char* kForward = "volume_composite";
constexpr const char* kBackward = "volume_composite_backward";

HostSettings settings_with_threads(int32_t threads) {
  HostSettings s = settings();
  s.num_threads = threads;
  return s;
}

std::unique_ptr<BackendInstance> cpu_reference(int32_t threads = 1) {
  return std::make_unique<BackendInstance>(builtin("cpu-reference"), settings_with_threads(threads), toml::table{});
}

// Builds a map of float32 CPU tensors (MapBuilder's, but it may hold empty tensors: it
// never copies from an empty vector's null data).
class FloatMap {
 public:
  FloatMap& add(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& values) {
    DLManagedTensor* t =
        genlab_util_cpu_tensor_new(genlab_util_dtype_float32(), static_cast<int32_t>(shape.size()), shape.data());
    REQUIRE(t != nullptr);
    REQUIRE(static_cast<size_t>(genlab_util_numel(&t->dl_tensor)) == values.size());
    if (!values.empty()) std::memcpy(t->dl_tensor.data, values.data(), values.size() * sizeof(float));
    tensors_.emplace_back(name, t);
    return *this;
  }
  TensorMapPtr build() {
    TensorMapPtr map(genlab_util_tensor_map_new(tensors_.size()));
    for (size_t i = 0; i < tensors_.size(); ++i)
      genlab_util_tensor_map_set(map.get(), i, tensors_[i].first.c_str(), tensors_[i].second);
    tensors_.clear();
    return map;
  }

 private:
  std::vector<std::pair<std::string, DLManagedTensor*>> tensors_;
};

// R rays of S samples, row-major, as the op takes them.
struct Rays {
  int64_t rays = 0, samples = 0;
  std::vector<float> sigmas, rgbs, deltas, ts;

  Rays(int64_t r, int64_t s) : rays(r), samples(s), sigmas(r * s), rgbs(r * s * 3), deltas(r * s), ts(r * s) {}
  FloatMap builder() const {
    FloatMap b;
    b.add("sigmas", {rays, samples}, sigmas)
        .add("rgbs", {rays, samples, 3}, rgbs)
        .add("deltas", {rays, samples}, deltas)
        .add("ts", {rays, samples}, ts);
    return b;
  }
  TensorMapPtr map() const { return builder().build(); }
};

// Random rays: densities up to `max_sigma`, intervals in [0.05, 0.4), increasing distances.
Rays random_rays(int64_t r, int64_t s, uint32_t seed, float max_sigma = 3.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  Rays rays(r, s);
  for (int64_t i = 0; i < r; ++i) {
    float t = 2.0f + unit(rng);
    for (int64_t k = 0; k < s; ++k) {
      const int64_t at = i * s + k;
      rays.sigmas[at] = max_sigma * unit(rng);
      rays.deltas[at] = 0.05f + 0.35f * unit(rng);
      rays.ts[at] = t;
      t += rays.deltas[at];
      for (int c = 0; c < 3; ++c) rays.rgbs[3 * at + c] = unit(rng);
    }
  }
  return rays;
}

// The forward's outputs by name.
struct Composite {
  std::vector<float> color, depth, opacity, weights;
};

Composite forward(BackendInstance& backend, const Rays& rays) {
  TensorMapPtr in = rays.map();
  TensorMapPtr out = backend.run_op(kForward, *in, nullptr);
  REQUIRE(out->count == 4);
  CHECK(std::string(out->names[0]) == "color");
  CHECK(std::string(out->names[1]) == "depth");
  CHECK(std::string(out->names[2]) == "opacity");
  CHECK(std::string(out->names[3]) == "weights");
  return {floats(*out, 0), floats(*out, 1), floats(*out, 2), floats(*out, 3)};
}

// The incoming gradients of a loss L = sum over rays of g_C . C + g_D D + g_A A.
struct Upstream {
  std::vector<float> color, depth, opacity;
};

Upstream random_upstream(int64_t r, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> draw(-1.0f, 1.0f);
  Upstream g{std::vector<float>(r * 3), std::vector<float>(r), std::vector<float>(r)};
  for (float& x : g.color) x = draw(rng);
  for (float& x : g.depth) x = draw(rng);
  for (float& x : g.opacity) x = draw(rng);
  return g;
}

// Each ray's loss under `g`, in double.
std::vector<double> ray_losses(const Composite& c, const Upstream& g) {
  std::vector<double> losses(c.depth.size());
  for (size_t r = 0; r < losses.size(); ++r) {
    double l = double(g.depth[r]) * c.depth[r] + double(g.opacity[r]) * c.opacity[r];
    for (size_t k = 0; k < 3; ++k) l += double(g.color[3 * r + k]) * c.color[3 * r + k];
    losses[r] = l;
  }
  return losses;
}

struct Gradients {
  std::vector<float> sigmas, rgbs;
};

Gradients backward(BackendInstance& backend, const Rays& rays, const Composite& forward_out, const Upstream& g) {
  const int64_t r = rays.rays;
  TensorMapPtr in = rays.builder()
                        .add("color", {r, 3}, forward_out.color)
                        .add("depth", {r}, forward_out.depth)
                        .add("opacity", {r}, forward_out.opacity)
                        .add("grad_color", {r, 3}, g.color)
                        .add("grad_depth", {r}, g.depth)
                        .add("grad_opacity", {r}, g.opacity)
                        .build();
  TensorMapPtr out = backend.run_op(kBackward, *in, nullptr);
  REQUIRE(out->count == 2);
  CHECK(std::string(out->names[0]) == "grad_sigmas");
  CHECK(std::string(out->names[1]) == "grad_rgbs");
  return {floats(*out, 0), floats(*out, 1)};
}

// The composite in double, written from the definition (T as exp of an exclusive sum), not
// from the plugin's recurrence.
Composite reference_composite(const Rays& rays) {
  Composite c{std::vector<float>(rays.rays * 3), std::vector<float>(rays.rays), std::vector<float>(rays.rays),
              std::vector<float>(rays.rays * rays.samples)};
  for (int64_t r = 0; r < rays.rays; ++r) {
    double optical_depth = 0, color[3] = {0, 0, 0}, depth = 0, opacity = 0;
    for (int64_t k = 0; k < rays.samples; ++k) {
      const int64_t at = r * rays.samples + k;
      const double x = double(rays.sigmas[at]) * rays.deltas[at];
      const double w = std::exp(-optical_depth) * (1 - std::exp(-x));
      optical_depth += x;
      for (int ch = 0; ch < 3; ++ch) color[ch] += w * rays.rgbs[3 * at + ch];
      depth += w * rays.ts[at];
      opacity += w;
      c.weights[at] = static_cast<float>(w);
    }
    for (int ch = 0; ch < 3; ++ch) c.color[3 * r + ch] = static_cast<float>(color[ch]);
    c.depth[r] = static_cast<float>(depth);
    c.opacity[r] = static_cast<float>(opacity);
  }
  return c;
}

void require_close(const std::vector<float>& actual, const std::vector<float>& expected, double atol, double rtol,
                   const std::string& what) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO(what << "[" << i << "]: " << actual[i] << " vs " << expected[i]);
    REQUIRE(std::abs(double(actual[i]) - expected[i]) <= atol + rtol * std::abs(double(expected[i])));
  }
}

// The message and code of the PluginError that run_op throws (a test failure if none).
std::pair<std::string, genlab_error_code> run_op_error(BackendInstance& backend, const std::string& op,
                                                       const genlab_tensor_map& inputs) {
  try {
    backend.run_op(op, inputs, nullptr);
  } catch (const PluginError& e) {
    return {e.what(), e.code()};
  }
  FAIL("run_op '" << op << "' succeeded");
  return {};
}

}  // namespace

TEST_CASE("cpu-reference serves the composite ops on the CPU", "[backend]") {
  auto backend = cpu_reference();
  CHECK(backend->device_types() == std::vector<int32_t>{kDLCPU});
  CHECK(backend->op_names() == std::vector<std::string>{kForward, kBackward});
}

TEST_CASE("cpu-reference composite: closed forms", "[backend]") {
  auto backend = cpu_reference();

  SECTION("one sample: colour (1 - exp(-sigma delta)) c, depth alpha t") {
    Rays rays(1, 1);
    rays.sigmas = {2.0f};
    rays.deltas = {0.5f};
    rays.ts = {3.0f};
    rays.rgbs = {0.2f, 0.5f, 0.9f};
    const Composite c = forward(*backend, rays);
    const double alpha = 1 - std::exp(-1.0);
    require_close(c.color, {float(alpha * 0.2), float(alpha * 0.5), float(alpha * 0.9)}, 1e-7, 1e-6, "color");
    require_close(c.depth, {float(alpha * 3)}, 1e-7, 1e-6, "depth");
    require_close(c.opacity, {float(alpha)}, 1e-7, 1e-6, "opacity");
    require_close(c.weights, {float(alpha)}, 1e-7, 1e-6, "weights");
  }

  SECTION("two samples: the second is seen through the first's transmittance") {
    Rays rays(1, 2);
    rays.sigmas = {1.0f, 3.0f};
    rays.deltas = {0.5f, 0.25f};
    rays.ts = {1.0f, 1.5f};
    rays.rgbs = {1, 0, 0, 0, 1, 0};
    const Composite c = forward(*backend, rays);
    const double w0 = 1 - std::exp(-0.5), w1 = std::exp(-0.5) * (1 - std::exp(-0.75));
    require_close(c.weights, {float(w0), float(w1)}, 1e-7, 1e-6, "weights");
    require_close(c.color, {float(w0), float(w1), 0.0f}, 1e-7, 1e-6, "color");
    require_close(c.depth, {float(w0 * 1.0 + w1 * 1.5)}, 1e-7, 1e-6, "depth");
    // The weights sum to 1 - T after the last sample: 1 - exp(-(0.5 + 0.75)).
    require_close(c.opacity, {float(1 - std::exp(-1.25))}, 1e-7, 1e-6, "opacity");
  }

  SECTION("an opaque sample takes all the weight: depth is its t, opacity 1") {
    Rays rays(2, 4);
    rays.sigmas = {0,    0, 1e5f, 2,   // ray 0: empty space, then a wall at the third sample
                   1e5f, 1, 1,    1};  // ray 1: a wall at the first
    rays.deltas = std::vector<float>(8, 0.1f);
    rays.ts = {1, 2, 3, 4, 1, 2, 3, 4};
    for (int k = 0; k < 8; ++k) rays.rgbs[3 * k] = 0.1f * static_cast<float>(k + 1);
    const Composite c = forward(*backend, rays);
    require_close(c.depth, {3.0f, 1.0f}, 1e-6, 0, "depth");
    require_close(c.opacity, {1.0f, 1.0f}, 1e-6, 0, "opacity");
    require_close(c.color, {0.3f, 0, 0, 0.5f, 0, 0}, 1e-6, 0, "color");
    require_close(c.weights, {0, 0, 1, 0, 1, 0, 0, 0}, 1e-6, 0, "weights");
  }

  SECTION("no density: nothing is seen") {
    Rays rays = random_rays(3, 5, 1);
    std::fill(rays.sigmas.begin(), rays.sigmas.end(), 0.0f);
    const Composite c = forward(*backend, rays);
    CHECK(std::all_of(c.color.begin(), c.color.end(), [](float v) { return v == 0.0f; }));
    CHECK(std::all_of(c.opacity.begin(), c.opacity.end(), [](float v) { return v == 0.0f; }));
  }
}

TEST_CASE("cpu-reference composite agrees with a double-precision composite", "[backend]") {
  auto backend = cpu_reference();
  const Rays rays = random_rays(37, 64, 7, 10.0f);
  const Composite c = forward(*backend, rays), expected = reference_composite(rays);
  require_close(c.weights, expected.weights, 1e-6, 1e-5, "weights");
  require_close(c.color, expected.color, 1e-6, 1e-5, "color");
  require_close(c.depth, expected.depth, 1e-5, 1e-5, "depth");
  require_close(c.opacity, expected.opacity, 1e-6, 1e-5, "opacity");
}

TEST_CASE("cpu-reference composite backward matches finite differences of the forward", "[backend]") {
  auto backend = cpu_reference();
  const int64_t R = 4, S = 10;
  const Rays rays = random_rays(R, S, 11);
  const Upstream g = random_upstream(R, 12);
  const Gradients grads = backward(*backend, rays, forward(*backend, rays), g);

  // Central differences, one sample index at a time in every ray at once (rays are
  // independent, and each ray's loss is read apart). The forward is float32: h = 1e-2 keeps
  // its rounding (~1e-7 / 2h) and the truncation (~h^2 sigma''') near 1e-5, far below what a
  // wrong term of the formula costs (~delta, 0.05 or more).
  const float h = 1e-2f;
  const auto difference = [&](std::vector<float> Rays::*field, int64_t stride, int64_t offset,
                              std::vector<float>& out) {
    for (int64_t k = 0; k < S; ++k) {
      Rays plus = rays, minus = rays;
      for (int64_t r = 0; r < R; ++r) {
        (plus.*field)[(r * S + k) * stride + offset] += h;
        (minus.*field)[(r * S + k) * stride + offset] -= h;
      }
      const std::vector<double> up = ray_losses(forward(*backend, plus), g);
      const std::vector<double> down = ray_losses(forward(*backend, minus), g);
      for (int64_t r = 0; r < R; ++r) out[(r * S + k) * stride + offset] = float((up[r] - down[r]) / (2.0 * h));
    }
  };
  std::vector<float> fd_sigmas(R * S), fd_rgbs(R * S * 3);
  difference(&Rays::sigmas, 1, 0, fd_sigmas);
  for (int64_t c = 0; c < 3; ++c) difference(&Rays::rgbs, 3, c, fd_rgbs);
  require_close(grads.sigmas, fd_sigmas, 1e-4, 1e-3, "grad_sigmas");
  require_close(grads.rgbs, fd_rgbs, 1e-4, 1e-3, "grad_rgbs");
  // The test can fail: the gradients are not all small.
  CHECK(*std::max_element(fd_sigmas.begin(), fd_sigmas.end(),
                          [](float a, float b) { return std::abs(a) < std::abs(b); }) != Approx(0).margin(0.05));
}

TEST_CASE("cpu-reference composite: no rays, no samples", "[backend]") {
  auto backend = cpu_reference();
  SECTION("R = 0 gives empty outputs of the right shapes") {
    const Rays rays(0, 8);
    TensorMapPtr in = rays.map();
    TensorMapPtr out = backend->run_op(kForward, *in, nullptr);
    REQUIRE(out->count == 4);
    const DLTensor& color = out->tensors[0]->dl_tensor;
    const DLTensor& weights = out->tensors[3]->dl_tensor;
    REQUIRE(color.ndim == 2);
    CHECK(color.shape[0] == 0);
    CHECK(color.shape[1] == 3);
    REQUIRE(weights.ndim == 2);
    CHECK(weights.shape[1] == 8);
    const Gradients grads = backward(*backend, rays, Composite{}, Upstream{});
    CHECK(grads.sigmas.empty());
    CHECK(grads.rgbs.empty());
  }
  SECTION("S = 0 composites nothing") {
    const Rays rays(2, 0);
    const Composite c = forward(*backend, rays);
    CHECK(c.color == std::vector<float>(6, 0.0f));
    CHECK(c.opacity == std::vector<float>(2, 0.0f));
    CHECK(c.weights.empty());
  }
}

TEST_CASE("cpu-reference composite: the same on several threads", "[backend]") {
  // Enough samples that the backend splits the rays across its threads.
  const Rays rays = random_rays(2048, 64, 21);
  const Upstream g = random_upstream(2048, 22);
  auto one = cpu_reference(1), four = cpu_reference(4);
  const Composite a = forward(*one, rays), b = forward(*four, rays);
  CHECK(a.weights == b.weights);
  CHECK(a.color == b.color);
  const Gradients ga = backward(*one, rays, a, g), gb = backward(*four, rays, b, g);
  CHECK(ga.sigmas == gb.sigmas);
  CHECK(ga.rgbs == gb.rgbs);
}

TEST_CASE("cpu-reference composite errors name the op, the tensor and what was expected", "[backend]") {
  auto backend = cpu_reference();
  const Rays rays = random_rays(3, 4, 31);

  SECTION("an unknown op") {
    const auto [message, code] = run_op_error(*backend, "volume_composite_twice", *rays.map());
    CHECK(code == GENLAB_ERROR_NOT_FOUND);
    CHECK_THAT(message, Contains("no op 'volume_composite_twice'") && Contains("volume_composite_backward"));
  }
  SECTION("a missing input") {
    TensorMapPtr in = MapBuilder()
                          .add_float("sigmas", {3, 4}, rays.sigmas)
                          .add_float("rgbs", {3, 4, 3}, rays.rgbs)
                          .add_float("deltas", {3, 4}, rays.deltas)
                          .build();
    const auto [message, code] = run_op_error(*backend, kForward, *in);
    CHECK(code == GENLAB_ERROR_INVALID_ARGUMENT);
    CHECK_THAT(message, Contains("volume_composite: missing input 'ts'"));
  }
  SECTION("the backward without its incoming gradients") {
    TensorMapPtr in = rays.map();
    const auto [message, code] = run_op_error(*backend, kBackward, *in);
    CHECK(code == GENLAB_ERROR_INVALID_ARGUMENT);
    CHECK_THAT(message, Contains("volume_composite_backward: missing input 'color'"));
  }
  SECTION("a shape that disagrees with sigmas") {
    TensorMapPtr in = MapBuilder()
                          .add_float("sigmas", {3, 4}, rays.sigmas)
                          .add_float("rgbs", {4, 3, 3}, rays.rgbs)
                          .add_float("deltas", {3, 4}, rays.deltas)
                          .add_float("ts", {3, 4}, rays.ts)
                          .build();
    const auto [message, code] = run_op_error(*backend, kForward, *in);
    CHECK(code == GENLAB_ERROR_INVALID_ARGUMENT);
    CHECK_THAT(message, Contains("input 'rgbs' must be [R, S, 3] = [3, 4, 3]") && Contains("got [4, 3, 3]"));
  }
  SECTION("sigmas of the wrong rank") {
    TensorMapPtr in = MapBuilder()
                          .add_float("sigmas", {12}, rays.sigmas)
                          .add_float("rgbs", {3, 4, 3}, rays.rgbs)
                          .add_float("deltas", {3, 4}, rays.deltas)
                          .add_float("ts", {3, 4}, rays.ts)
                          .build();
    const auto [message, code] = run_op_error(*backend, kForward, *in);
    CHECK_THAT(message, Contains("input 'sigmas' must be [R, S]") && Contains("got [12]"));
  }
  SECTION("a wrong dtype") {
    TensorMapPtr in = MapBuilder()
                          .add_float("sigmas", {3, 4}, rays.sigmas)
                          .add_float("rgbs", {3, 4, 3}, rays.rgbs)
                          .add_int64("deltas", std::vector<int64_t>(12, 1), {3, 4})
                          .add_float("ts", {3, 4}, rays.ts)
                          .build();
    const auto [message, code] = run_op_error(*backend, kForward, *in);
    CHECK(code == GENLAB_ERROR_INVALID_ARGUMENT);
    CHECK_THAT(message, Contains("input 'deltas' must be float32, got int64"));
  }
  SECTION("a tensor that is not compact") {
    TensorMapPtr in = rays.map();
    int64_t column_major[2] = {1, 3};  // a transposed view: rows are not contiguous
    in->tensors[genlab_util_tensor_map_find(in.get(), "ts")]->dl_tensor.strides = column_major;
    const auto [message, code] = run_op_error(*backend, kForward, *in);
    CHECK(code == GENLAB_ERROR_INVALID_ARGUMENT);
    CHECK_THAT(message, Contains("input 'ts' [3, 4] is not compact"));
    in->tensors[genlab_util_tensor_map_find(in.get(), "ts")]->dl_tensor.strides = nullptr;
  }
  SECTION("a device it does not serve") {
    TensorMapPtr in = rays.map();
    // Never dereferenced: the device is refused first.
    in->tensors[genlab_util_tensor_map_find(in.get(), "rgbs")]->dl_tensor.device = DLDevice{kDLCUDA, 0};
    const auto [message, code] = run_op_error(*backend, kForward, *in);
    CHECK(code == GENLAB_ERROR_UNSUPPORTED_DEVICE);
    CHECK_THAT(message, Contains("input 'rgbs' is on CUDA:0") && Contains("serves CPU tensors only"));
    in->tensors[genlab_util_tensor_map_find(in.get(), "rgbs")]->dl_tensor.device = DLDevice{kDLCPU, 0};
  }
}

TEST_CASE("cuda backend: loads anywhere, serves a device only where there is one", "[backend][cuda]") {
  if (!fs::exists(builtin_plugin("cuda") / "plugin.toml")) {
    GENLAB_SKIP("the cuda backend was not built (CMake found no CUDA compiler, or GENLAB_WITH_CUDA is OFF)");
  }
  BackendInstance backend(builtin("cuda"), settings(), toml::table{});
  CHECK(backend.op_names() == std::vector<std::string>{kForward, kBackward});
  const Rays rays = random_rays(3, 4, 41);

  // CPU tensors are refused whether or not there is a GPU.
  const auto [cpu_message, cpu_code] = run_op_error(backend, kForward, *rays.map());
  CHECK(cpu_code == GENLAB_ERROR_UNSUPPORTED_DEVICE);
  CHECK_THAT(cpu_message, Contains("input 'sigmas' is on CPU:0") && Contains("serves CUDA tensors only"));

  if (!backend.device_types().empty()) {
    CHECK(backend.device_types() == std::vector<int32_t>{kDLCUDA});
    WARN("a CUDA device is present: the GPU results are compared by the cuda_backend_check test");
    return;
  }
  // No device: tensors that claim to be on one are refused before anything touches them.
  TensorMapPtr in = rays.map();
  for (size_t i = 0; i < in->count; ++i) in->tensors[i]->dl_tensor.device = DLDevice{kDLCUDA, 0};
  const auto [message, code] = run_op_error(backend, kForward, *in);
  for (size_t i = 0; i < in->count; ++i) in->tensors[i]->dl_tensor.device = DLDevice{kDLCPU, 0};
  CHECK(code == GENLAB_ERROR_UNSUPPORTED_DEVICE);
  const std::string marker = "no CUDA device (";
  REQUIRE_THAT(message, Contains(marker));
  const size_t from = message.find(marker) + marker.size();
  GENLAB_SKIP("no CUDA device (" << message.substr(from, message.rfind(')') - from) << ")");
}
