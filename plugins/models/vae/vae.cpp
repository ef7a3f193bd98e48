// vae — the variational autoencoder of Kingma & Welling (2014), "Auto-Encoding Variational
// Bayes", as a genlab model plugin.
//
// Legend: B batch, C channels, H/W height/width, D = C*H*W, Z latent size, K importance
// samples.
//
// Reference configuration: the MLP VAE of pytorch/examples (vae/main.py): D-400-Z with
// Z = 20, ReLU, a Bernoulli decoder, Adam 1e-3. Options: a convolutional encoder/decoder,
// a Gaussian likelihood (a learned scalar variance), any latent size.
//   ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || N(0, I))            (the paper's eq. 3)
//   KL      = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))       (appendix B)
// score() returns, per example, the negative ELBO in nats and, with iw_samples = K > 0,
// the importance-weighted bound of Burda et al. (2016), eq. 8:
//   log p(x) >= E[log 1/K sum_k p(x, z_k) / q(z_k | x)],  z_k ~ q(z | x).
#include <torch/torch.h>

#include <cmath>
#include <memory>

#include <genlab/sdk/plugin.hpp>

#include <genlab/sdk/adam.hpp>
#include <genlab/sdk/example_input.hpp>

namespace {

using genlab::sdk::Tensors;

// Options: each field is a manifest key under [models.NAME], declared in kVaeParams.
struct VaeOptions {
  std::string arch = "mlp";
  int64_t hidden = 400;
  int64_t channels = 32;
  int64_t latent = 20;
  std::string likelihood = "bernoulli";
  double lr = 1e-3;
  int64_t iw_samples = 0;
};

const auto kVaeParams =
    genlab::sdk::Params<VaeOptions>()
        .add("arch", &VaeOptions::arch, "\"mlp\" (pytorch/examples 784-400-20) or \"conv\"")
        .one_of({"mlp", "conv"})
        .add("hidden", &VaeOptions::hidden, "MLP hidden width")
        .positive()
        .add("channels", &VaeOptions::channels, "conv: channels of the first layer (the second has 2x)")
        .positive()
        .add("latent", &VaeOptions::latent, "latent size Z")
        .positive()
        .add("likelihood", &VaeOptions::likelihood, "\"bernoulli\" or \"gaussian\" (learned variance)")
        .one_of({"bernoulli", "gaussian"})
        .add("lr", &VaeOptions::lr, "Adam learning rate")
        .positive()
        .add("iw_samples", &VaeOptions::iw_samples, "K of the importance-weighted bound in score; 0: ELBO only")
        .non_negative();

// q(z|x) and p(x|z). decode() returns logits (Bernoulli) or pre-sigmoid means (Gaussian).
struct VaeNetImpl : torch::nn::Module {
  VaeNetImpl(const VaeOptions& o, std::vector<int64_t> shape) : options(o), shape(std::move(shape)) {
    const int64_t C = this->shape[0], H = this->shape[1], W = this->shape[2], D = C * H * W;
    if (o.arch == "mlp") {
      fc1 = register_module("fc1", torch::nn::Linear(D, o.hidden));
      fc21 = register_module("fc21", torch::nn::Linear(o.hidden, o.latent));  // mu
      fc22 = register_module("fc22", torch::nn::Linear(o.hidden, o.latent));  // logvar
      fc3 = register_module("fc3", torch::nn::Linear(o.latent, o.hidden));
      fc4 = register_module("fc4", torch::nn::Linear(o.hidden, D));
    } else {
      GENLAB_CHECK(
          H % 4 == 0 && W % 4 == 0, GENLAB_ERROR_INVALID_ARGUMENT,
          "arch \"conv\" needs height and width divisible by 4, got " + std::to_string(H) + "x" + std::to_string(W));
      const int64_t c1 = o.channels, c2 = 2 * o.channels, flat = c2 * (H / 4) * (W / 4);
      conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(C, c1, 4).stride(2).padding(1)));
      conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, c2, 4).stride(2).padding(1)));
      fc21 = register_module("fc21", torch::nn::Linear(flat, o.latent));
      fc22 = register_module("fc22", torch::nn::Linear(flat, o.latent));
      fc3 = register_module("fc3", torch::nn::Linear(o.latent, flat));
      deconv1 = register_module(
          "deconv1", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(c2, c1, 4).stride(2).padding(1)));
      deconv2 = register_module(
          "deconv2", torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(c1, C, 4).stride(2).padding(1)));
    }
    // log sigma^2 of the Gaussian likelihood, one scalar, learned.
    if (o.likelihood == "gaussian") dec_logvar = register_parameter("dec_logvar", torch::zeros({1}));
  }

  std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& x) {  // x [B, C, H, W]
    torch::Tensor h;
    if (options.arch == "mlp") {
      h = torch::relu(fc1(x.flatten(1)));  // [B, hidden]
    } else {
      h = torch::relu(conv2(torch::relu(conv1(x)))).flatten(1);  // [B, 2ch * H/4 * W/4]
    }
    return {fc21(h), fc22(h)};  // mu, logvar [B, Z]
  }

  torch::Tensor decode(const torch::Tensor& z) {  // z [B, Z] -> [B, C, H, W]
    const int64_t B = z.size(0), C = shape[0], H = shape[1], W = shape[2];
    if (options.arch == "mlp") return fc4(torch::relu(fc3(z))).view({B, C, H, W});
    const torch::Tensor h = torch::relu(fc3(z)).view({B, 2 * options.channels, H / 4, W / 4});
    return deconv2(torch::relu(deconv1(h)));
  }

  // log p(x | z) per example, from the decoder's output `out` [B, C, H, W] -> [B].
  torch::Tensor log_likelihood(const torch::Tensor& out, const torch::Tensor& x) {
    if (options.likelihood == "bernoulli")
      return -torch::binary_cross_entropy_with_logits(out, x, {}, {}, at::Reduction::None).flatten(1).sum(1);
    const torch::Tensor mean = torch::sigmoid(out);
    const double log_2pi = std::log(2.0 * M_PI);
    return (-0.5 * ((x - mean).pow(2) / dec_logvar.exp() + dec_logvar + log_2pi)).flatten(1).sum(1);
  }

  torch::Tensor mean_image(const torch::Tensor& out) { return torch::sigmoid(out); }

  VaeOptions options;
  std::vector<int64_t> shape;  // C, H, W
  torch::nn::Linear fc1{nullptr}, fc21{nullptr}, fc22{nullptr}, fc3{nullptr}, fc4{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::ConvTranspose2d deconv1{nullptr}, deconv2{nullptr};
  torch::Tensor dec_logvar;
};
TORCH_MODULE(VaeNet);

class Vae final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "vae";
    i.version = "1.0.0";
    i.family = "vae";
    i.summary = "variational autoencoder (Kingma & Welling 2014), MLP or conv, ELBO and IWAE bound";
    i.modalities = {"image"};
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_SCORE |
                     GENLAB_CAPABILITY_STATE | GENLAB_CAPABILITY_MIXED_PRECISION;
    i.device_types = {kDLCPU, kDLCUDA};
    i.params = kVaeParams.describe();
    return i;
  }

  // Bernoulli: [0, 1] pixels taken as the means of binary ones; Gaussian: a density of the
  // pixel values as given. Neither is a likelihood of 8-bit data.
  const char* score_convention() const override {
    return net_->options.likelihood == "bernoulli" ? "bernoulli" : "continuous";
  }

  explicit Vae(const genlab::sdk::Context& c) : Model(c), input_(c) {
    const VaeOptions o = kVaeParams.read(c.config);
    net_ = VaeNet(o, input_.shape());
    net_->to(device());
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (const auto& p : net_->named_parameters()) params.emplace_back("net." + p.key(), p.value());
    adam_ = std::make_unique<genlab::sdk::Adam>(std::move(params), genlab::sdk::Adam::Options{o.lr});
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t) override {
    net_->train();
    const torch::Tensor x = input(batch);
    auto [mu, logvar] = net_->encode(x);
    const torch::Tensor z = mu + torch::exp(0.5 * logvar) * torch::randn_like(mu);   // reparameterisation
    const torch::Tensor recon = -net_->log_likelihood(net_->decode(z), x);           // [B]
    const torch::Tensor kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1);  // [B]
    const torch::Tensor loss = (recon + kl).mean();
    adam_->zero_grad();
    adam_->backward(loss);
    adam_->step();
    return {{"loss", loss.item<double>(), GENLAB_DIRECTION_LOWER},
            {"recon", recon.mean().item<double>(), GENLAB_DIRECTION_LOWER},
            {"kl", kl.mean().item<double>(), GENLAB_DIRECTION_LOWER}};
  }

  // From the prior by default; reconstructions of inputs["image"] when given.
  Tensors generate(int64_t count, const genlab::sdk::Config&, const Tensors& inputs) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0, got " + std::to_string(count));
    torch::NoGradGuard no_grad;
    net_->eval();
    torch::Tensor z;
    if (const at::Tensor* x = inputs.find(input_.name())) {
      z = net_->encode(x->to(device(), at::kFloat)).first;  // the posterior mean
    } else {
      z = torch::randn({count, net_->options.latent}, torch::TensorOptions().device(device()));
    }
    Tensors out;
    out.add("samples", net_->mean_image(net_->decode(z)).to(at::kCPU).contiguous());  // [N, C, H, W] in [0, 1]
    return out;
  }

  Tensors score(const Tensors& batch) override {
    torch::NoGradGuard no_grad;
    net_->eval();
    const torch::Tensor x = input(batch);
    auto [mu, logvar] = net_->encode(x);
    const torch::Tensor std = torch::exp(0.5 * logvar);
    const torch::Tensor z = mu + std * torch::randn_like(mu);
    const torch::Tensor neg_elbo =
        -net_->log_likelihood(net_->decode(z), x) - 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1);
    Tensors out;
    if (net_->options.iw_samples > 0) out.add("nll_iw", iwae_nll(x, mu, logvar, net_->options.iw_samples).to(at::kCPU));
    out.add("neg_elbo", neg_elbo.to(at::kCPU));
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
  torch::Tensor input(const Tensors& batch) const { return input_.take(batch, device()); }

  // -log of the IWAE estimate with K samples per example, in chunks of samples to bound memory.
  torch::Tensor iwae_nll(const torch::Tensor& x, const torch::Tensor& mu, const torch::Tensor& logvar, int64_t K) {
    const int64_t B = x.size(0), Z = mu.size(1);
    const torch::Tensor std = torch::exp(0.5 * logvar);
    std::vector<torch::Tensor> log_w;  // [chunk, B] each
    const int64_t chunk = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, B));
    const double log_2pi = std::log(2.0 * M_PI);
    for (int64_t k0 = 0; k0 < K; k0 += chunk) {
      const int64_t k = std::min(chunk, K - k0);
      const torch::Tensor eps = torch::randn({k, B, Z}, mu.options());
      const torch::Tensor z = mu.unsqueeze(0) + std.unsqueeze(0) * eps;  // [k, B, Z]
      const torch::Tensor out = net_->decode(z.reshape({k * B, Z}));     // [k*B, C, H, W]
      const torch::Tensor log_px = net_->log_likelihood(out, x.repeat({k, 1, 1, 1})).view({k, B});
      const torch::Tensor log_pz = (-0.5 * (z.pow(2) + log_2pi)).sum(2);  // [k, B]
      const torch::Tensor log_qz = (-0.5 * (eps.pow(2) + log_2pi) - 0.5 * logvar.unsqueeze(0)).sum(2);
      log_w.push_back(log_px + log_pz - log_qz);
    }
    return -(torch::logsumexp(torch::cat(log_w, 0), 0) - std::log(static_cast<double>(K)));  // [B]
  }

  VaeNet net_{nullptr};
  genlab::sdk::ExampleInput input_;
  std::unique_ptr<genlab::sdk::Adam> adam_;
};

}  // namespace

GENLAB_PLUGIN(Vae)
