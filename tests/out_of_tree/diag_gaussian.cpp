// An out-of-tree model plugin: a diagonal Gaussian density, log p(x) = sum_d log N(x_d; mu_d,
// sigma_d^2), fitted by the installed SDK's Adam (genlab/sdk/adam.hpp) on the negative
// log-likelihood; it samples and scores exactly, and its exported state (Adam's moments
// included) resumes a run where it stopped. Written against the installed SDK only; its one
// parameter is declared once, with genlab::sdk::Params (genlab/sdk/params.hpp).
#include <cmath>
#include <memory>

#include <genlab/sdk/adam.hpp>
#include <genlab/sdk/plugin.hpp>

namespace {

using genlab::sdk::Config;
using genlab::sdk::Context;
using genlab::sdk::Tensors;

// Options: the manifest keys under [models.NAME], declared in kParams.
struct Options {
  double lr = 0.05;
};

const auto kParams = genlab::sdk::Params<Options>().add("lr", &Options::lr, "Adam learning rate").positive();

class DiagGaussian final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "oot-diag-gaussian";
    i.version = "0.1.0";
    i.family = "gaussian";
    i.summary = "diagonal Gaussian fitted by the SDK's Adam (out-of-tree)";
    i.modalities = {"points"};
    i.capabilities =
        GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_SCORE | GENLAB_CAPABILITY_STATE;
    i.params = kParams.describe();
    return i;
  }

  explicit DiagGaussian(const Context& context) : Model(context) {
    const Options o = kParams.read(context.config);
    GENLAB_CHECK(context.data_info != nullptr && context.data_info->element_count > 0 &&
                     context.data_info->elements[0].ndim == 1,
                 GENLAB_ERROR_INVALID_ARGUMENT, "expected points data [D]");
    const genlab_element_spec& x = context.data_info->elements[0];
    input_name_ = x.name;
    dim_ = x.shape[0];
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device());
    mu_ = at::zeros({dim_}, f32).set_requires_grad(true);
    log_sigma_ = at::zeros({dim_}, f32).set_requires_grad(true);
    adam_ = std::make_unique<genlab::sdk::Adam>(
        std::vector<std::pair<std::string, at::Tensor>>{{"mu", mu_}, {"log_sigma", log_sigma_}},
        genlab::sdk::Adam::Options{o.lr});
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t /*step*/) override {
    const at::Tensor loss = -log_prob(points(batch)).mean();
    adam_->zero_grad();
    loss.backward();
    adam_->step();
    return {{"nll", loss.item<double>(), GENLAB_DIRECTION_LOWER}};
  }

  Tensors generate(int64_t count, const Config& /*options*/, const Tensors& /*inputs*/) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0, got " + std::to_string(count));
    at::NoGradGuard no_grad;
    Tensors out;
    out.add("samples", mu_ + at::exp(log_sigma_) * at::randn({count, dim_}, mu_.options()));
    return out;
  }

  const char* score_convention() const override { return "continuous"; }

  Tensors score(const Tensors& batch) override {
    at::NoGradGuard no_grad;
    Tensors out;
    out.add("nll", -log_prob(points(batch)));  // [N] nats
    return out;
  }

  int64_t trainable_parameters() const override { return adam_->parameter_count(); }

  Tensors export_state() override {
    Tensors state;
    adam_->export_to(state);
    return state;
  }
  void import_state(const Tensors& state) override { adam_->import_from(state); }

 private:
  at::Tensor points(const Tensors& batch) const {
    const at::Tensor x = batch.at(input_name_);
    GENLAB_CHECK(x.dim() == 2 && x.size(1) == dim_, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected '" + input_name_ + "' of shape [N, " + std::to_string(dim_) + "]");
    return x.to(device(), at::kFloat);
  }

  at::Tensor log_prob(const at::Tensor& x) const {  // x [N, D] -> [N]
    const at::Tensor z = (x - mu_) / at::exp(log_sigma_);
    return (-0.5 * z * z - log_sigma_ - 0.5 * std::log(2.0 * M_PI)).sum(1);
  }

  int64_t dim_ = 0;
  std::string input_name_;
  at::Tensor mu_, log_sigma_;
  std::unique_ptr<genlab::sdk::Adam> adam_;
};

}  // namespace

GENLAB_PLUGIN(DiagGaussian)
