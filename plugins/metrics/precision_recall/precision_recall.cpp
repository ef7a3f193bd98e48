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

struct PrecisionRecallOptions {
  gm::FeatureOptions data;
  int64_t k = 3;
  int64_t max_examples = 10000;
};

const auto kPrecisionRecallParams =
    gm::feature_params(&PrecisionRecallOptions::data)
        .add("k", &PrecisionRecallOptions::k, "the k of the k-nearest-neighbour radii")
        .positive()
        .add("max_examples", &PrecisionRecallOptions::max_examples, "use at most this many examples of each side")
        .positive();

class PrecisionRecall final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return gm::metric_info("precision-recall", "fidelity-diversity",
                           "improved precision and recall: shares inside the other side's k-NN manifold",
                           {"image", "points"}, kPrecisionRecallParams.describe());
  }

  explicit PrecisionRecall(const genlab::sdk::Context& context)
      : Metric(context), options_(kPrecisionRecallParams.read(context.config)), data_(options_.data) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    data_.update(real, generated);
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(options_.max_examples, 1);
    const double precision = gm::share(gm::inside_any_ball(y, x, gm::knn_radii(x, options_.k, "real")));
    const double recall = gm::share(gm::inside_any_ball(x, y, gm::knn_radii(y, options_.k, "generated")));
    return {{"precision", precision, GENLAB_DIRECTION_HIGHER}, {"recall", recall, GENLAB_DIRECTION_HIGHER}};
  }

  void reset() override { data_.reset(); }

 private:
  const PrecisionRecallOptions options_;
  gm::FeaturePairs data_;
};

}  // namespace

GENLAB_PLUGIN(PrecisionRecall)
