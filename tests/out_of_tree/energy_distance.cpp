// An out-of-tree metric plugin: the energy distance (Szekely & Rizzo 2013)
//   D^2 = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,
// zero exactly when the two distributions are equal. Written against the installed SDK.
#include <genlab/sdk/plugin.hpp>

namespace {

using genlab::sdk::Tensors;

struct Options {
  std::string real_key;
};
const auto kParams = genlab::sdk::Params<Options>().add("real_key", &Options::real_key,
                                                        "name of the real data tensor; empty: the first");

class EnergyDistance final : public genlab::sdk::Metric {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "oot-energy-distance";
    i.version = "0.3.0";
    i.family = "distribution";
    i.summary = "energy distance between real and generated examples (out-of-tree)";
    i.modalities = {"points", "image"};
    i.capabilities = GENLAB_CAPABILITY_NEEDS_REAL | GENLAB_CAPABILITY_NEEDS_GENERATED;
    i.params = kParams.describe();
    return i;
  }

  explicit EnergyDistance(const genlab::sdk::Context& context)
      : Metric(context), real_key_(kParams.read(context.config).real_key) {}

  void update(const Tensors& real, const Tensors& generated, const Tensors&) override {
    GENLAB_CHECK(!real.empty() || !generated.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected real or generated examples, got neither");
    if (!real.empty()) x_.push_back(flat(real_key_.empty() ? real.entries().front().second : real.at(real_key_)));
    if (!generated.empty()) y_.push_back(flat(generated.at("samples")));
  }

  genlab::sdk::Scalars compute() override {
    GENLAB_CHECK(!x_.empty() && !y_.empty(), GENLAB_ERROR_FAILED_PRECONDITION,
                 "expected real and generated examples before compute");
    const at::Tensor x = at::cat(x_), y = at::cat(y_);
    const double d = 2 * at::cdist(x, y).mean().item<double>() - at::cdist(x, x).mean().item<double>() -
                     at::cdist(y, y).mean().item<double>();
    return {{"energy_distance", d, GENLAB_DIRECTION_LOWER}};
  }

  void reset() override { x_.clear(), y_.clear(); }

 private:
  static at::Tensor flat(const at::Tensor& t) { return t.to(at::kDouble).reshape({t.size(0), -1}).clone(); }
  std::string real_key_;
  std::vector<at::Tensor> x_, y_;
};

}  // namespace

GENLAB_PLUGIN(EnergyDistance)
