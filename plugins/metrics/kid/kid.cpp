// kid — the Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs"): the
// unbiased squared MMD with the polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
// random subsets of real and generated features drawn without replacement.
#include <genlab/sdk/plugin.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include "../common/features.hpp"
#include "../common/metric_info.hpp"

namespace {

using genlab::sdk::Tensors;

struct KidOptions {
  genlab::metrics::FeatureOptions data;
  int64_t subsets = 100;
  int64_t subset_size = 1000;
  int64_t seed = 0;
};

const auto kKidParams =
    genlab::metrics::feature_params(&KidOptions::data)
        .add("subsets", &KidOptions::subsets, "number of random subsets averaged")
        .positive()
        .add("subset_size", &KidOptions::subset_size, "examples per side in a subset (at most the smaller side's N)")
        .positive()
        .add("seed", &KidOptions::seed, "seed of the subset draws")
        .non_negative();

class Kid final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    return genlab::metrics::metric_info(
        "kid", "distribution", "Kernel Inception Distance: unbiased MMD^2 with a cubic polynomial kernel over subsets",
        {"image", "points"}, kKidParams.describe());
  }

  explicit Kid(const genlab::sdk::Context& context)
      : Metric(context), options_(kKidParams.read(context.config)), data_(options_.data) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors& /*scores*/) override {
    data_.update(real, generated);
  }

  genlab::sdk::Scalars compute() override {
    const auto [x, y] = data_.both(genlab::metrics::kAll, 2);
    const int64_t available = std::min(x.size(0), y.size(0)), n = std::min(available, options_.subset_size);
    if (available < options_.subset_size)
      host().warn("too few samples for a stable KID: N=" + std::to_string(available) + "; need " +
                  std::to_string(options_.subset_size) + " (subset_size)");
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
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(options_.seed));
    at::Tensor values = at::empty({options_.subsets}, at::kDouble);
    for (int64_t s = 0; s < options_.subsets; ++s) {
      const at::Tensor a = subset(x, generator), b = subset(y, generator);
      values[s] = kernel_sum(a, a, true) / pairs + kernel_sum(b, b, true) / pairs -
                  2 * kernel_sum(a, b, false) / static_cast<double>(n * n);
    }
    return {{"kid", values.mean().item<double>(), GENLAB_DIRECTION_LOWER},
            {"kid_std", values.std(false).item<double>(), GENLAB_DIRECTION_NONE}};
  }

  void reset() override { data_.reset(); }

 private:
  const KidOptions options_;
  genlab::metrics::FeaturePairs data_;
};

}  // namespace

GENLAB_PLUGIN(Kid)
