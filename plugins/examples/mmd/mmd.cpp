// example-mmd — the squared maximum mean discrepancy between real and generated examples,
// with a Gaussian (RBF) kernel; the unbiased estimator of Gretton et al. 2012, eq. (3).
// The kernel width defaults to the median pairwise distance of the pooled examples.
#include <genlab/sdk/plugin.hpp>

namespace {

using genlab::sdk::Context;
using genlab::sdk::Tensors;

// Options: the manifest keys under [metrics.NAME], declared once in kMmdParams.
struct MmdOptions {
  std::string real_key;
  std::string generated_key = "samples";
  double bandwidth = 0;  // 0: set in each compute() from the pooled examples
  int64_t max_examples = 2048;
};

const auto kMmdParams =
    genlab::sdk::Params<MmdOptions>()
        .add("real_key", &MmdOptions::real_key, "name of the real data tensor; empty: the first")
        .add("generated_key", &MmdOptions::generated_key, "name of the generated tensor")
        .add("bandwidth", &MmdOptions::bandwidth, "kernel width sigma; 0 takes the median distance")
        .non_negative()
        .add("max_examples", &MmdOptions::max_examples, "use at most this many examples of each side")
        .positive();

class Mmd final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "example-mmd";
    i.version = "1.0.0";
    i.family = "distribution";
    i.summary = "unbiased squared MMD with an RBF kernel, real vs generated (example metric)";
    i.modalities = {"points", "image"};
    i.capabilities = GENLAB_CAPABILITY_NEEDS_REAL | GENLAB_CAPABILITY_NEEDS_GENERATED;
    i.params = kMmdParams.describe();
    return i;
  }

  explicit Mmd(const Context& context) : Metric(context) { o_ = kMmdParams.read(context.config); }

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    GENLAB_CHECK(!real.empty() || !generated.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected real or generated examples, got neither");
    if (!real.empty())
      real_.push_back(rows(o_.real_key.empty() ? real.entries().front().second : real.at(o_.real_key)));
    if (!generated.empty()) generated_.push_back(rows(generated.at(o_.generated_key)));
  }

  genlab::sdk::Scalars compute() override {
    GENLAB_CHECK(!real_.empty() && !generated_.empty(), GENLAB_ERROR_FAILED_PRECONDITION,
                 "expected real and generated examples before compute");
    const at::Tensor x = at::cat(real_).narrow(0, 0, std::min<int64_t>(o_.max_examples, count(real_)));
    const at::Tensor y = at::cat(generated_).narrow(0, 0, std::min<int64_t>(o_.max_examples, count(generated_)));
    GENLAB_CHECK(x.size(1) == y.size(1), GENLAB_ERROR_INVALID_ARGUMENT,
                 "real and generated examples differ in size: " + std::to_string(x.size(1)) + " vs " +
                     std::to_string(y.size(1)));
    GENLAB_CHECK(x.size(0) >= 2 && y.size(0) >= 2, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected at least 2 examples of each side");
    const at::Tensor d_xx = at::cdist(x, x).pow(2), d_yy = at::cdist(y, y).pow(2), d_xy = at::cdist(x, y).pow(2);
    double sigma = o_.bandwidth;
    if (sigma == 0) sigma = at::cat({d_xx.flatten(), d_yy.flatten(), d_xy.flatten()}).sqrt().median().item<double>();
    if (sigma <= 0) sigma = 1;
    auto k = [&](const at::Tensor& d2) { return at::exp(-d2 / (2 * sigma * sigma)); };
    const double m = static_cast<double>(x.size(0)), n = static_cast<double>(y.size(0));
    // Unbiased: the diagonal terms k(x_i, x_i) = 1 are left out of the within-set means.
    const double xx = (k(d_xx).sum().item<double>() - m) / (m * (m - 1));
    const double yy = (k(d_yy).sum().item<double>() - n) / (n * (n - 1));
    const double xy = k(d_xy).mean().item<double>();
    const double mean_distance = (x.mean(0) - y.mean(0)).norm().item<double>();
    return {{"mmd2", xx + yy - 2 * xy, GENLAB_DIRECTION_LOWER},
            {"mean_distance", mean_distance, GENLAB_DIRECTION_LOWER},
            {"bandwidth", sigma, GENLAB_DIRECTION_NONE}};
  }

  void reset() override {
    real_.clear();
    generated_.clear();
  }

 private:
  static at::Tensor rows(const at::Tensor& t) {  // [N, ...] -> [N, D] float64 copy we keep
    GENLAB_CHECK(t.dim() >= 1, GENLAB_ERROR_INVALID_ARGUMENT, "expected a batch dimension");
    return t.detach().to(at::kCPU, at::kDouble).reshape({t.size(0), -1}).clone();
  }
  static int64_t count(const std::vector<at::Tensor>& parts) {
    int64_t n = 0;
    for (const auto& p : parts) n += p.size(0);
    return n;
  }

  MmdOptions o_;
  std::vector<at::Tensor> real_, generated_;
};

}  // namespace

GENLAB_PLUGIN(Mmd)
