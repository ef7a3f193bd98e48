// precision-recall — improved precision and recall (Kynkaanniemi et al. 2019): the share of
// generated examples inside the real examples' k-NN manifold (precision, fidelity) and of real
// examples inside the generated examples' manifold (recall, diversity).
#include <genlab/sdk/plugin.hpp>

#include "../common/features.hpp"
#include "../common/knn.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;
namespace gm = genlab::metrics;

class PrecisionRecall final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return gm::metric_info(
        "precision-recall", "fidelity-diversity",
        "improved precision and recall: shares inside the other side's k-NN manifold", {"image", "points"}, true,
        {{"k", GENLAB_PARAM_INT, "3", "the k of the k-nearest-neighbour radii"},
         {"max_examples", GENLAB_PARAM_INT, "10000", "use at most this many examples of each side"}});
  }

  explicit PrecisionRecall(const genlab::sdk::Context& context)
      : Metric(context),
        data_(context.config),
        k_(context.config.get_positive("k", int64_t{3})),
        max_examples_(context.config.get_positive("max_examples", int64_t{10000})) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    data_.update(real, generated);
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(max_examples_, 1);
    const double precision = gm::share(gm::inside_any_ball(y, x, gm::knn_radii(x, k_, "real")));
    const double recall = gm::share(gm::inside_any_ball(x, y, gm::knn_radii(y, k_, "generated")));
    return {{"precision", precision, GENLAB_DIRECTION_HIGHER}, {"recall", recall, GENLAB_DIRECTION_HIGHER}};
  }

  void reset() override { data_.reset(); }

 private:
  gm::FeaturePairs data_;
  int64_t k_, max_examples_;
};

}  // namespace

GENLAB_PLUGIN(PrecisionRecall)
