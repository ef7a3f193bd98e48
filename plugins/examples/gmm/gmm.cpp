// example-gmm — a Gaussian mixture density model trained by gradient descent, written
// with the genlab C++ SDK over LibTorch. Small, but a real generative model: it trains,
// samples and scores (exact log-likelihood), and exports its full training state.
//
// Legend: N batch, K components, D data dimensions.
//   log p(x) = logsumexp_k [ log pi_k + sum_d log N(x_d; mu_kd, sigma_kd^2) ]
// Parameters are logits (pi = softmax(logits)), mu, and log_sigma, fitted by Adam on the
// negative log-likelihood.
#include <cmath>
#include <memory>

#include <genlab/sdk/plugin.hpp>

#include <genlab/sdk/adam.hpp>

namespace {

using genlab::sdk::Config;
using genlab::sdk::Context;
using genlab::sdk::Tensors;

// Options: the manifest keys under [models.NAME], declared once in kGmmParams (the same
// declaration gives describe()'s list and the checked values).
struct GmmOptions {
  int64_t components = 8;
  double lr = 0.05;
  double init_scale = 1.0;
  int64_t dim = 0;
  double min_log_sigma = -6;  // not a key: floor on log sigma, keeps the likelihood bounded
};

const auto kGmmParams = genlab::sdk::Params<GmmOptions>()
                            .add("components", &GmmOptions::components, "number of mixture components K")
                            .positive()
                            .add("lr", &GmmOptions::lr, "Adam learning rate")
                            .positive()
                            .add("init_scale", &GmmOptions::init_scale, "standard deviation of the initial means")
                            .add("dim", &GmmOptions::dim, "data dimensions D; 0 takes them from the dataset")
                            .non_negative();

class Gmm final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "example-gmm";
    i.version = "1.0.0";
    i.family = "mixture";
    i.summary = "Gaussian mixture fitted by Adam, exact likelihood (example model)";
    i.modalities = {"points", "image"};
    i.capabilities =
        GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_SCORE | GENLAB_CAPABILITY_STATE;
    i.params = kGmmParams.describe();
    return i;
  }

  explicit Gmm(const Context& context) : Model(context) {
    options_ = kGmmParams.read(context.config);
    dim_ = options_.dim;
    element_shape_ = {dim_};
    if (dim_ == 0) {
      GENLAB_CHECK(context.data_info != nullptr && context.data_info->element_count > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                   "expected 'dim' > 0 when no dataset is given");
      const genlab_element_spec& x = context.data_info->elements[0];  // the first element is the data
      input_name_ = x.name;
      element_shape_.assign(x.shape, x.shape + x.ndim);
      dim_ = 1;
      for (int64_t s : element_shape_) dim_ *= s;
    }
    GENLAB_CHECK(dim_ > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected dim > 0, got " + std::to_string(dim_));

    const int64_t K = options_.components;
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device());
    params_ = {at::zeros({K}, f32), at::randn({K, dim_}, f32) * options_.init_scale, at::zeros({K, dim_}, f32)};
    for (auto& p : params_) p.set_requires_grad(true);
    adam_ = std::make_unique<genlab::sdk::Adam>(
        std::vector<std::pair<std::string, at::Tensor>>{
            {"logits", params_[0]}, {"mu", params_[1]}, {"log_sigma", params_[2]}},
        genlab::sdk::Adam::Options{options_.lr});
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t /*step*/) override {
    const at::Tensor x = flatten(batch.at(input_name_));  // [N, D]
    at::Tensor loss = -log_prob(x).mean();
    adam_->zero_grad();
    loss.backward();
    adam_->step();
    return {{"nll", loss.item<double>(), GENLAB_DIRECTION_LOWER}};
  }

  Tensors generate(int64_t count, const Config& /*options*/, const Tensors& /*inputs*/) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0, got " + std::to_string(count));
    at::NoGradGuard no_grad;
    const at::Tensor k = at::multinomial(at::softmax(params_[0], 0), count, /*replacement=*/true);  // [N]
    const at::Tensor mu = params_[1].index_select(0, k);                                            // [N, D]
    const at::Tensor sigma = at::exp(clamped_log_sigma()).index_select(0, k);                       // [N, D]
    at::Tensor samples = mu + sigma * at::randn_like(mu);
    std::vector<int64_t> shape = {count};
    shape.insert(shape.end(), element_shape_.begin(), element_shape_.end());
    Tensors out;
    out.add("samples", samples.reshape(shape).contiguous());
    out.add("component", k);
    return out;
  }

  // A density of the values as given (a mixture on [0, 1] pixels is not a likelihood of 8-bit data).
  const char* score_convention() const override { return "continuous"; }

  Tensors score(const Tensors& batch) override {
    at::NoGradGuard no_grad;
    Tensors out;
    out.add("nll", -log_prob(flatten(batch.at(input_name_))));  // [N] nats
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
  at::Tensor flatten(const at::Tensor& x) const {
    GENLAB_CHECK(x.dim() >= 1 && x.numel() == x.size(0) * dim_, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected '" + input_name_ + "' with " + std::to_string(dim_) + " values per example");
    return x.to(device(), at::kFloat).reshape({x.size(0), dim_});
  }

  at::Tensor clamped_log_sigma() const { return params_[2].clamp_min(options_.min_log_sigma); }

  // log p(x) for each row of x [N, D] -> [N].
  at::Tensor log_prob(const at::Tensor& x) const {
    const at::Tensor log_sigma = clamped_log_sigma();                                                   // [K, D]
    const at::Tensor z = (x.unsqueeze(1) - params_[1].unsqueeze(0)) / at::exp(log_sigma).unsqueeze(0);  // [N, K, D]
    const double log_2pi = std::log(2.0 * M_PI);
    const at::Tensor log_normal = (-0.5 * (z * z) - log_sigma.unsqueeze(0) - 0.5 * log_2pi).sum(2);  // [N, K]
    return at::logsumexp(log_normal + at::log_softmax(params_[0], 0).unsqueeze(0), 1);
  }

  GmmOptions options_;
  int64_t dim_ = 0;
  std::vector<int64_t> element_shape_;
  std::string input_name_ = "x";
  std::vector<at::Tensor> params_;  // logits [K], mu [K, D], log_sigma [K, D]
  std::unique_ptr<genlab::sdk::Adam> adam_;
};

}  // namespace

GENLAB_PLUGIN(Gmm)
