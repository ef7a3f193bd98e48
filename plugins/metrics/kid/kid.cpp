// kid — the Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs"): the
// unbiased squared MMD with the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
// random subsets of real and generated features drawn without replacement.
#include <genlab/sdk/plugin.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include "../common/features.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;

class Kid final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return genlab::metrics::metric_info(
        "kid", "distribution", "Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel over subsets",
        {"image", "points"}, true,
        {{"subsets", GENLAB_PARAM_INT, "100", "number of random subsets averaged"},
         {"subset_size", GENLAB_PARAM_INT, "1000", "examples per side in a subset (at most the smaller side's N)"},
         {"seed", GENLAB_PARAM_INT, "0", "seed of the subset draws"}});
  }

  explicit Kid(const genlab::sdk::Context& context)
      : Metric(context),
        data_(context.config),
        subsets_(context.config.get_positive("subsets", int64_t{100})),
        subset_size_(context.config.get_positive("subset_size", int64_t{1000})),
        seed_(context.config.get("seed", int64_t{0})) {
    GENLAB_CHECK(seed_ >= 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected seed >= 0, got " + std::to_string(seed_));
  }

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    data_.update(real, generated);
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(genlab::metrics::kAll, 2);
    const int64_t available = std::min(x.size(0), y.size(0)), n = std::min(available, subset_size_);
    if (available < subset_size_)
      host().warn("too few samples for a stable KID: N=" + std::to_string(available) + "; need " +
                  std::to_string(subset_size_) + " (subset_size)");
    const double d = static_cast<double>(x.size(1)), pairs = static_cast<double>(n * (n - 1));
    at::Tensor k = at::empty({n, n}, at::kDouble);  // one buffer for every kernel matrix
    // The sum of k(a_i, b_j) over all pairs, or (unbiased, within one set) over i != j.
    auto kernel_sum = [&](const at::Tensor& a, const at::Tensor& b, bool off_diagonal) {
      at::mm_out(k, a, b.t()).div_(d).add_(1).pow_(3);
      return (off_diagonal ? k.sum() - k.trace() : k.sum()).item<double>();
    };
    auto subset = [n](const at::Tensor& rows, at::Generator& g) {
      return rows.index_select(0, at::randperm(rows.size(0), g).narrow(0, 0, n));
    };
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed_));
    at::Tensor values = at::empty({subsets_}, at::kDouble);
    for (int64_t s = 0; s < subsets_; ++s) {
      const at::Tensor a = subset(x, generator), b = subset(y, generator);
      values[s] = kernel_sum(a, a, true) / pairs + kernel_sum(b, b, true) / pairs -
                  2 * kernel_sum(a, b, false) / static_cast<double>(n * n);
    }
    return {{"kid", values.mean().item<double>(), GENLAB_DIRECTION_LOWER},
            {"kid_std", values.std(false).item<double>(), GENLAB_DIRECTION_NONE}};
  }

  void reset() override { data_.reset(); }

 private:
  genlab::metrics::FeaturePairs data_;
  int64_t subsets_, subset_size_, seed_;
};

}  // namespace

GENLAB_PLUGIN(Kid)
