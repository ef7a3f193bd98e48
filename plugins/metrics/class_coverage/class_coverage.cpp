// class-coverage — which classes a model generates, read through the experiment's feature
// network (a classifier of the dataset): the classifier's accuracy on real data, the classes
// that get a fair share of generated samples, the KL divergence of the class histograms,
// each class's recall (the real examples inside the generated k-NN manifold, Kynkaanniemi et al. 2019)
// and each class's share of the generated samples (set against its training share in rare-mode experiments).
#include <genlab/sdk/plugin.hpp>

#include "../common/features.hpp"
#include "../common/knn.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;
namespace gm = genlab::metrics;

struct ClassCoverageOptions {
  gm::FeatureOptions data;
  double min_share = 0.1;
  int64_t k = 3;
};

const auto kClassCoverageParams =
    gm::feature_params(&ClassCoverageOptions::data)
        .add("min_share", &ClassCoverageOptions::min_share, "a class is covered with this share of its expected count")
        .non_negative()
        .add("k", &ClassCoverageOptions::k, "the k of the generated examples' k-NN radii (per-class recall)")
        .positive();

// The tensor `name` of the `side` map; an error saying a feature network gives it otherwise.
const at::Tensor& network_output(const Tensors& map, const std::string& name, const std::string& side) {
  GENLAB_CHECK(map.contains(name), GENLAB_ERROR_INVALID_ARGUMENT,
               "class-coverage needs a '" + name + "' tensor in the " + side + " map, got [" + gm::names(map) + "]" +
                   (name == "label" ? ": the dataset has no labels" : ": the experiment needs a feature network"));
  return map.at(name);
}

class ClassCoverage final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return gm::metric_info(
        "class-coverage", "classifier",
        "feature network's accuracy, classes covered, class-histogram KL, per-class recall and generated share",
        {"image"}, kClassCoverageParams.describe());
  }

  explicit ClassCoverage(const genlab::sdk::Context& context)
      : Metric(context), options_(kClassCoverageParams.read(context.config)), data_(options_.data) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    const at::Tensor* label = real.empty() ? nullptr : &network_output(real, "label", "real");
    const at::Tensor* logits = real.empty() ? nullptr : &network_output(real, "logits", "real");
    const at::Tensor* predicted = generated.empty() ? nullptr : &network_output(generated, "logits", "generated");
    GENLAB_CHECK(!label || (label->dim() == 1 && logits->dim() == 2 && logits->size(0) == label->size(0)),
                 GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected real 'label' [N] and 'logits' [N, K], got " + c10::str(label->sizes()) + " and " +
                     c10::str(logits->sizes()));
    data_.update(real, generated);
    if (label) labels_.add(*label, "real 'label'");
    if (logits) real_logits_.add(*logits, "real 'logits'");
    if (predicted) generated_logits_.add(*predicted, "generated 'logits'");
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(gm::kAll, 1);
    const at::Tensor labels = labels_.all().flatten(), logits = real_logits_.all(), generated = generated_logits_.all();
    const int64_t classes = logits.size(1);
    GENLAB_CHECK(generated.size(1) == classes, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected generated 'logits' with K = " + std::to_string(classes) + " classes as the real ones, got " +
                     std::to_string(generated.size(1)));
    GENLAB_CHECK(x.size(0) == labels.size(0), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected one real feature row per label, got " + std::to_string(x.size(0)) + " rows and " +
                     std::to_string(labels.size(0)) + " labels");
    GENLAB_CHECK(
        labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < classes, GENLAB_ERROR_INVALID_ARGUMENT,
        "expected real 'label' values in [0, " + std::to_string(classes) + ") (the logits' K), got " +
            std::to_string(labels.min().item<int64_t>()) + " to " + std::to_string(labels.max().item<int64_t>()));

    const at::Tensor predicted = generated.argmax(1);
    const at::Tensor p = at::bincount(labels, {}, classes).to(at::kDouble) / static_cast<double>(labels.size(0));
    const at::Tensor q = at::bincount(predicted, {}, classes).to(at::kDouble) / static_cast<double>(predicted.size(0));
    const at::Tensor present = p > 0;
    // Covered: at least min_share of the expected count M * p_c, i.e. q_c >= min_share * p_c.
    const double covered =
        (present & (q >= options_.min_share * p)).sum().item<double>() / present.sum().item<double>();
    const double kl = (p * (p.clamp_min(1e-6).log() - q.clamp_min(1e-6).log())).sum().item<double>();

    const at::Tensor inside = gm::inside_any_ball(x, y, gm::knn_radii(y, options_.k, "generated"));
    genlab::sdk::Scalars recalls, shares;
    double min_recall = 1;
    for (int64_t c = 0; c < classes; ++c) {
      if (!present[c].item<bool>()) continue;
      const double recall = gm::share(inside.masked_select(labels == c));
      min_recall = std::min(min_recall, recall);
      recalls.push_back({"recall_class_" + std::to_string(c), recall, GENLAB_DIRECTION_HIGHER});
      // No better direction: the right share is the one the class has in the training data.
      shares.push_back({"share_class_" + std::to_string(c), q[c].item<double>(), GENLAB_DIRECTION_NONE});
    }
    // (The feature network's own accuracy is not a value of the model evaluated here: the
    // report states it with the network.)
    genlab::sdk::Scalars out = {{"classes_covered", covered, GENLAB_DIRECTION_HIGHER},
                                {"class_kl", kl, GENLAB_DIRECTION_LOWER},
                                {"min_class_recall", min_recall, GENLAB_DIRECTION_HIGHER}};
    out.insert(out.end(), recalls.begin(), recalls.end());
    out.insert(out.end(), shares.begin(), shares.end());
    return out;
  }

  void reset() override {
    data_.reset();
    labels_.clear();
    real_logits_.clear();
    generated_logits_.clear();
  }

 private:
  const ClassCoverageOptions options_;
  gm::FeaturePairs data_;
  gm::Rows labels_{at::kLong}, real_logits_, generated_logits_;
};

}  // namespace

GENLAB_PLUGIN(ClassCoverage)
