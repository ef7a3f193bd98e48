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

class DensityCoverage final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return gm::metric_info(
        "density-coverage", "fidelity-diversity",
        "density and coverage of generated examples over the real examples' k-NN balls", {"image", "points"}, true,
        {{"k", GENLAB_PARAM_INT, "5", "the k of the real examples' k-nearest-neighbour radii"},
         {"max_examples", GENLAB_PARAM_INT, "10000", "use at most this many examples of each side"}});
  }

  explicit DensityCoverage(const genlab::sdk::Context& context)
      : Metric(context),
        data_(context.config),
        k_(context.config.get_positive("k", int64_t{5})),
        max_examples_(context.config.get_positive("max_examples", int64_t{10000})) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    data_.update(real, generated);
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(max_examples_, 1);
    const at::Tensor radii = gm::knn_radii(x, k_, "real");
    const double density = gm::balls_containing(y, x, radii).sum().item<double>() /
                           static_cast<double>(k_ * y.size(0));
    const double coverage = gm::share(gm::nearest_distance(x, y) <= radii);
    return {{"density", density, GENLAB_DIRECTION_HIGHER}, {"coverage", coverage, GENLAB_DIRECTION_HIGHER}};
  }

  void reset() override { data_.reset(); }

 private:
  gm::FeaturePairs data_;
  int64_t k_, max_examples_;
};

}  // namespace

GENLAB_PLUGIN(DensityCoverage)
