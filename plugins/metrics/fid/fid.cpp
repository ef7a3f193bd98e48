// fid — the Frechet distance between Gaussians fitted to real and generated features,
// ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2}) (Heusel et al. 2017, "GANs trained by a two
// time-scale update rule converge to a local Nash equilibrium").
#include <genlab/sdk/plugin.hpp>

#include "../common/features.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;

struct FidOptions {
  genlab::metrics::FeatureOptions data;
  int64_t max_examples = 10000;
};

const auto kFidParams =
    genlab::metrics::feature_params(&FidOptions::data)
        .add("max_examples", &FidOptions::max_examples, "use at most this many examples of each side")
        .positive();

// Mean [D] and unbiased covariance [D, D] of rows x [N, D].
std::pair<at::Tensor, at::Tensor> moments(const at::Tensor& x) {
  const at::Tensor mu = x.mean(0), centred = x - mu;
  return {mu, centred.t().mm(centred) / static_cast<double>(x.size(0) - 1)};
}

// tr((S1 S2)^{1/2}): the sum of the square roots of the eigenvalues of the symmetric PSD
// matrix S1^{1/2} S2 S1^{1/2}, which has those of S1 S2. Negative round-off is clamped to 0.
double trace_sqrt_product(const at::Tensor& s1, const at::Tensor& s2) {
  const auto [values, vectors] = at::linalg_eigh(s1);
  const at::Tensor root = (vectors * values.clamp_min(0).sqrt()).mm(vectors.t());
  const at::Tensor m = root.mm(s2).mm(root);
  return at::linalg_eigvalsh((m + m.t()) / 2).clamp_min(0).sqrt().sum().item<double>();
}

class Fid final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return genlab::metrics::metric_info(
        "fid", "distribution", "Frechet distance between Gaussians fitted to real and generated features (FID)",
        {"image", "points"}, kFidParams.describe());
  }

  explicit Fid(const genlab::sdk::Context& context)
      : Metric(context), options_(kFidParams.read(context.config)), data_(options_.data) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    data_.update(real, generated);
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(options_.max_examples, 2);
    const int64_t n = std::min(x.size(0), y.size(0)), d = x.size(1);
    if (n < 2 * d)
      host().warn("too few samples for a stable FID: N=" + std::to_string(n) + ", feature dimension D=" +
                  std::to_string(d) + "; use at least " + std::to_string(2 * d) + " (2 x D)");
    const auto [mu1, s1] = moments(x);
    const auto [mu2, s2] = moments(y);
    const double fid = (mu1 - mu2).pow(2).sum().item<double>() + s1.trace().item<double>() + s2.trace().item<double>() -
                       2 * trace_sqrt_product(s1, s2);
    return {{"fid", fid, GENLAB_DIRECTION_LOWER}};
  }

  void reset() override { data_.reset(); }

 private:
  const FidOptions options_;
  genlab::metrics::FeaturePairs data_;
};

}  // namespace

GENLAB_PLUGIN(Fid)
