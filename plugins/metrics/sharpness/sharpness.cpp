// sharpness — the variance of the Laplacian (Pech-Pacheco et al. 2000, "Diatom autofocusing in
// brightfield microscopy: a comparative study") of each grey-level image, averaged over the
// generated and the real images; their ratio is below 1 when the samples are blurrier than the data.
#include <genlab/sdk/plugin.hpp>

#include "../common/features.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;
namespace gm = genlab::metrics;

struct SharpnessOptions {
  gm::DataKeys data;
};

const auto kSharpnessParams = gm::data_params(&SharpnessOptions::data);

// The variance of the Laplacian of each image's channel mean [N] (valid convolution).
at::Tensor laplacian_variance(const Tensors::Entry& entry, const std::string& side) {
  const at::Tensor& images = entry.second;
  GENLAB_CHECK(images.dim() == 4 && images.size(2) >= 3 && images.size(3) >= 3, GENLAB_ERROR_INVALID_ARGUMENT,
               "expected " + side + " '" + entry.first + "' to be images [N, C, H, W] with H, W >= 3, got shape " +
                   c10::str(images.sizes()));
  const at::Tensor grey = images.detach().to(at::kCPU, at::kDouble).mean(1, true);
  const at::Tensor kernel = at::tensor({0., 1., 0., 1., -4., 1., 0., 1., 0.}, at::kDouble).view({1, 1, 3, 3});
  const at::Tensor response = at::conv2d(grey, kernel).flatten(1);
  return (response - response.mean(1, true)).pow(2).mean(1);
}

class Sharpness final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return gm::metric_info("sharpness", "image-quality",
                           "variance of the Laplacian of generated vs real images, and their ratio", {"image"},
                           kSharpnessParams.describe());
  }

  explicit Sharpness(const genlab::sdk::Context& context)
      : Metric(context), options_(kSharpnessParams.read(context.config)) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    GENLAB_CHECK(!real.empty() || !generated.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected real or generated images, got neither");
    const gm::DataKeys& keys = options_.data;
    if (!real.empty())
      real_.add(laplacian_variance(gm::data_entry(real, keys.real_key, "real"), "real"), "real sharpness");
    if (!generated.empty())
      generated_.add(laplacian_variance(gm::data_entry(generated, keys.generated_key, "generated"), "generated"),
                     "generated sharpness");
  }

  genlab::sdk::Scalars compute() override {
    GENLAB_CHECK(real_.count() > 0 && generated_.count() > 0, GENLAB_ERROR_FAILED_PRECONDITION,
                 "expected real and generated images before compute, got " + std::to_string(real_.count()) + " and " +
                     std::to_string(generated_.count()));
    const double real = real_.all().mean().item<double>(), generated = generated_.all().mean().item<double>();
    return {{"generated", generated, GENLAB_DIRECTION_NONE},
            {"real", real, GENLAB_DIRECTION_NONE},
            {"ratio", generated / real, GENLAB_DIRECTION_NONE}};
  }

  void reset() override {
    real_.clear();
    generated_.clear();
  }

 private:
  const SharpnessOptions options_;
  gm::Rows real_, generated_;  // one value per image
};

}  // namespace

GENLAB_PLUGIN(Sharpness)
