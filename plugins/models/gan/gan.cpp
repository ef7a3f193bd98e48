// gan — a generative adversarial network (Goodfellow et al. 2014) with the deep
// convolutional architecture of Radford et al. (2016), "DCGAN", as a genlab model plugin.
//
// Legend: B batch, C channels, H/W height/width, Z noise size.
//
// Reference configuration: the DCGAN of pytorch/examples cpp/dcgan for 28x28 images
// (arch = "dcgan28"): G = ConvT(Z,256,4) BN ReLU, ConvT(256,128,3,2,1) BN ReLU,
// ConvT(128,64,4,2,1) BN ReLU, ConvT(64,C,4,2,1) Tanh; D = Conv(C,64,4,2,1) LReLU(0.2),
// Conv(64,128,4,2,1) BN LReLU, Conv(128,256,4,2,1) BN LReLU, Conv(256,1,3,1,0); Adam
// 2e-4, beta1 0.5, batch 64, Z = 100. `width` scales every channel count (CPU runs use
// fewer). arch = "small" is the same idea for any H, W divisible by 4 (e.g. 8x8 digits).
// Losses: the non-saturating loss of Goodfellow et al. (section 3) by default, or the hinge
// loss (Lim & Ye 2017); optional spectral normalisation of D (Miyato et al. 2018), one
// power iteration per step. The model has no likelihood: it offers no score, and the host
// refuses likelihood metrics for it before anything runs.
#include <torch/torch.h>

#include <cmath>
#include <memory>

#include <genlab/sdk/plugin.hpp>

#include <genlab/sdk/adam.hpp>
#include <genlab/sdk/example_input.hpp>

namespace {

using genlab::sdk::Tensors;

// Options: each field is a manifest key under [models.NAME], declared in kGanParams.
struct GanOptions {
  std::string arch = "auto";  // "auto" becomes "dcgan28" or "small" by the data's size
  int64_t noise = 100;
  double width = 1.0;
  std::string loss = "nonsaturating";
  bool spectral_norm = false;
  int64_t d_steps = 1;
  double lr_g = 2e-4, lr_d = 2e-4, beta1 = 0.5;
};

const auto kGanParams =
    genlab::sdk::Params<GanOptions>()
        .add("arch", &GanOptions::arch, "\"dcgan28\" (pytorch/examples, 28x28), \"small\" (H, W % 4 == 0), \"auto\"")
        .one_of({"dcgan28", "small", "auto"})
        .add("noise", &GanOptions::noise, "noise size Z")
        .positive()
        .add("width", &GanOptions::width, "multiplies every channel count")
        .positive()
        .add("loss", &GanOptions::loss, "\"nonsaturating\" or \"hinge\"")
        .one_of({"nonsaturating", "hinge"})
        .add("spectral_norm", &GanOptions::spectral_norm, "spectral normalisation of D's weights")
        .add("d_steps", &GanOptions::d_steps, "D updates per G update")
        .positive()
        .add("lr_g", &GanOptions::lr_g, "Adam learning rate of G")
        .positive()
        .add("lr_d", &GanOptions::lr_d, "Adam learning rate of D")
        .positive()
        .add("beta1", &GanOptions::beta1, "Adam beta1 of both");

int64_t scaled(int64_t channels, double width) { return std::max<int64_t>(4, static_cast<int64_t>(channels * width)); }

// A convolution whose weight can be spectrally normalised: W / sigma(W), sigma from one
// power iteration per training forward (u is a buffer, saved with the state).
struct SnConvImpl : torch::nn::Module {
  // A k x k convolution (kh x kw when given) with the stride and padding used on both axes.
  SnConvImpl(int64_t in, int64_t out, std::vector<int64_t> kernel, int64_t stride, int64_t padding, bool bias,
             bool spectral)
      : spectral(spectral), stride(stride), padding(padding) {
    if (kernel.size() == 1) kernel.push_back(kernel[0]);
    conv = register_module(
        "conv",
        torch::nn::Conv2d(
            torch::nn::Conv2dOptions(in, out, {kernel[0], kernel[1]}).stride(stride).padding(padding).bias(bias)));
    if (spectral)
      u = register_buffer("u", torch::nn::functional::normalize(torch::randn({out}),
                                                                torch::nn::functional::NormalizeFuncOptions().dim(0)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (!spectral) return conv(x);
    const torch::Tensor w = conv->weight.flatten(1);  // [out, in*k*k]
    torch::Tensor u_next, v;
    {
      torch::NoGradGuard no_grad;
      const auto unit = torch::nn::functional::NormalizeFuncOptions().dim(0);
      v = torch::nn::functional::normalize(torch::mv(w.t(), u), unit);
      u_next = torch::nn::functional::normalize(torch::mv(w, v), unit);
      if (is_training()) u.copy_(u_next);  // the graph holds u_next, never the buffer
    }
    const torch::Tensor sigma = torch::dot(u_next, torch::mv(w, v));
    return torch::conv2d(x, conv->weight / sigma, conv->bias, stride, padding);
  }
  bool spectral;
  int64_t stride, padding;
  torch::nn::Conv2d conv{nullptr};
  torch::Tensor u;
};
TORCH_MODULE(SnConv);

struct GeneratorImpl : torch::nn::Module {
  GeneratorImpl(const GanOptions& o, int64_t C, int64_t H, int64_t W) {
    using torch::nn::ConvTranspose2dOptions;
    if (o.arch == "dcgan28") {
      const int64_t c1 = scaled(256, o.width), c2 = scaled(128, o.width), c3 = scaled(64, o.width);
      body = register_module(
          "body", torch::nn::Sequential(
                      torch::nn::ConvTranspose2d(ConvTranspose2dOptions(o.noise, c1, 4).bias(false)),
                      torch::nn::BatchNorm2d(c1), torch::nn::ReLU(),
                      torch::nn::ConvTranspose2d(ConvTranspose2dOptions(c1, c2, 3).stride(2).padding(1).bias(false)),
                      torch::nn::BatchNorm2d(c2), torch::nn::ReLU(),
                      torch::nn::ConvTranspose2d(ConvTranspose2dOptions(c2, c3, 4).stride(2).padding(1).bias(false)),
                      torch::nn::BatchNorm2d(c3), torch::nn::ReLU(),
                      torch::nn::ConvTranspose2d(ConvTranspose2dOptions(c3, C, 4).stride(2).padding(1).bias(false)),
                      torch::nn::Tanh()));
      start = {o.noise, 1, 1};
    } else {
      const int64_t c1 = scaled(128, o.width), c2 = scaled(64, o.width);
      project = register_module("project", torch::nn::Linear(o.noise, c1 * (H / 4) * (W / 4)));
      body = register_module(
          "body",
          torch::nn::Sequential(torch::nn::BatchNorm2d(c1), torch::nn::ReLU(),
                                torch::nn::ConvTranspose2d(ConvTranspose2dOptions(c1, c2, 4).stride(2).padding(1)),
                                torch::nn::BatchNorm2d(c2), torch::nn::ReLU(),
                                torch::nn::ConvTranspose2d(ConvTranspose2dOptions(c2, C, 4).stride(2).padding(1)),
                                torch::nn::Tanh()));
      start = {c1, H / 4, W / 4};
    }
  }
  torch::Tensor forward(const torch::Tensor& z) {  // z [B, Z] -> images [B, C, H, W] in [-1, 1]
    const int64_t B = z.size(0);
    const torch::Tensor h = project ? project(z) : z;
    return body->forward(h.view({B, start[0], start[1], start[2]}));
  }
  torch::nn::Linear project{nullptr};
  torch::nn::Sequential body{nullptr};
  std::vector<int64_t> start;
};
TORCH_MODULE(Generator);

struct DiscriminatorImpl : torch::nn::Module {
  DiscriminatorImpl(const GanOptions& o, int64_t C, int64_t H, int64_t W) {
    auto lrelu = [] { return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)); };
    const bool sn = o.spectral_norm;
    if (o.arch == "dcgan28") {
      const int64_t c1 = scaled(64, o.width), c2 = scaled(128, o.width), c3 = scaled(256, o.width);
      body = register_module(
          "body", torch::nn::Sequential(
                      SnConv(C, c1, std::vector<int64_t>{4}, 2, 1, false, sn), lrelu(),
                      SnConv(c1, c2, std::vector<int64_t>{4}, 2, 1, false, sn), torch::nn::BatchNorm2d(c2), lrelu(),
                      SnConv(c2, c3, std::vector<int64_t>{4}, 2, 1, false, sn), torch::nn::BatchNorm2d(c3), lrelu(),
                      SnConv(c3, 1, std::vector<int64_t>{3}, 1, 0, false, sn)));
    } else {
      const int64_t c1 = scaled(64, o.width), c2 = scaled(128, o.width);
      body = register_module(
          "body",
          torch::nn::Sequential(SnConv(C, c1, std::vector<int64_t>{4}, 2, 1, true, sn), lrelu(),
                                SnConv(c1, c2, std::vector<int64_t>{4}, 2, 1, true, sn), torch::nn::BatchNorm2d(c2),
                                lrelu(), SnConv(c2, 1, std::vector<int64_t>{H / 4, W / 4}, 1, 0, true, sn)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) { return body->forward(x).flatten(); }  // logits [B]
  torch::nn::Sequential body{nullptr};
};
TORCH_MODULE(Discriminator);

std::vector<std::pair<std::string, at::Tensor>> named(torch::nn::Module& m, const std::string& prefix) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(prefix + p.key(), p.value());
  return out;
}

class Gan final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "gan";
    i.version = "1.0.0";
    i.family = "gan";
    i.summary = "DCGAN (Radford et al. 2016), non-saturating or hinge loss, optional spectral norm";
    i.modalities = {"image"};
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_STATE |
                     GENLAB_CAPABILITY_MIXED_PRECISION;
    i.device_types = {kDLCPU, kDLCUDA};
    i.params = kGanParams.describe();
    return i;
  }

  explicit Gan(const genlab::sdk::Context& c) : Model(c), input_(c) {
    o_ = kGanParams.read(c.config);
    const auto& shape = input_.shape();
    const int64_t C = shape[0], H = shape[1], W = shape[2];
    if (o_.arch == "auto") o_.arch = H == 28 && W == 28 ? "dcgan28" : "small";
    if (o_.arch == "dcgan28")
      GENLAB_CHECK(H == 28 && W == 28, GENLAB_ERROR_INVALID_ARGUMENT,
                   "arch \"dcgan28\" generates 28x28 images, the data is " + std::to_string(H) + "x" +
                       std::to_string(W) + " (use arch = \"small\")");
    else
      GENLAB_CHECK(H % 4 == 0 && W % 4 == 0, GENLAB_ERROR_INVALID_ARGUMENT,
                   "arch \"small\" needs H and W divisible by 4");
    g_ = Generator(o_, C, H, W);
    d_ = Discriminator(o_, C, H, W);
    g_->to(device());
    d_->to(device());
    const genlab::sdk::Adam::Options g_opt{o_.lr_g, o_.beta1, 0.999, 1e-8}, d_opt{o_.lr_d, o_.beta1, 0.999, 1e-8};
    adam_g_ = std::make_unique<genlab::sdk::Adam>(named(*g_, "G."), g_opt, "adam_g");
    adam_d_ = std::make_unique<genlab::sdk::Adam>(named(*d_, "D."), d_opt, "adam_d");
  }

  // d_steps updates of D on real and fake images, then one of G (Goodfellow et al., Alg. 1).
  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t) override {
    g_->train();
    d_->train();
    const torch::Tensor real = input_.take(batch, device()) * 2 - 1;  // [0, 1] -> [-1, 1], the range of tanh
    const int64_t B = real.size(0);
    torch::Tensor d_loss, d_real, d_fake;
    for (int64_t k = 0; k < o_.d_steps; ++k) {
      const torch::Tensor fake = g_->forward(noise(B)).detach();
      const torch::Tensor real_logits = d_->forward(real), fake_logits = d_->forward(fake);
      if (o_.loss == "hinge") d_loss = torch::relu(1 - real_logits).mean() + torch::relu(1 + fake_logits).mean();
      else  // -log D(x) - log(1 - D(G(z)))
        d_loss = torch::softplus(-real_logits).mean() + torch::softplus(fake_logits).mean();
      adam_d_->zero_grad();
      adam_d_->backward(d_loss);
      adam_d_->step();
      d_real = torch::sigmoid(real_logits).mean();
      d_fake = torch::sigmoid(fake_logits).mean();
    }
    const torch::Tensor fake_logits = d_->forward(g_->forward(noise(B)));
    // Non-saturating: maximise log D(G(z)); hinge: minimise -D(G(z)).
    const torch::Tensor g_loss = o_.loss == "hinge" ? -fake_logits.mean() : torch::softplus(-fake_logits).mean();
    adam_g_->zero_grad();
    adam_g_->backward(g_loss);
    adam_g_->step();
    return {{"g_loss", g_loss.item<double>(), GENLAB_DIRECTION_NONE},
            {"d_loss", d_loss.item<double>(), GENLAB_DIRECTION_NONE},
            {"d_real", d_real.item<double>(), GENLAB_DIRECTION_NONE},
            {"d_fake", d_fake.item<double>(), GENLAB_DIRECTION_NONE}};
  }

  Tensors generate(int64_t count, const genlab::sdk::Config&, const Tensors&) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0, got " + std::to_string(count));
    torch::NoGradGuard no_grad;
    g_->eval();
    Tensors out;
    out.add("samples", ((g_->forward(noise(count)) + 1) / 2).clamp(0, 1).to(at::kCPU).contiguous());  // [N, C, H, W]
    return out;
  }

  int64_t trainable_parameters() const override { return adam_g_->parameter_count() + adam_d_->parameter_count(); }

  Tensors export_state() override {
    Tensors state;
    adam_g_->export_to(state);
    adam_d_->export_to(state);
    for (auto* m : {static_cast<torch::nn::Module*>(g_.get()), static_cast<torch::nn::Module*>(d_.get())})
      for (const auto& b : m->named_buffers())
        state.add(std::string(m == g_.get() ? "G." : "D.") + b.key(), b.value());  // BN statistics, SN's u
    return state;
  }

  void import_state(const Tensors& state) override {
    adam_g_->import_from(state);
    adam_d_->import_from(state);
    torch::NoGradGuard no_grad;
    for (auto* m : {static_cast<torch::nn::Module*>(g_.get()), static_cast<torch::nn::Module*>(d_.get())})
      for (auto& b : m->named_buffers()) {
        const at::Tensor& from = state.at(std::string(m == g_.get() ? "G." : "D.") + b.key());
        GENLAB_CHECK(from.sizes() == b.value().sizes(), GENLAB_ERROR_INVALID_ARGUMENT,
                     "buffer '" + b.key() + "' has another shape");
        b.value().copy_(from);
      }
  }

 private:
  torch::Tensor noise(int64_t n) const { return torch::randn({n, o_.noise}, torch::TensorOptions().device(device())); }

  GanOptions o_;
  genlab::sdk::ExampleInput input_;
  Generator g_{nullptr};
  Discriminator d_{nullptr};
  std::unique_ptr<genlab::sdk::Adam> adam_g_, adam_d_;
};

}  // namespace

GENLAB_PLUGIN(Gan)
