// psnr-ssim — paired reconstruction quality of generated[i] against real[i]: the peak
// signal-to-noise ratio, and the structural similarity of Wang et al. 2004 ("Image quality
// assessment: from error visibility to structural similarity") with an 11x11 Gaussian window.
#include <genlab/sdk/plugin.hpp>

#include <cmath>

#include "../common/features.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;
namespace gm = genlab::metrics;

struct PsnrSsimOptions {
  gm::DataKeys data;
  double data_range = 1.0;
};

const auto kPsnrSsimParams =
    gm::data_params(&PsnrSsimOptions::data)
        .add("data_range", &PsnrSsimOptions::data_range, "the range R of pixel values (max - min)")
        .positive();

// SSIM of each pair of images x, y [N, C, H, W]: the SSIM map of a Gaussian window (sigma 1.5,
// 11 wide or the image's smaller side made odd), valid convolution, averaged over pixels and channels.
at::Tensor ssim(const at::Tensor& x, const at::Tensor& y, double range) {
  const int64_t channels = x.size(1);
  int64_t size = std::min<int64_t>({11, x.size(2), x.size(3)});
  if (size % 2 == 0) --size;
  const at::Tensor t = at::arange(size, at::kDouble) - static_cast<double>(size - 1) / 2;
  at::Tensor g = at::exp(-t * t / (2 * 1.5 * 1.5));
  g = g / g.sum();
  const at::Tensor window = at::outer(g, g).expand({channels, 1, size, size}).contiguous();
  auto blur = [&](const at::Tensor& v) { return at::conv2d(v, window, {}, 1, at::IntArrayRef{0}, 1, channels); };
  const double c1 = std::pow(0.01 * range, 2), c2 = std::pow(0.03 * range, 2);
  const at::Tensor mx = blur(x), my = blur(y);
  const at::Tensor vx = blur(x * x) - mx * mx, vy = blur(y * y) - my * my, cxy = blur(x * y) - mx * my;
  const at::Tensor map = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
  return map.flatten(1).mean(1);
}

class PsnrSsim final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return gm::metric_info("psnr-ssim", "reconstruction",
                           "PSNR and SSIM (Wang et al. 2004) of generated[i] against real[i]", {"image", "rays"},
                           kPsnrSsimParams.describe());
  }

  explicit PsnrSsim(const genlab::sdk::Context& context)
      : Metric(context), options_(kPsnrSsimParams.read(context.config)) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    GENLAB_CHECK(!real.empty() && !generated.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected real and generated images in every update: psnr-ssim compares real[i] with generated[i]");
    const auto& [real_name, r] = gm::data_entry(real, options_.data.real_key, "real");
    const auto& [generated_name, g] = gm::data_entry(generated, options_.data.generated_key, "generated");
    GENLAB_CHECK(r.dim() == 4 && g.dim() == 4 && r.sizes().slice(1) == g.sizes().slice(1),
                 GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected real '" + real_name + "' and generated '" + generated_name +
                     "' to be images [N, C, H, W] of the same C, H, W, got " + c10::str(r.sizes()) + " and " +
                     c10::str(g.sizes()));
    const int64_t n = std::min(r.size(0), g.size(0));
    if (n == 0) return;
    const at::Tensor x = r.detach().narrow(0, 0, n).to(at::kCPU, at::kDouble);
    const at::Tensor y = g.detach().narrow(0, 0, n).to(at::kCPU, at::kDouble);
    const at::Tensor mse = (x - y).pow(2).flatten(1).mean(1).clamp_min(1e-10);
    const double range = options_.data_range;
    psnr_.add(10 * at::log10(range * range / mse), "psnr");
    ssim_.add(ssim(x, y, range), "ssim");
  }

  genlab::sdk::Scalars compute() override {
    GENLAB_CHECK(psnr_.count() > 0, GENLAB_ERROR_FAILED_PRECONDITION,
                 "expected pairs of real and generated images before compute");
    return {{"psnr", psnr_.all().mean().item<double>(), GENLAB_DIRECTION_HIGHER},
            {"ssim", ssim_.all().mean().item<double>(), GENLAB_DIRECTION_HIGHER}};
  }

  void reset() override {
    psnr_.clear();
    ssim_.clear();
  }

 private:
  const PsnrSsimOptions options_;
  gm::Rows psnr_, ssim_;  // one value per pair
};

}  // namespace

GENLAB_PLUGIN(PsnrSsim)
