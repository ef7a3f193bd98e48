// The VAE and the GAN trained, sampled, scored and restored through the host, on the real
// 8x8 digits, and their refusals of bad options.
#include "catch.hpp"

#include <cmath>

#include "genlab/core/instances.hpp"
#include "genlab/genlab_util.h"
#include "model_support.hpp"

using namespace genlab;
using namespace genlab::test;
using genlab::test::Contains;

namespace {

struct DigitsVae : ModelOnData {
  DigitsVae() : ModelOnData("vae", toml::table{{"hidden", 64}, {"latent", 4}}) {}
};

}  // namespace

TEST_CASE("the VAE's loss falls by a third in 300 steps on the digits", "[vae]") {
  DigitsVae v;
  auto model = v.make();
  const auto losses = v.train(*model, 300);
  const double first = mean(losses, 0, 20), last = mean(losses, 280, 300);
  INFO("negative ELBO, first 20 steps " << first << ", last 20 " << last);
  CHECK(last < first * 0.67);
}

TEST_CASE("the same seed gives the VAE the same losses bit for bit", "[vae]") {
  DigitsVae v;
  auto a = v.make(9);
  const auto la = v.train(*a, 30);
  auto b = v.make(9);
  CHECK(v.train(*b, 30) == la);
}

TEST_CASE("VAE samples are images in [0, 1] of the data's shape, and scores are per example", "[vae]") {
  DigitsVae v;
  v.config.insert("iw_samples", 20);
  auto model = v.make();
  v.train(*model, 20);
  TensorMapPtr out = model->generate(10, nullptr, nullptr);
  const DLTensor& s = out->tensors[0]->dl_tensor;
  REQUIRE(s.ndim == 4);
  CHECK(std::vector<int64_t>(s.shape, s.shape + 4) == std::vector<int64_t>{10, 1, 8, 8});
  for (float x : floats(*out)) CHECK((x >= 0.0f && x <= 1.0f));
  TensorMapPtr batch = v.data.get_batch("test", {0, 1, 2, 3}, 0);
  TensorMapPtr scores = model->score(*batch);
  REQUIRE(scores->count == 2);
  CHECK(std::string(scores->names[0]) == "nll_iw");
  const auto iw = floats(*scores);
  REQUIRE(iw.size() == 4);
  for (float x : iw) CHECK(std::isfinite(x));
}

TEST_CASE("VAE state exported and imported gives identical samples", "[vae]") {
  DigitsVae v;
  auto model = v.make();
  v.train(*model, 20);
  TensorMapPtr state = model->export_state();
  const auto first = floats(*model->generate(6, nullptr, nullptr));
  auto restored = v.make(123);  // another seed: everything must come from the state
  restored->import_state(*state);
  CHECK(floats(*restored->generate(6, nullptr, nullptr)) == first);
}

TEST_CASE("the VAE states its trainable parameters through export_state (ABI 1.6)", "[vae][cost]") {
  DigitsVae v;
  v.config.insert_or_assign("hidden", 16);
  v.config.insert_or_assign("latent", 3);
  auto model = v.make();
  CHECK(model->trainable_parameters() == -1);  // nothing stated before an export
  model->export_state();
  // 64 pixels -> 16 -> (mu 3, logvar 3) -> 16 -> 64: weights and biases of the five Linears.
  const int64_t D = 64, h = 16, z = 3;
  CHECK(model->trainable_parameters() == (D * h + h) + 2 * (h * z + z) + (z * h + h) + (h * D + D));
}

TEST_CASE("the VAE refuses options it does not have", "[vae][bad-input]") {
  DigitsVae v;
  v.config.insert_or_assign("arch", "transformer");
  CHECK_THROWS_WITH(v.make(), Contains("expected arch \"mlp\" or \"conv\", got \"transformer\""));
  v.config.insert_or_assign("arch", "conv");  // 8x8 is divisible by 4: the conv VAE works
  auto conv = v.make();
  CHECK(v.train(*conv, 2).size() == 2);
}

namespace {

struct DigitsGan : ModelOnData {
  DigitsGan() : ModelOnData("gan", toml::table{{"width", 0.5}, {"noise", 16}}) {}
  // The distance between the mean image of 256 samples and of 256 test digits.
  double mean_image_distance(ModelInstance& model) {
    const auto samples = floats(*model.generate(256, nullptr, nullptr));
    std::vector<int64_t> idx;
    for (int i = 0; i < 256; ++i) idx.push_back(i);
    const auto real = floats(*data.get_batch("test", idx, 0));
    double d = 0;
    for (int p = 0; p < 64; ++p) {
      double a = 0, b = 0;
      for (int i = 0; i < 256; ++i) a += samples[i * 64 + p], b += real[i * 64 + p];
      d += (a / 256 - b / 256) * (a / 256 - b / 256);
    }
    return std::sqrt(d);
  }
};

}  // namespace

TEST_CASE("the GAN's samples move toward the digits: the mean-image distance halves in 300 steps", "[gan]") {
  DigitsGan g;
  auto model = g.make();
  const double before = g.mean_image_distance(*model);
  g.train(*model, 300);
  const double after = g.mean_image_distance(*model);
  INFO("mean-image distance before " << before << ", after " << after);
  CHECK(after < 0.5 * before);
}

TEST_CASE("the same seed gives the GAN the same losses bit for bit, and its state round-trips", "[gan]") {
  DigitsGan g;
  auto a = g.make(3);
  const auto la = g.train(*a, 10);
  auto b = g.make(3);
  CHECK(g.train(*b, 10) == la);
  TensorMapPtr state = a->export_state();
  const auto first = floats(*a->generate(5, nullptr, nullptr));
  auto restored = g.make(77);
  restored->import_state(*state);
  CHECK(floats(*restored->generate(5, nullptr, nullptr)) == first);
  for (float x : first) CHECK((x >= 0.0f && x <= 1.0f));
}

TEST_CASE("the GAN's options: hinge loss and spectral norm train, a reference arch on 8x8 data is refused", "[gan]") {
  DigitsGan g;
  g.config.insert("loss", "hinge");
  g.config.insert("spectral_norm", true);
  auto model = g.make();
  for (double v : g.train(*model, 3)) CHECK(std::isfinite(v));
  g.config.insert_or_assign("arch", "dcgan28");
  CHECK_THROWS_WITH(g.make(), Contains("arch \"dcgan28\" generates 28x28 images, the data is 8x8"));
  CHECK_FALSE(g.plugin->has(GENLAB_CAPABILITY_SCORE));  // no likelihood: the host refuses such metrics
}

TEST_CASE("the GAN refuses an option out of range, naming it and the value given", "[gan][bad-input]") {
  DigitsGan g;
  g.config.insert_or_assign("width", 0.0);
  CHECK_THROWS_WITH(g.make(), Contains("expected width > 0, got 0.0"));
  g.config.insert_or_assign("width", 0.5);
  g.config.insert_or_assign("loss", "wgan");
  CHECK_THROWS_WITH(g.make(), Contains("expected loss \"nonsaturating\" or \"hinge\", got \"wgan\""));
  g.config.insert_or_assign("loss", "hinge");
  g.config.insert_or_assign("d_steps", 0);
  CHECK_THROWS_WITH(g.make(), Contains("expected d_steps > 0, got 0"));
}
