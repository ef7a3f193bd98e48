// likelihood — the likelihood a model gives held-out data, from its `score`: the mean
// negative log-likelihood (or bound) in nats per example and in bits per dimension
//   bits/dim = NLL / (D ln 2), D the number of values per example.
// A score with one value per example ([B]) is a total over the example's D values; one with
// more ([B, T], a language model's per-token NLL) is already per value: then nll_nats is per
// token, bits_per_token is bits per token (bits/char for a character model) and perplexity
// is exp(nll_nats).
// It needs a model that scores (capability "score"); the host refuses it for one that
// does not, before anything runs.
#include <cmath>

#include <genlab/sdk/plugin.hpp>

namespace {

using genlab::sdk::Tensors;

struct LikelihoodOptions {
  std::string score_key;
  std::string real_key;
};

const auto kLikelihoodParams =
    genlab::sdk::Params<LikelihoodOptions>()
        .add("score_key", &LikelihoodOptions::score_key, "name of the per-example score tensor; empty: the first")
        .add("real_key", &LikelihoodOptions::real_key, "name of the real data tensor (for D); empty: the first");

class Likelihood final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "likelihood";
    i.version = "1.0.0";
    i.family = "likelihood";
    i.summary = "mean NLL (or bound) of held-out data in nats and bits/dim; bits/token and perplexity for text";
    i.modalities = {"points", "image", "tokens"};
    i.capabilities = GENLAB_CAPABILITY_NEEDS_REAL | GENLAB_CAPABILITY_NEEDS_SCORES;
    i.params = kLikelihoodParams.describe();
    return i;
  }

  explicit Likelihood(const genlab::sdk::Context& c) : Metric(c), options_(kLikelihoodParams.read(c.config)) {}

  void update(const Tensors& real, const Tensors&, const Tensors& scores) override {
    GENLAB_CHECK(!scores.empty(), GENLAB_ERROR_INVALID_ARGUMENT, "expected the model's scores, got none");
    const at::Tensor& score =
        options_.score_key.empty() ? scores.entries().front().second : scores.at(options_.score_key);
    const at::Tensor s = score.to(at::kDouble).flatten();
    sum_ += s.sum().item<double>();
    count_ += s.numel();
    per_value_ = score.dim() > 1;
    if (!real.empty()) {
      const at::Tensor& x = options_.real_key.empty() ? real.entries().front().second : real.at(options_.real_key);
      dims_ = x.numel() / std::max<int64_t>(1, x.size(0));
    }
  }

  genlab::sdk::Scalars compute() override {
    GENLAB_CHECK(count_ > 0, GENLAB_ERROR_FAILED_PRECONDITION, "expected scores before compute");
    const double nll = sum_ / static_cast<double>(count_);
    if (per_value_)
      return {{"nll_nats", nll, GENLAB_DIRECTION_LOWER},
              {"bits_per_token", nll / std::log(2.0), GENLAB_DIRECTION_LOWER},
              {"perplexity", std::exp(nll), GENLAB_DIRECTION_LOWER}};
    const double bits = dims_ > 0 ? nll / (static_cast<double>(dims_) * std::log(2.0)) : std::nan("");
    return {{"nll_nats", nll, GENLAB_DIRECTION_LOWER}, {"bits_per_dim", bits, GENLAB_DIRECTION_LOWER}};
  }

  void reset() override { sum_ = 0, count_ = 0; }

 private:
  const LikelihoodOptions options_;
  double sum_ = 0;
  int64_t count_ = 0, dims_ = 0;
  bool per_value_ = false;  // the score is per value ([B, T]), not per example
};

}  // namespace

GENLAB_PLUGIN(Likelihood)
