// density-coverage — Naeem et al. 2020, "Reliable fidelity and diversity metrics for
// generative models": density counts how many real k-NN balls hold each generated example
// (1 when the two match), coverage is the share of real balls that hold a generated example.
#include <genlab/sdk/plugin.hpp>

#include "../common/features.hpp"
#include "../common/knn.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;
namespace gm = genlab::metrics;

struct DensityCoverageOptions {
  gm::FeatureOptions data;
  int64_t k = 5;
  int64_t max_examples = 10000;
};

const auto kDensityCoverageParams =
    gm::feature_params(&DensityCoverageOptions::data)
        .add("k", &DensityCoverageOptions::k, "the k of the real examples' k-nearest-neighbour radii")
        .positive()
        .add("max_examples", &DensityCoverageOptions::max_examples, "use at most this many examples of each side")
        .positive();

class DensityCoverage final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return gm::metric_info("density-coverage", "fidelity-diversity",
                           "density and coverage of generated examples over the real examples' k-NN balls",
                           {"image", "points"}, kDensityCoverageParams.describe());
  }

  explicit DensityCoverage(const genlab::sdk::Context& context)
      : Metric(context), options_(kDensityCoverageParams.read(context.config)), data_(options_.data) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    data_.update(real, generated);
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(options_.max_examples, 1);
    const at::Tensor radii = gm::knn_radii(x, options_.k, "real");
    const double density =
        gm::balls_containing(y, x, radii).sum().item<double>() / static_cast<double>(options_.k * y.size(0));
    const double coverage = gm::share(gm::nearest_distance(x, y) <= radii);
    return {{"density", density, GENLAB_DIRECTION_HIGHER}, {"coverage", coverage, GENLAB_DIRECTION_HIGHER}};
  }

  void reset() override { data_.reset(); }

 private:
  const DensityCoverageOptions options_;
  gm::FeaturePairs data_;
};

}  // namespace

GENLAB_PLUGIN(DensityCoverage)
