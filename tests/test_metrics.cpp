// The metric plugins of plugins/metrics/ on synthetic data whose answers are known: point
// clouds with a known overlap, Gaussians with a closed-form FID, crafted classifier logits,
// constant images with hand-computed PSNR and SSIM.
#include "catch.hpp"
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "model_support.hpp"

namespace {

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;
using Values = std::map<std::string, double>;

// n x d values of independent N(mean, sd^2) draws.
std::vector<float> gaussian(int64_t n, int64_t d, uint32_t seed, double mean = 0, double sd = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> draw(mean, sd);
  std::vector<float> v(static_cast<size_t>(n * d));
  for (float& x : v) x = static_cast<float>(draw(rng));
  return v;
}

// n x d values uniform in [lo, hi).
std::vector<float> uniform(int64_t n, int64_t d, uint32_t seed, double lo = 0, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> draw(lo, hi);
  std::vector<float> v(static_cast<size_t>(n * d));
  for (float& x : v) x = static_cast<float>(draw(rng));
  return v;
}

// v with `offset` added to column `column` of its rows of width d.
std::vector<float> shifted(std::vector<float> v, int64_t d, int64_t column, float offset) {
  for (size_t i = static_cast<size_t>(column); i < v.size(); i += static_cast<size_t>(d)) v[i] += offset;
  return v;
}

// A map of one tensor [rows, d] (default name "x").
TensorMapPtr points(const std::vector<float>& v, int64_t d, const std::string& name = "x") {
  return float_map(name, {static_cast<int64_t>(v.size()) / d, d}, v);
}

// The scalars of metric `plugin` after one update with these maps.
Values evaluate(const std::string& plugin, const toml::table& config, const genlab_tensor_map* real,
                const genlab_tensor_map* generated) {
  MetricInstance metric(builtin(plugin), settings(), config);
  metric.update(real, generated, nullptr);
  Values out;
  for (const auto& s : metric.compute()) out[s.name] = s.value;
  return out;
}

// The error of evaluate() (a test failure if there is none).
std::string evaluate_error(const std::string& plugin, const toml::table& config, const genlab_tensor_map* real,
                           const genlab_tensor_map* generated) {
  try {
    evaluate(plugin, config, real, generated);
  } catch (const HostError& e) {
    return e.what();
  }
  FAIL("no error from " + plugin);
  return {};
}

// What the host's default logger (where plugins log) writes while this object lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  spdlog::sink_ptr sink_;
};

// Images [n, c, h, w] blurred by a 3x3 box filter (borders clamped).
std::vector<float> box_blur(const std::vector<float>& v, int64_t n, int64_t c, int64_t h, int64_t w) {
  std::vector<float> out(v.size());
  auto at = [&](int64_t plane, int64_t y, int64_t x) {
    return v[static_cast<size_t>(plane * h * w + std::clamp<int64_t>(y, 0, h - 1) * w +
                                 std::clamp<int64_t>(x, 0, w - 1))];
  };
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        float s = 0;
        for (int64_t dy = -1; dy <= 1; ++dy)
          for (int64_t dx = -1; dx <= 1; ++dx) s += at(p, y + dy, x + dx);
        out[static_cast<size_t>(p * h * w + y * w + x)] = s / 9;
      }
  return out;
}

}  // namespace

TEST_CASE("fid: near 0 for an independent draw, growing with added noise", "[metrics]") {
  const int64_t n = 2000, d = 4;
  const auto real = points(gaussian(n, d, 1), d);
  const auto base = gaussian(n, d, 2), noise = gaussian(n, d, 3);
  std::vector<double> fids;
  for (const float sd : {0.0f, 1.0f, 2.0f, 4.0f}) {
    std::vector<float> generated = base;
    for (size_t i = 0; i < generated.size(); ++i) generated[i] += sd * noise[i];
    fids.push_back(evaluate("fid", {}, real.get(), points(generated, d, "samples").get()).at("fid"));
  }
  CHECK(fids[0] >= 0);
  CHECK(fids[0] < 0.2 * fids[1]);
  CHECK(fids[1] < fids[2]);
  CHECK(fids[2] < fids[3]);
  // Population values D (sqrt(1 + sd^2) - 1)^2: 0.69, 5.53, 39.0.
  CHECK(fids[3] == Approx(d * std::pow(std::sqrt(17.0) - 1, 2)).epsilon(0.1));
}

TEST_CASE("fid: the closed form of Gaussians", "[metrics]") {
  SECTION("1-D: (m1 - m2)^2 + (s1 - s2)^2 of the sample moments") {
    const auto x = gaussian(1000, 1, 4), y = gaussian(1000, 1, 5, 1.5, 2.0);
    auto moments = [](const std::vector<float>& v) {
      double m = 0, s = 0;
      for (float a : v) m += a;
      m /= static_cast<double>(v.size());
      for (float a : v) s += (a - m) * (a - m);
      return std::pair<double, double>(m, std::sqrt(s / static_cast<double>(v.size() - 1)));
    };
    const auto [m1, s1] = moments(x);
    const auto [m2, s2] = moments(y);
    const double fid = evaluate("fid", {}, points(x, 1).get(), points(y, 1).get()).at("fid");
    CHECK(fid == Approx((m1 - m2) * (m1 - m2) + (s1 - s2) * (s1 - s2)).epsilon(1e-9));
    CHECK(fid == Approx(1.5 * 1.5 + 1.0).margin(0.3));  // the population value
  }
  SECTION("diagonal 3-D: sum of (mu_i difference)^2 + (sd_i difference)^2") {
    const int64_t n = 3000;
    std::vector<float> y(static_cast<size_t>(n * 3));
    const double means[] = {1, 0, -1}, sds[] = {1, 2, 0.5};
    for (int64_t j = 0; j < 3; ++j) {
      const auto column = gaussian(n, 1, 10 + static_cast<uint32_t>(j), means[j], sds[j]);
      for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i * 3 + j)] = column[static_cast<size_t>(i)];
    }
    const double fid = evaluate("fid", {}, points(gaussian(n, 3, 6), 3).get(), points(y, 3).get()).at("fid");
    CHECK(fid == Approx(2.0 + 0 + 1 + 0.25).margin(0.3));
  }
}

TEST_CASE("fid: accumulates over updates and warns when N < 2 D", "[metrics]") {
  const auto x = gaussian(400, 3, 7), y = gaussian(400, 3, 8, 0.3);
  const double whole = evaluate("fid", {}, points(x, 3).get(), points(y, 3).get()).at("fid");
  MetricInstance metric(builtin("fid"), settings(), {});
  const std::vector<float> x1(x.begin(), x.begin() + 600), x2(x.begin() + 600, x.end());
  const std::vector<float> y1(y.begin(), y.begin() + 300), y2(y.begin() + 300, y.end());
  metric.update(points(x1, 3).get(), points(y1, 3).get(), nullptr);
  metric.update(points(x2, 3).get(), points(y2, 3).get(), nullptr);
  CHECK(metric.compute().at(0).value == Approx(whole).epsilon(1e-9));

  LogCapture log;
  evaluate("fid", {}, points(gaussian(10, 8, 9), 8).get(), points(gaussian(12, 8, 10), 8).get());
  CHECK_THAT(log.text(),
             Contains("too few samples for a stable FID: N=10, feature dimension D=8; use at least 16 (2 x D)"));
}

TEST_CASE("fid: features = auto reads the feature network's features, pixels the data", "[metrics]") {
  const int64_t n = 300, d = 4;
  const auto real_features = gaussian(n, d, 11), generated_features = gaussian(n, d, 12);
  const auto real_images = uniform(n, 16, 13), generated_images = std::vector<float>(n * 16, 0.5f);
  auto map = [&](const char* name, const std::vector<float>& images, const std::vector<float>& features) {
    return MapBuilder().add_float(name, {n, 1, 4, 4}, images).add_float("features", {n, d}, features).build();
  };
  const auto real = map("image", real_images, real_features),
             generated = map("samples", generated_images, generated_features);
  const double on_features =
      evaluate("fid", {}, points(real_features, d).get(), points(generated_features, d).get()).at("fid");
  const double on_pixels =
      evaluate("fid", {}, points(real_images, 16).get(), points(generated_images, 16).get()).at("fid");
  CHECK(evaluate("fid", {}, real.get(), generated.get()).at("fid") == Approx(on_features).epsilon(1e-9));
  CHECK(evaluate("fid", toml::table{{"features", "network"}}, real.get(), generated.get()).at("fid") ==
        Approx(on_features).epsilon(1e-9));
  CHECK(evaluate("fid", toml::table{{"features", "pixels"}}, real.get(), generated.get()).at("fid") ==
        Approx(on_pixels).epsilon(1e-9));
  CHECK_THAT(evaluate_error("fid", toml::table{{"features", "pca"}}, real.get(), generated.get()),
             Contains("expected features \"auto\", \"network\" or \"pixels\", got \"pca\""));
}

TEST_CASE("metrics: features = network without a 'features' tensor says a feature network is needed", "[metrics]") {
  const int64_t n = 50;
  const auto real = MapBuilder()
                        .add_float("image", {n, 1, 4, 4}, uniform(n, 16, 14))
                        .add_int64("label", std::vector<int64_t>(n, 0))
                        .add_float("logits", {n, 2}, uniform(n, 2, 15))
                        .build();
  const auto generated = MapBuilder()
                             .add_float("samples", {n, 1, 4, 4}, uniform(n, 16, 16))
                             .add_float("logits", {n, 2}, uniform(n, 2, 17))
                             .build();
  for (const char* plugin : {"fid", "kid", "precision-recall", "density-coverage", "class-coverage"}) {
    INFO(plugin);
    const std::string error = evaluate_error(plugin, toml::table{{"features", "network"}}, real.get(), generated.get());
    CHECK_THAT(error, Contains("expected a 'features' tensor in the real map, got [image, label, logits]") &&
                          Contains("the experiment needs a feature network"));
  }
}

TEST_CASE("kid: unbiased, ~0 for one distribution and positive for shifted data", "[metrics]") {
  const int64_t n = 1000, d = 4;
  const toml::table config{{"subset_size", 500}, {"subsets", 50}};
  const auto real = points(gaussian(n, d, 18), d);
  const Values same = evaluate("kid", config, real.get(), points(gaussian(n, d, 19), d).get());
  CHECK(same.at("kid_std") > 0);
  CHECK(std::abs(same.at("kid")) < 2 * same.at("kid_std"));
  const Values moved = evaluate("kid", config, real.get(), points(gaussian(n, d, 19, 0.5), d).get());
  CHECK(moved.at("kid") > 5 * moved.at("kid_std"));
  CHECK(moved.at("kid") > 20 * std::abs(same.at("kid")));

  LogCapture log;
  evaluate("kid", toml::table{{"subsets", 5}}, points(gaussian(300, d, 20), d).get(),
           points(gaussian(400, d, 21), d).get());
  CHECK_THAT(log.text(), Contains("too few samples for a stable KID: N=300; need 1000 (subset_size)"));
}

TEST_CASE("precision-recall: half-overlapping squares give 0.5, one distribution ~1", "[metrics]") {
  const int64_t n = 1000;
  const auto real = points(uniform(n, 2, 22), 2);
  const Values half =
      evaluate("precision-recall", {}, real.get(), points(shifted(uniform(n, 2, 23), 2, 0, 0.5f), 2).get());
  CHECK(half.at("precision") == Approx(0.5).margin(0.1));
  CHECK(half.at("recall") == Approx(0.5).margin(0.1));
  const Values same = evaluate("precision-recall", {}, real.get(), points(uniform(n, 2, 24), 2).get());
  CHECK(same.at("precision") > 0.9);
  CHECK(same.at("recall") > 0.9);
  // Chunked distances (1024 rows at a time) give the same answer across chunk borders.
  const auto big = points(uniform(2500, 2, 25), 2);
  const Values chunked = evaluate("precision-recall", {}, big.get(), big.get());
  CHECK(chunked.at("precision") == 1.0);
  CHECK(chunked.at("recall") == 1.0);
  CHECK_THAT(evaluate_error("precision-recall", toml::table{{"k", 5}}, points(uniform(5, 2, 26), 2).get(), real.get()),
             Contains("expected more than k = 5 real examples for k-NN radii, got 5"));
}

TEST_CASE("density-coverage: ~1 for one distribution, 0 for disjoint supports", "[metrics]") {
  const int64_t n = 1000;
  const auto real = points(uniform(n, 2, 27), 2);
  const Values same = evaluate("density-coverage", {}, real.get(), points(uniform(n, 2, 28), 2).get());
  CHECK(same.at("density") == Approx(1.0).margin(0.1));
  CHECK(same.at("coverage") > 0.9);
  const Values apart =
      evaluate("density-coverage", {}, real.get(), points(shifted(uniform(n, 2, 29), 2, 0, 2.0f), 2).get());
  CHECK(apart.at("density") == 0.0);
  CHECK(apart.at("coverage") == 0.0);
}

TEST_CASE("class-coverage: 5 of 10 classes generated, accuracy of crafted logits", "[metrics]") {
  const int64_t classes = 10, n = 1000, m = 500;
  // Class c lies around (10 c, 0) in feature space; its logit is 5, the others 0.
  auto example = [&](int64_t label, int64_t predicted, uint32_t seed, std::vector<float>& features,
                     std::vector<float>& logits) {
    const auto noise = gaussian(1, 2, seed, 0, 0.5);
    features.push_back(10.0f * static_cast<float>(label) + noise[0]);
    features.push_back(noise[1]);
    for (int64_t c = 0; c < classes; ++c) logits.push_back(c == predicted ? 5.0f : 0.0f);
  };
  std::vector<int64_t> labels;
  std::vector<float> real_features, real_logits, generated_features, generated_logits;
  for (int64_t i = 0; i < n; ++i) {
    labels.push_back(i % classes);
    // Every 4th real example is misclassified: accuracy exactly 0.75.
    example(i % classes, i % 4 == 0 ? (i + 1) % classes : i % classes, static_cast<uint32_t>(100 + i), real_features,
            real_logits);
  }
  for (int64_t j = 0; j < m; ++j)
    example(j % 5, j % 5, static_cast<uint32_t>(5000 + j), generated_features, generated_logits);
  const auto real = MapBuilder()
                        .add_float("image", {n, 1, 3, 3}, std::vector<float>(n * 9, 0.0f))
                        .add_int64("label", labels)
                        .add_float("features", {n, 2}, real_features)
                        .add_float("logits", {n, classes}, real_logits)
                        .build();
  const auto generated = MapBuilder()
                             .add_float("samples", {m, 1, 3, 3}, std::vector<float>(m * 9, 0.0f))
                             .add_float("features", {m, 2}, generated_features)
                             .add_float("logits", {m, classes}, generated_logits)
                             .build();
  const Values v = evaluate("class-coverage", {}, real.get(), generated.get());
  CHECK(v.count("classifier_accuracy") == 0);  // the feature network's, not the model's
  CHECK(v.at("classes_covered") == Approx(0.5).epsilon(1e-12));
  // Real shares 0.1 each; generated 0.2 for classes 0-4 and 0 (floored to 1e-6) for 5-9.
  CHECK(v.at("class_kl") == Approx(0.5 * std::log(0.5) + 0.5 * std::log(0.1 / 1e-6)).epsilon(1e-9));
  CHECK(v.at("min_class_recall") == 0.0);
  for (int64_t c = 0; c < classes; ++c) {
    INFO("class " << c);
    const double recall = v.at("recall_class_" + std::to_string(c));
    if (c < 5) CHECK(recall > 0.8);
    else CHECK(recall == 0.0);
  }
  // The generated set is j % 5: a fifth each for classes 0-4, none for 5-9.
  double share_sum = 0;
  for (int64_t c = 0; c < classes; ++c) {
    INFO("class " << c);
    const double share = v.at("share_class_" + std::to_string(c));
    CHECK(share == Approx(c < 5 ? 0.2 : 0.0).margin(1e-12));
    share_sum += share;
  }
  CHECK(share_sum == Approx(1.0).epsilon(1e-12));

  const auto no_logits = MapBuilder().add_float("samples", {m, 1, 3, 3}, std::vector<float>(m * 9, 0.0f)).build();
  CHECK_THAT(
      evaluate_error("class-coverage", {}, real.get(), no_logits.get()),
      Contains(
          "class-coverage needs a 'logits' tensor in the generated map, got [samples]: the experiment needs a feature network"));
}

TEST_CASE("sharpness: blurred copies have a ratio below 1, identical sets 1", "[metrics]") {
  const int64_t n = 32, c = 3, h = 16, w = 16;
  const auto images = uniform(n, c * h * w, 30);
  const auto real = float_map("image", {n, c, h, w}, images);
  const Values same = evaluate("sharpness", {}, real.get(), float_map("samples", {n, c, h, w}, images).get());
  CHECK(same.at("ratio") == Approx(1.0).epsilon(1e-12));
  CHECK(same.at("real") > 0);
  const Values blurred =
      evaluate("sharpness", {}, real.get(), float_map("samples", {n, c, h, w}, box_blur(images, n, c, h, w)).get());
  CHECK(blurred.at("ratio") < 0.5);
  CHECK(blurred.at("generated") == Approx(blurred.at("ratio") * blurred.at("real")).epsilon(1e-12));
  CHECK_THAT(
      evaluate_error("sharpness", {}, real.get(), float_map("samples", {n, 1, 2, 8}, std::vector<float>(n * 16)).get()),
      Contains("expected generated 'samples' to be images [N, C, H, W] with H, W >= 3, got shape [32, 1, 2, 8]"));
}

TEST_CASE("psnr-ssim: hand-computed values on constant images", "[metrics]") {
  const int64_t n = 4, c = 3, h = 16, w = 16;
  const size_t size = static_cast<size_t>(n * c * h * w);
  const float a = 0.5f, b = 0.6f;
  const auto real = float_map("image", {n, c, h, w}, std::vector<float>(size, a));
  const Values constant =
      evaluate("psnr-ssim", {}, real.get(), float_map("samples", {n, c, h, w}, std::vector<float>(size, b)).get());
  CHECK(constant.at("psnr") == Approx(20.0).margin(1e-5));  // MSE 0.01
  // The variance terms vanish: SSIM = (2ab + C1) / (a^2 + b^2 + C1).
  const double c1 = 0.01 * 0.01, x = a, y = b;
  CHECK(constant.at("ssim") == Approx((2 * x * y + c1) / (x * x + y * y + c1)).epsilon(1e-9));
  SECTION("identical images: SSIM 1, PSNR of the MSE floor 1e-10 (100 dB)") {
    const auto images = uniform(n, c * h * w, 31);
    const Values same = evaluate("psnr-ssim", {}, float_map("image", {n, c, h, w}, images).get(),
                                 float_map("samples", {n, c, h, w}, images).get());
    CHECK(same.at("ssim") == Approx(1.0).epsilon(1e-12));
    CHECK(same.at("psnr") == Approx(100.0).epsilon(1e-12));
  }
  SECTION("data_range scales PSNR: R = 2 adds 20 log10(2) dB") {
    const Values wide = evaluate("psnr-ssim", toml::table{{"data_range", 2.0}}, real.get(),
                                 float_map("samples", {n, c, h, w}, std::vector<float>(size, b)).get());
    CHECK(wide.at("psnr") == Approx(constant.at("psnr") + 20 * std::log10(2.0)).epsilon(1e-12));
  }
  SECTION("only the first min(N_real, N_generated) pairs; images smaller than the window") {
    const auto small = uniform(n, c * 5 * 7, 32);
    const auto fewer = std::vector<float>(small.begin(), small.begin() + 2 * c * 5 * 7);
    const Values v = evaluate("psnr-ssim", {}, float_map("image", {n, c, 5, 7}, small).get(),
                              float_map("samples", {2, c, 5, 7}, fewer).get());
    CHECK(v.at("ssim") == Approx(1.0).epsilon(1e-12));
  }
  SECTION("a shape mismatch names both shapes") {
    CHECK_THAT(evaluate_error("psnr-ssim", {}, real.get(),
                              float_map("samples", {n, 1, h, w}, std::vector<float>(size / 3)).get()),
               Contains("expected real 'image' and generated 'samples' to be images [N, C, H, W] of the same C, H, W, "
                        "got [4, 3, 16, 16] and [4, 1, 16, 16]"));
  }
}
