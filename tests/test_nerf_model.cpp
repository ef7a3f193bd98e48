// The nerf model plugin through the host, on an analytic scene made here (no dataset plugin
// needed): a sphere of radius 0.8 at the origin, coloured by its normal, on white, seen from
// cameras at distance 4. The ground truth of every ray is its ray-sphere intersection.
// Tiny fields train on random rays; their renders are compared with the true views.
#include "catch.hpp"

#include <array>
#include <cmath>
#include <random>

#include "genlab/core/ops.hpp"
#include "model_support.hpp"

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;

namespace {

using Vec3 = std::array<double, 3>;

Vec3 normalized(const Vec3& v) {
  const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
  return {v[0] / n, v[1] / n, v[2] / n};
}
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

constexpr double kRadius = 0.8, kCameraDistance = 4.0;
// Views are 8x8 with focal 16: the tangent of the half field of view is 4 / 16.
constexpr int64_t kSide = 8;
constexpr double kFocal = 16.0, kHalfTan = 0.25;

// The colour seen along a ray o + t d (d unit): the sphere's normal mapped to [0.1, 0.9]
// where it hits, white where it misses.
Vec3 true_color(const Vec3& o, const Vec3& d) {
  const double b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2];
  const double c = o[0] * o[0] + o[1] * o[1] + o[2] * o[2] - kRadius * kRadius;
  const double disc = b * b - c;
  if (disc <= 0) return {1, 1, 1};
  const double t = -b - std::sqrt(disc);
  if (t <= 0) return {1, 1, 1};
  Vec3 out;
  for (int i = 0; i < 3; ++i) out[i] = 0.5 + 0.4 * (o[i] + t * d[i]) / kRadius;
  return out;
}

// A camera at `position` looking at the origin: its axes in world coordinates (OpenGL: it
// looks down its -z, y up).
struct Camera {
  Vec3 position, x, y, z;
  explicit Camera(const Vec3& p) : position(p) {
    z = normalized(p);
    const Vec3 up = std::abs(z[1]) > 0.99 ? Vec3{1, 0, 0} : Vec3{0, 1, 0};
    x = normalized(cross(up, z));
    y = cross(z, x);
  }
  // The unit direction through camera-plane point (a, b) at depth -1.
  Vec3 direction(double a, double b) const {
    Vec3 d;
    for (int i = 0; i < 3; ++i) d[i] = a * x[i] + b * y[i] - z[i];
    return normalized(d);
  }
};

Vec3 random_position(std::mt19937& rng) {
  std::normal_distribution<double> normal;
  const Vec3 u = normalized({normal(rng), normal(rng), normal(rng)});
  return {kCameraDistance * u[0], kCameraDistance * u[1], kCameraDistance * u[2]};
}

// `count` rays through random points of the field of view of random cameras, as the
// nerf-synthetic dataset's "train" split serves them.
TensorMapPtr ray_batch(std::mt19937& rng, int64_t count) {
  std::uniform_real_distribution<double> plane(-kHalfTan, kHalfTan);
  std::vector<float> origins, directions, colors;
  for (int64_t r = 0; r < count; ++r) {
    const Camera camera(random_position(rng));
    const double a = plane(rng), b = plane(rng);
    const Vec3 d = camera.direction(a, b), c = true_color(camera.position, d);
    for (int i = 0; i < 3; ++i) {
      origins.push_back(static_cast<float>(camera.position[i]));
      directions.push_back(static_cast<float>(d[i]));
      colors.push_back(static_cast<float>(c[i]));
    }
  }
  return MapBuilder()
      .add_float("origins", {count, 3}, origins)
      .add_float("directions", {count, 3}, directions)
      .add_float("colors", {count, 3}, colors)
      .build();
}

// Whole views as the dataset's other splits serve them: "image" [N, 3, 8, 8] (the truth,
// through pixel centres as rendering/include/genlab/rendering/rays.hpp casts them), "pose" [N, 4, 4], "focal" [N].
struct Views {
  std::vector<float> images, poses, focals;
  int64_t count = 0;
  explicit Views(const std::vector<Vec3>& positions) : count(static_cast<int64_t>(positions.size())) {
    images.resize(static_cast<size_t>(count * 3 * kSide * kSide));
    for (int64_t v = 0; v < count; ++v) {
      const Camera camera(positions[v]);
      for (int row = 0; row < 4; ++row) {
        if (row < 3) {
          for (const Vec3* axis : {&camera.x, &camera.y, &camera.z}) poses.push_back(static_cast<float>((*axis)[row]));
          poses.push_back(static_cast<float>(camera.position[row]));
        } else {
          poses.insert(poses.end(), {0, 0, 0, 1});
        }
      }
      focals.push_back(static_cast<float>(kFocal));
      for (int64_t i = 0; i < kSide; ++i)
        for (int64_t j = 0; j < kSide; ++j) {
          const double a = (static_cast<double>(j) + 0.5 - 0.5 * kSide) / kFocal;
          const double b = -(static_cast<double>(i) + 0.5 - 0.5 * kSide) / kFocal;
          const Vec3 c = true_color(camera.position, camera.direction(a, b));
          for (int ch = 0; ch < 3; ++ch)
            images[static_cast<size_t>(((v * 3 + ch) * kSide + i) * kSide + j)] = static_cast<float>(c[ch]);
        }
    }
  }
  TensorMapPtr map(bool with_pose = true, bool with_image = true) const {
    MapBuilder b;
    if (with_image) b.add_float("image", {count, 3, kSide, kSide}, images);
    if (with_pose) b.add_float("pose", {count, 4, 4}, poses);
    b.add_float("focal", {count}, focals);
    return b.build();
  }
};

// Two views not among the training cameras' draws.
Views test_views() { return Views({{4, 0, 0}, {0, 2.4, 3.2}}); }

std::unique_ptr<ModelInstance> make_nerf(const toml::table& config, uint64_t seed = 7) {
  return std::make_unique<ModelInstance>(builtin("nerf"), settings(seed), config, DLDevice{kDLCPU, 0}, nullptr);
}

// The first loss of each step on fresh random rays (the same rays for the same seed).
std::vector<double> train(ModelInstance& model, int steps, int64_t batch, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) losses.push_back(model.train_step(*ray_batch(rng, batch), s).at(0).value);
  return losses;
}

// The mean squared error of rendered views against the truth.
double render_mse(ModelInstance& model, const Views& views) {
  TensorMapPtr out = model.generate(views.count, nullptr, views.map().get());
  const auto image = floats(*out, 0);
  REQUIRE(image.size() == views.images.size());
  double sum = 0;
  for (size_t i = 0; i < image.size(); ++i) sum += std::pow(image[i] - views.images[i], 2);
  return sum / static_cast<double>(image.size());
}

std::string generate_error(ModelInstance& model, int64_t count, const genlab_tensor_map* inputs) {
  try {
    model.generate(count, nullptr, inputs);
  } catch (const HostError& e) {
    return e.what();
  }
  FAIL("generate succeeded");
  return {};
}

const toml::table kTinyHash{{"encoding", "hashgrid"}, {"levels", 4},   {"log2_table", 12},
                            {"max_resolution", 64},   {"samples", 16}, {"fine_samples", 0}};
// Fewer octaves than the paper's 10 and a higher step size: 100 steps of a 32-wide MLP.
const toml::table kTinyMlp{{"depth", 2},    {"width", 32},        {"freqs_xyz", 6},
                           {"samples", 16}, {"fine_samples", 16}, {"lr", 0.01}};

}  // namespace

TEST_CASE("nerf: a tiny hash grid learns the sphere, compositing on the backend as in autograd", "[nerf]") {
  // The same seed and rays through the host's volume_composite op (the CPU reference
  // backend) and through LibTorch autograd: both must learn, to about the same loss.
  const Views views = test_views();
  std::vector<double> final_losses;
  for (const char* composite : {"backend", "autograd"}) {
    toml::table config = kTinyHash;
    config.insert_or_assign("composite", composite);
    auto model = make_nerf(config);
    const double before = render_mse(*model, views);
    const auto losses = train(*model, 80, 256);
    const double first = mean(losses, 0, 5), last = mean(losses, 70, 80), after = render_mse(*model, views);
    INFO(composite << ": photometric MSE, first step " << losses[0] << ", first 5 " << first << ", last 10 " << last
                   << "; render MSE before " << before << ", after " << after);
    CHECK(last < first / 3);    // seen: 0.114 -> 0.016 (7x); 6x to 7x over seeds 1-5
    CHECK(after < before / 5);  // seen: 0.143 -> 0.012 (12x); at worst 0.012 over seeds 1-5
    final_losses.push_back(last);
    if (final_losses.size() == 2) CHECK(final_losses[0] == Approx(final_losses[1]).epsilon(0.1));  // seen: 0.01% apart
  }
}

TEST_CASE("nerf: a tiny frequency MLP with coarse and fine networks learns the sphere", "[nerf]") {
  auto model = make_nerf(kTinyMlp);
  const Views views = test_views();
  const double before = render_mse(*model, views);
  const auto losses = train(*model, 100, 256);
  const double first = mean(losses, 0, 5), last = mean(losses, 90, 100), after = render_mse(*model, views);
  INFO("coarse + fine MSE, first 5 steps " << first << ", last 10 " << last << "; render MSE before " << before
                                           << ", after " << after);
  CHECK(last < first / 2.5);  // seen: 0.23 -> 0.024 (9.6x); 7x or more over seeds 1-5
  CHECK(after < before / 3);  // seen: 0.081 -> 0.0039 (21x); at worst 0.006 over seeds 1-5
}

TEST_CASE("nerf: the losses are the sum of the passes' MSEs, the fine MSE and its PSNR", "[nerf]") {
  std::mt19937 rng(3);
  TensorMapPtr batch = ray_batch(rng, 64);
  auto mlp = make_nerf(kTinyMlp);
  const auto losses = mlp->train_step(*batch, 0);
  REQUIRE(losses.size() == 3);
  CHECK(losses[0].name == "loss");
  CHECK(losses[1].name == "mse");
  CHECK(losses[2].name == "psnr");
  CHECK(losses[2].direction == GENLAB_DIRECTION_HIGHER);
  CHECK(losses[2].value == Approx(-10 * std::log10(losses[1].value)));
  CHECK(losses[0].value > losses[1].value);  // coarse + fine
  auto hash = make_nerf(kTinyHash);
  const auto single = hash->train_step(*batch, 0);
  CHECK(single[0].value == Approx(single[1].value));  // one pass: the loss is its MSE
}

TEST_CASE("nerf: generate renders image, depth and opacity of the given poses", "[nerf]") {
  for (const toml::table* config : {&kTinyHash, &kTinyMlp}) {
    auto model = make_nerf(*config);
    train(*model, 10, 128);
    const Views views = test_views();
    TensorMapPtr out = model->generate(2, nullptr, views.map().get());
    REQUIRE(out->count == 3);
    const char* names[] = {"image", "depth", "opacity"};
    const int64_t channels[] = {3, 1, 1};
    for (size_t i = 0; i < 3; ++i) {
      INFO(names[i]);
      CHECK(std::string(out->names[i]) == names[i]);
      const DLTensor& t = out->tensors[i]->dl_tensor;
      REQUIRE(t.ndim == 4);
      CHECK(t.shape[0] == 2);
      CHECK(t.shape[1] == channels[i]);
      CHECK(t.shape[2] == kSide);
      CHECK(t.shape[3] == kSide);
      CHECK(t.dtype.code == kDLFloat);
      CHECK(t.dtype.bits == 32);
    }
    for (float x : floats(*out, 0)) CHECK((x >= 0.0f && x <= 1.0f));
    for (float x : floats(*out, 2)) CHECK((x >= 0.0f && x <= 1.0f));
    for (float x : floats(*out, 1)) CHECK((x >= 0.0f && x <= 6.0f));  // sum w t <= far

    // Fewer views than poses renders the first ones; the size can come from options.
    TensorMapPtr first = model->generate(1, nullptr, views.map().get());
    const auto both = floats(*out, 0), one = floats(*first, 0);
    CHECK(std::vector<float>(both.begin(), both.begin() + static_cast<long>(one.size())) == one);
    toml::table size{{"height", 4}, {"width", 6}};
    TensorMapPtr small = model->generate(2, &size, views.map(true, false).get());
    CHECK(small->tensors[0]->dl_tensor.shape[2] == 4);
    CHECK(small->tensors[0]->dl_tensor.shape[3] == 6);
  }
}

TEST_CASE("nerf: exported state renders bit for bit the same in another model", "[nerf]") {
  for (const toml::table* config : {&kTinyHash, &kTinyMlp}) {
    auto trained = make_nerf(*config, 1);
    train(*trained, 15, 128);
    TensorMapPtr state = trained->export_state();
    const Views views = test_views();
    const auto original = floats(*trained->generate(2, nullptr, views.map().get()), 0);
    auto other = make_nerf(*config, 2);  // another seed: other weights until the import
    CHECK(floats(*other->generate(2, nullptr, views.map().get()), 0) != original);
    other->import_state(*state);
    TensorMapPtr rendered = other->generate(2, nullptr, views.map().get());
    CHECK(floats(*rendered, 0) == original);
    // Training continues identically from the state: the same optimiser moments and, since
    // the state carries LibTorch's generator (one per process, so each model restores it
    // before its step), the same perturbed samples.
    std::mt19937 rng(9);
    TensorMapPtr batch = ray_batch(rng, 64);
    const double resumed = other->train_step(*batch, 15).at(0).value;
    trained->import_state(*state);
    CHECK(trained->train_step(*batch, 15).at(0).value == resumed);
  }
}

TEST_CASE("nerf: the fused hash encoding and micro-batches train as the plain paths do, no backend: autograd",
          "[nerf]") {
  auto losses = [](toml::table config, HostSettings host = settings(7)) {
    ModelInstance model(builtin("nerf"), std::move(host), config, DLDevice{kDLCPU, 0}, nullptr);
    return train(model, 12, 128);
  };
  toml::table fused = kTinyHash;
  fused.insert_or_assign("composite", "autograd");
  fused.insert_or_assign("micro_batch", 128);  // the whole batch in one pass
  toml::table aten = fused, micro = fused;
  aten.insert_or_assign("hash_kernel", "aten");
  micro.insert_or_assign("micro_batch", 24);  // 6 micro-batches, the last of 8 rays
  const auto reference = losses(fused), batched = losses(aten), accumulated = losses(micro);
  // A host whose op dispatcher finds no backend: "backend" warns and composites in autograd.
  HostSettings no_backends = settings(7);
  no_backends.ops = std::make_shared<OpDispatcher>(std::vector<std::filesystem::path>{}, 1);
  toml::table fallback_config = kTinyHash;
  fallback_config.insert_or_assign("micro_batch", 128);
  const auto fallback = losses(fallback_config, no_backends);
  for (size_t i = 0; i < reference.size(); ++i) {
    INFO("step " << i << ": fused " << reference[i] << ", aten " << batched[i] << ", micro-batches " << accumulated[i]
                 << ", fallback " << fallback[i]);
    CHECK(batched[i] == Approx(reference[i]).epsilon(1e-5));      // the same rows and weights, summed in another order
    CHECK(accumulated[i] == Approx(reference[i]).epsilon(1e-5));  // the same samples and gradient, summed in parts
    CHECK(fallback[i] == reference[i]);
  }
  // The check can fail: another seed's losses are not within it.
  CHECK(losses(fused, settings(99)).back() != Approx(reference.back()).epsilon(1e-3));
}

TEST_CASE(
    "nerf: generate without poses, with too few, an unknown encoding and options out of range are errors that say so",
    "[nerf]") {
  auto model = make_nerf(kTinyHash);
  const Views views = test_views();
  const std::string no_pose = generate_error(*model, 2, views.map(false).get());
  CHECK_THAT(no_pose, Contains("renders views for given poses") && Contains("'pose'"));
  CHECK_THAT(generate_error(*model, 1, nullptr), Contains("'pose' and 'focal'"));
  CHECK_THAT(generate_error(*model, 3, views.map().get()), Contains("3 views") && Contains("2 poses"));
  CHECK_THAT(generate_error(*model, 1, views.map(true, false).get()), Contains("height") && Contains("width"));

  toml::table unknown = kTinyHash;
  unknown.insert_or_assign("encoding", "fourier");
  try {
    make_nerf(unknown);
    FAIL("an unknown encoding was accepted");
  } catch (const HostError& e) {
    CHECK_THAT(e.what(), Contains("expected encoding \"frequency\" or \"hashgrid\", got \"fourier\""));
  }
  // Each option is checked as it is read, relations between them after.
  toml::table narrow = kTinyHash, big_table = kTinyHash, rising = kTinyHash, inside_out = kTinyHash;
  narrow.insert_or_assign("width", 1);
  big_table.insert_or_assign("log2_table", 30);
  rising.insert_or_assign("lr_final_factor", 1.5);
  inside_out.insert_or_assign("near", 3.0);
  inside_out.insert_or_assign("far", 2.0);
  CHECK_THROWS_WITH(make_nerf(narrow), Contains("expected width >= 2 (the view layer has width / 2), got 1"));
  CHECK_THROWS_WITH(make_nerf(big_table), Contains("expected 4 <= log2_table <= 24, got 30"));
  CHECK_THROWS_WITH(make_nerf(rising), Contains("expected lr_final_factor <= 1, got 1.5"));
  CHECK_THROWS_WITH(make_nerf(inside_out), Contains("expected near < far, got near 3.0 and far 2.0"));
  TensorMapPtr image_batch = float_map("image", {2, 3, 8, 8}, std::vector<float>(2 * 3 * 64, 0.5f));
  try {
    model->train_step(*image_batch, 0);
    FAIL("a batch without rays was accepted");
  } catch (const HostError& e) {
    CHECK_THAT(e.what(), Contains("'origins'"));
  }
}
