// The diffusion plugin through the host: its forward process against the closed form, its
// training on the real 8x8 digits, its samplers (DDIM's determinism, DDIM with eta = 1 on
// the full schedule against ancestral DDPM on toy 2-D data), its bound and its state.
#include "catch.hpp"

#include <cmath>

#include "model_support.hpp"

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;

namespace {

// A small U-Net on the digits: T = 200, so the linear schedule's betas run from 5e-4 to 0.1.
struct DigitsDiffusion : ModelOnData {
  DigitsDiffusion()
      : ModelOnData(
            "diffusion",
            toml::table{
                {"channels", 16}, {"channel_mult", "1,2"}, {"timesteps", 200}, {"lr", 0.001}, {"score_samples", 4}}) {}
};

// The MLP on the 8-mode ring of example-toy2d (radius 2, component std 0.1).
struct RingDiffusion : ModelOnData {
  RingDiffusion()
      : ModelOnData("diffusion", toml::table{{"timesteps", 100}, {"hidden", 64}, {"lr", 0.003}, {"ema", 0.99}},
                    "example-toy2d") {}
};

// abar_t of the linear and cosine schedules, computed here from their papers' definitions
// (Ho et al. 2020, section 4; Nichol & Dhariwal 2021, eq. 17), not by the plugin.
double alpha_bar(const std::string& schedule, int64_t t, int64_t T) {
  if (schedule == "cosine") {
    auto f = [&](double s) { return std::pow(std::cos((s / static_cast<double>(T) + 0.008) / 1.008 * M_PI / 2), 2); };
    return f(static_cast<double>(t + 1)) / f(0);
  }
  const double start = 1e-4 * 1000.0 / T, end = 0.02 * 1000.0 / T;
  double ab = 1;
  for (int64_t s = 0; s <= t; ++s)
    ab *= 1 - (start + (end - start) * static_cast<double>(s) / static_cast<double>(T - 1));
  return ab;
}

// Share of 2-D points per sector of 45 degrees, and their mean distance from the origin.
struct RingStats {
  std::vector<double> sectors = std::vector<double>(8, 0.0);
  double radius = 0;
  explicit RingStats(const std::vector<float>& xy) {
    const size_t n = xy.size() / 2;
    for (size_t i = 0; i < n; ++i) {
      const double angle = std::atan2(xy[2 * i + 1], xy[2 * i]) + M_PI / 8;  // sectors centred on the modes
      const int sector = static_cast<int>(std::floor((angle < 0 ? angle + 2 * M_PI : angle) / (M_PI / 4))) % 8;
      sectors[sector] += 1.0 / static_cast<double>(n);
      radius += std::hypot(xy[2 * i], xy[2 * i + 1]) / static_cast<double>(n);
    }
  }
  double total_variation(const RingStats& other) const {
    double d = 0;
    for (int s = 0; s < 8; ++s) d += std::abs(sectors[s] - other.sectors[s]) / 2;
    return d;
  }
};

}  // namespace

TEST_CASE("diffusion: the forward noising matches q(x_t | x_0) statistically", "[diffusion]") {
  const std::string schedule = GENERATE("linear", "cosine");
  DigitsDiffusion d;
  d.config.insert("schedule", schedule);
  auto model = d.make(11);
  TensorMapPtr images = d.examples("train", 512);
  const auto x0 = floats(*images);  // in [0, 1]; the model works in [-1, 1]
  for (int64_t t : {0, 20, 100, 199}) {
    toml::table options{{"forward_step", t}};
    TensorMapPtr out = model->generate(512, &options, images.get());
    const auto xt = floats(*out);
    REQUIRE(xt.size() == x0.size());
    const double ab = alpha_bar(schedule, t, 200), n = static_cast<double>(xt.size());
    // x_t - sqrt(abar) x_0 must be N(0, 1 - abar) noise, independent of x_0.
    double sum = 0, sum_sq = 0, cov = 0, x_mean = 0, x_var = 0;
    for (size_t i = 0; i < xt.size(); ++i) x_mean += (2 * x0[i] - 1) / n;
    for (size_t i = 0; i < xt.size(); ++i) {
      const double x = 2 * x0[i] - 1, r = xt[i] - std::sqrt(ab) * x;
      sum += r;
      sum_sq += r * r;
      cov += r * (x - x_mean);
      x_var += (x - x_mean) * (x - x_mean);
    }
    const double mean_r = sum / n, var_r = sum_sq / n - mean_r * mean_r;
    INFO(schedule << ", t " << t << ": abar " << ab << ", residual mean " << mean_r << ", variance " << var_r
                  << " (expected " << 1 - ab << "), slope on x_0 " << cov / x_var);
    CHECK(std::abs(mean_r) < 5 * std::sqrt((1 - ab) / n));           // 5 standard errors
    CHECK(std::abs(var_r / (1 - ab) - 1) < 0.05);                    // ~6 standard errors at n = 32768
    CHECK(std::abs(cov / x_var) < 5 * std::sqrt((1 - ab) / x_var));  // no leftover dependence on x_0
  }
}

TEST_CASE("diffusion: the loss halves in 200 steps on the digits", "[diffusion]") {
  DigitsDiffusion d;
  auto model = d.make();
  const auto losses = d.train(*model, 200);
  const double first = mean(losses, 0, 20), last = mean(losses, 180, 200);
  INFO("noise-prediction MSE, first 20 steps " << first << ", last 20 " << last);
  CHECK(last < 0.5 * first);
}

TEST_CASE("diffusion: DDIM with eta = 0 is deterministic given the noise, state round-trips", "[diffusion]") {
  DigitsDiffusion d;
  auto model = d.make(3);
  d.train(*model, 20);
  TensorMapPtr state = model->export_state();
  std::vector<float> values(6 * 64);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)) * 1.5);
  TensorMapPtr noise = float_map("noise", {6, 1, 8, 8}, values);
  toml::table ddim{{"sampler", "ddim"}, {"steps", 10}, {"eta", 0.0}};
  const auto first = floats(*model->generate(6, &ddim, noise.get()));
  for (float x : first) CHECK((x >= 0.0f && x <= 1.0f));
  auto other = d.make(99);  // another seed: with eta = 0 only the noise and the weights matter
  other->import_state(*state);
  CHECK(floats(*other->generate(6, &ddim, noise.get())) == first);
  for (float& v : values) v = -v;
  CHECK(floats(*other->generate(6, &ddim, float_map("noise", {6, 1, 8, 8}, values).get())) != first);
  // Ancestral sampling draws noise every step: the state's RNG makes it repeat too.
  // (LibTorch's generator is one per process: each model restores it just before sampling.)
  toml::table ddpm{{"sampler", "ddpm"}};
  auto a = d.make(1), b = d.make(2);
  a->import_state(*state);
  const auto from_a = floats(*a->generate(4, &ddpm, nullptr));
  b->import_state(*state);
  CHECK(floats(*b->generate(4, &ddpm, nullptr)) == from_a);
}

TEST_CASE("diffusion: DDIM with eta = 1 on the full schedule matches ancestral DDPM on a 2-D ring", "[diffusion]") {
  RingDiffusion ring;
  auto model = ring.make(4);
  ring.train(*model, 600, 256);
  TensorMapPtr state = model->export_state();
  toml::table ddpm{{"sampler", "ddpm"}}, ddim{{"sampler", "ddim"}, {"steps", 100}, {"eta", 1.0}};
  // The same RNG state: the two samplers take the same path, up to float rounding.
  auto a = ring.make(), b = ring.make();
  a->import_state(*state);
  const auto path_ddpm = floats(*a->generate(2000, &ddpm, nullptr));
  b->import_state(*state);
  const auto path_ddim = floats(*b->generate(2000, &ddim, nullptr));
  double worst = 0;
  for (size_t i = 0; i < path_ddpm.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(path_ddpm[i] - path_ddim[i])));
  INFO("largest difference on the same path " << worst);
  CHECK(worst < 1e-3);
  // Other noise: the two distributions agree within 0.05 in total variation over the 8 modes
  // (at n = 2000 the sampling error alone is about 0.02) and 0.05 in mean radius.
  const RingStats from_ddpm(path_ddpm), from_ddim(floats(*model->generate(2000, &ddim, nullptr)));
  INFO("mean radius DDPM " << from_ddpm.radius << ", DDIM " << from_ddim.radius << "; TV "
                           << from_ddpm.total_variation(from_ddim));
  CHECK(from_ddpm.total_variation(from_ddim) < 0.05);
  CHECK(std::abs(from_ddpm.radius - from_ddim.radius) < 0.05);
  CHECK(std::abs(from_ddpm.radius - 2.0) < 0.2);  // and both found the ring
  for (double share : from_ddpm.sectors) CHECK(share > 0.05);
}

TEST_CASE("diffusion: v-prediction with the cosine schedule learns the ring too", "[diffusion]") {
  RingDiffusion ring;
  ring.config.insert("prediction", "v");
  ring.config.insert("schedule", "cosine");
  auto model = ring.make(8);
  ring.train(*model, 600, 256);
  toml::table ddim{{"steps", 50}};
  const RingStats stats(floats(*model->generate(1000, &ddim, nullptr)));
  INFO("mean radius " << stats.radius);
  CHECK(std::abs(stats.radius - 2.0) < 0.2);
  for (double share : stats.sectors) CHECK(share > 0.05);
}

TEST_CASE("diffusion: the bound is per example, in bits/dim too, and far lower for digits than for noise",
          "[diffusion]") {
  DigitsDiffusion d;
  d.config.insert_or_assign("score_samples", 16);
  auto model = d.make();
  d.train(*model, 150);
  std::vector<float> noise(64 * 64);
  for (size_t i = 0; i < noise.size(); ++i)
    noise[i] = static_cast<float>((i * 7919) % 17) / 16.0f;  // digits' 17 levels
  auto mean_bits = [&](const genlab_tensor_map& images) {
    TensorMapPtr scores = model->score(images);
    REQUIRE(scores->count == 2);
    CHECK(std::string(scores->names[0]) == "nll");
    CHECK(std::string(scores->names[1]) == "bits_per_dim");
    const auto nats = floats(*scores, 0), bits = floats(*scores, 1);
    REQUIRE(bits.size() == 64);
    double sum = 0;
    for (size_t i = 0; i < bits.size(); ++i) {
      CHECK(bits[i] == Approx(nats[i] / (64 * std::log(2.0))));
      sum += bits[i] / 64.0;
    }
    return sum;
  };
  TensorMapPtr test = d.examples("test", 64);
  const double digits = mean_bits(*test), scrambled = mean_bits(*float_map("image", {64, 1, 8, 8}, noise));
  INFO("bits/dim of test digits " << digits << ", of scrambled pixels " << scrambled);
  CHECK(std::isfinite(digits));
  CHECK(digits < 0.8 * scrambled);
  // The importance-sampled estimate (K = 16 per example) against the exact sum over all 199
  // t: at 64 examples its spread is a few percent.
  d.config.insert_or_assign("score_samples", 0);
  TensorMapPtr state = model->export_state();
  model = d.make();
  model->import_state(*state);
  const double exact = mean_bits(*test);
  INFO("exact " << exact << ", estimated " << digits);
  CHECK(std::abs(digits / exact - 1) < 0.15);
}

TEST_CASE("diffusion: bad options are refused with the key and what was expected", "[diffusion][bad-input]") {
  DigitsDiffusion d;
  auto model = d.make();
  toml::table few{{"sampler", "ddpm"}, {"steps", 20}};
  CHECK_THROWS_WITH(model->generate(2, &few, nullptr),
                    Contains("sampler \"ddpm\" runs all 200 steps; for fewer use sampler \"ddim\""));
  toml::table unknown{{"sampler", "euler"}};
  CHECK_THROWS_WITH(model->generate(2, &unknown, nullptr),
                    Contains("expected sampler \"ddpm\" or \"ddim\", got \"euler\""));
  CHECK_THROWS_WITH(model->generate(2, nullptr, float_map("label", {2}, {1, 2}).get()),
                    Contains("this model is not class-conditional"));
  d.config.insert_or_assign("channel_mult", "1,1,1,1,1");
  CHECK_THROWS_WITH(d.make(), Contains("5 U-Net levels need H and W divisible by 16, the data is 8x8"));
  d.config.insert_or_assign("channel_mult", "1,x");
  CHECK_THROWS_WITH(d.make(), Contains("expected channel_mult as positive integers"));
  d.config.insert_or_assign("channel_mult", "1,2");
  d.config.insert_or_assign("timesteps", 10);
  CHECK_THROWS_WITH(d.make(), Contains("timesteps 10 is too few for the linear schedule: its last beta would be 2.0") &&
                                  Contains("use timesteps >= 21 or schedule = \"cosine\""));
  // Each option is checked as it is read, naming it and the value given.
  toml::table over{{"steps", 500}};
  CHECK_THROWS_WITH(model->generate(2, &over, nullptr), Contains("expected steps <= timesteps (200), got 500"));
  toml::table negative{{"eta", -1.0}};
  CHECK_THROWS_WITH(model->generate(2, &negative, nullptr), Contains("expected eta >= 0, got -1.0"));
  DigitsDiffusion e;
  e.config.insert_or_assign("dropout", 1.0);
  CHECK_THROWS_WITH(e.make(), Contains("expected 0 <= dropout < 1, got 1.0"));
  e.config.insert_or_assign("dropout", 0.0);
  e.config.insert_or_assign("schedule", "quadratic");
  CHECK_THROWS_WITH(e.make(), Contains("expected schedule \"linear\" or \"cosine\", got \"quadratic\""));
}

TEST_CASE("diffusion: a class-conditional model samples the classes asked for, with guidance", "[diffusion]") {
  DigitsDiffusion d;
  d.config.insert("conditional", true);
  auto model = d.make();
  d.train(*model, 5);
  std::vector<float> values(4 * 64);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)));
  auto sample = [&](const std::vector<int64_t>& labels) {
    TensorMapPtr inputs = MapBuilder().add_float("noise", {4, 1, 8, 8}, values).add_int64("label", labels).build();
    toml::table guided{{"steps", 5}, {"guidance", 3.0}};
    return floats(*model->generate(4, &guided, inputs.get()));
  };
  const auto threes = sample({3, 3, 3, 3});
  CHECK(sample({3, 3, 3, 3}) == threes);
  CHECK(sample({7, 7, 7, 7}) != threes);
  CHECK_THROWS_WITH(sample({3, 3, 3, 10}), Contains("expected labels in [0, 10)"));
}

TEST_CASE("diffusion: the U-Net takes 32x32 colour images (an image folder) as well", "[diffusion]") {
  TempDir dir;
  for (int i = 0; i < 8; ++i)
    write_png(dir.path() / ("p" + std::to_string(i) + ".png"), 32, 32, 3, static_cast<unsigned char>(30 * i));
  ModelOnData d("diffusion", toml::table{{"channels", 8}, {"timesteps", 50}}, "image-folder",
                toml::table{{"path", dir.path().string()}, {"test_fraction", 0.25}});
  auto model = d.make();
  for (double loss : d.train(*model, 2, 4)) CHECK(std::isfinite(loss));
  toml::table ddim{{"steps", 3}};
  TensorMapPtr out = model->generate(2, &ddim, nullptr);
  const DLTensor& s = out->tensors[0]->dl_tensor;
  CHECK(std::vector<int64_t>(s.shape, s.shape + 4) == std::vector<int64_t>{2, 3, 32, 32});
}
