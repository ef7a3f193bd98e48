// example-mmd — the squared maximum mean discrepancy between real and generated examples,
// with a Gaussian (RBF) kernel; the unbiased estimator of Gretton et al. 2012, eq. (3).
// The kernel width defaults to the median pairwise distance of the pooled examples.
#include <genlab/sdk/plugin.hpp>

namespace {

using genlab::sdk::Context;
using genlab::sdk::Tensors;

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
    i.params = {{"real_key", GENLAB_PARAM_STRING, "\"\"", "name of the real data tensor; empty: the first"},
                {"generated_key", GENLAB_PARAM_STRING, "\"samples\"", "name of the generated tensor"},
                {"bandwidth", GENLAB_PARAM_DOUBLE, "0.0", "kernel width sigma; 0 takes the median distance"},
                {"max_examples", GENLAB_PARAM_INT, "2048", "use at most this many examples of each side"}};
    return i;
  }

  explicit Mmd(const Context& context) : Metric(context) {
    real_key_ = context.config.get("real_key", "");
    generated_key_ = context.config.get("generated_key", "samples");
    bandwidth_ = context.config.get("bandwidth", 0.0);
    max_examples_ = context.config.get_positive("max_examples", int64_t{2048});
    GENLAB_CHECK(bandwidth_ >= 0, GENLAB_ERROR_INVALID_ARGUMENT,
                       "expected bandwidth >= 0, got " + std::to_string(bandwidth_));
  }

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    GENLAB_CHECK(!real.empty() || !generated.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
                       "expected real or generated examples, got neither");
    if (!real.empty()) real_.push_back(rows(real_key_.empty() ? real.entries().front().second : real.at(real_key_)));
    if (!generated.empty()) generated_.push_back(rows(generated.at(generated_key_)));
  }

  genlab::sdk::Scalars compute() override {
    GENLAB_CHECK(!real_.empty() && !generated_.empty(), GENLAB_ERROR_FAILED_PRECONDITION,
                       "expected real and generated examples before compute");
    const at::Tensor x = at::cat(real_).narrow(0, 0, std::min<int64_t>(max_examples_, count(real_)));
    const at::Tensor y = at::cat(generated_).narrow(0, 0, std::min<int64_t>(max_examples_, count(generated_)));
    GENLAB_CHECK(x.size(1) == y.size(1), GENLAB_ERROR_INVALID_ARGUMENT,
                       "real and generated examples differ in size: " + std::to_string(x.size(1)) + " vs " +
                           std::to_string(y.size(1)));
    GENLAB_CHECK(x.size(0) >= 2 && y.size(0) >= 2, GENLAB_ERROR_INVALID_ARGUMENT,
                       "expected at least 2 examples of each side");
    const at::Tensor d_xx = at::cdist(x, x).pow(2), d_yy = at::cdist(y, y).pow(2), d_xy = at::cdist(x, y).pow(2);
    double sigma = bandwidth_;
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

  std::string real_key_, generated_key_;
  double bandwidth_ = 0;
  int64_t max_examples_ = 2048;
  std::vector<at::Tensor> real_, generated_;
};

}  // namespace

GENLAB_PLUGIN(Mmd)
