// diffusion — a denoising diffusion probabilistic model (Ho et al. 2020, "DDPM") as a genlab
// model plugin, with the DDIM sampler of Song et al. (2021).
//
// Legend: B batch, C channels, H/W height/width, D = C*H*W, T diffusion steps, S sampling
// steps, K Monte Carlo timesteps of the likelihood bound.
//
// Training (Ho et al., Algorithm 1): x_0 in [-1, 1], t ~ U{0..T-1}, x_t = sqrt(abar_t) x_0
// + sqrt(1 - abar_t) eps, and the U-Net (unet.hpp) regresses eps (or, as an option,
// v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0; Salimans & Ho 2022) with a mean squared
// error; gradients clipped to norm 1; Adam. An exponential moving average of the weights
// (decay warmed up as min(ema, (1 + n) / (10 + n)) after n updates) samples and scores.
// With conditional = true the labels are embedded and dropped to "no class" with
// probability p_uncond, so that sampling can use classifier-free guidance (Ho & Salimans
// 2022): eps = eps(x, none) + w (eps(x, y) - eps(x, none)).
//
// Sampling (generate): "ddpm", the ancestral sampler over all T steps (Algorithm 2, written
// through the predicted x_0 and the posterior mean, sigma_t^2 = beta~_t or beta_t), or
// "ddim" (Song et al., eq. 12) over S evenly spaced steps with noise scale eta; eta = 1 on
// the full schedule is the DDPM sampler with sigma_t^2 = beta~_t. Predicted x_0 is clipped
// to [-1, 1] unless clip = false.
//
// Likelihood (score): the variational bound of Ho et al. eq. 5,
//   L = L_T + L_0 + sum_{t=1}^{T-1} L_t,
// L_T = KL(q(x_T | x_0) || N(0, I)) and L_0 (the discretised Gaussian decoder, eq. 13) in
// closed form, and each L_t = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) between
// Gaussians, summed over every t or estimated from K importance-sampled timesteps per
// example (see score). In nats per example and bits per dimension; the decoder assumes
// 8-bit data (256 levels).
//
// Points [D] (toy 2-D data) work too: an MLP denoiser (networks.hpp), the data diffused as
// it is (no clipping), and a Gaussian density as the decoder, so their bound is a density.
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <sstream>

#include <genlab/sdk/plugin.hpp>

#include <genlab/sdk/adam.hpp>
#include <genlab/sdk/ema.hpp>
#include <genlab/sdk/example_input.hpp>
#include "likelihood.hpp"
#include "schedule.hpp"
#include "networks.hpp"

namespace {

using genlab::sdk::Tensors;
namespace dm = genlab::plugins::diffusion;

// Options: each field is a manifest key under [models.NAME], declared in kDiffusionParams.
struct DiffusionOptions {
  dm::NetworkOptions net;  // its mult is parsed from channel_mult after read()
  std::string channel_mult = "1,2,2";
  int64_t timesteps = 1000;
  std::string schedule = "linear";
  std::string prediction = "eps";
  std::string variance = "posterior";  // sigma_t^2 of the reverse process
  bool conditional = false;
  double p_uncond = 0.1;
  double lr = 2e-4;
  double grad_clip = 1.0;
  double ema = 0.999;
  int64_t score_samples = 16;
};

using DiffusionParams = genlab::sdk::Params<DiffusionOptions>;
const auto kDiffusionParams =
    DiffusionParams()
        .add(
            "channels", [](DiffusionOptions& o) -> int64_t& { return o.net.channels; },
            "U-Net width of the first level")
        .positive()
        .add("channel_mult", &DiffusionOptions::channel_mult,
             "width of each level in units of channels; H, W % 2^(levels-1) == 0")
        .add(
            "res_blocks", [](DiffusionOptions& o) -> int64_t& { return o.net.res_blocks; }, "residual blocks per level")
        .positive()
        .add(
            "attention", [](DiffusionOptions& o) -> bool& { return o.net.attention; },
            "self-attention at the lowest resolution")
        .add(
            "dropout", [](DiffusionOptions& o) -> double& { return o.net.dropout; }, "dropout in the residual blocks")
        .between(0, 1, DiffusionParams::Ends::upper_open)
        .add(
            "hidden", [](DiffusionOptions& o) -> int64_t& { return o.net.hidden; }, "points: MLP width")
        .positive()
        .add(
            "layers", [](DiffusionOptions& o) -> int64_t& { return o.net.layers; }, "points: MLP hidden layers")
        .positive()
        .add("timesteps", &DiffusionOptions::timesteps, "diffusion steps T")
        .positive()
        .add("schedule", &DiffusionOptions::schedule,
             "noise schedule: \"linear\" (Ho et al.) or \"cosine\" (Nichol & Dhariwal)")
        .one_of({"linear", "cosine"})
        .add("prediction", &DiffusionOptions::prediction, "what the network predicts: \"eps\" or \"v\"")
        .one_of({"eps", "v"})
        .add("variance", &DiffusionOptions::variance, "reverse-process variance: \"posterior\" (beta~) or \"beta\"")
        .one_of({"posterior", "beta"})
        .add("conditional", &DiffusionOptions::conditional,
             "class-conditional (labelled data), with classifier-free guidance")
        .add("p_uncond", &DiffusionOptions::p_uncond, "probability of dropping the label in training")
        .between(0, 1)
        .add("lr", &DiffusionOptions::lr, "Adam learning rate")
        .positive()
        .add("grad_clip", &DiffusionOptions::grad_clip, "maximum gradient norm; 0: no clipping")
        .non_negative()
        .add("ema", &DiffusionOptions::ema, "EMA decay of the weights that sample and score; 0: none")
        .between(0, 1, DiffusionParams::Ends::upper_open)
        .add("score_samples", &DiffusionOptions::score_samples,
             "timesteps K per example of the bound in score (importance-sampled); 0: all T")
        .non_negative();

// What generate() reads from its options, declared in kSampleParams.
struct SampleOptions {
  std::string sampler = "ddim";
  int64_t steps = 50;  // at most timesteps; unless given, "ddpm" runs all T (set after read)
  double eta = 0.0;
  double guidance = 1.0;
  int64_t batch = 256;
  bool clip = true;  // unless given, images only: points are not clipped (set after read)
  int64_t forward_step = -1;
};

const auto kSampleParams =
    genlab::sdk::Params<SampleOptions>()
        .add("sampler", &SampleOptions::sampler, "\"ddim\" or \"ddpm\" (all timesteps)")
        .one_of({"ddpm", "ddim"})
        .add("steps", &SampleOptions::steps, "DDIM steps (at most timesteps); ddpm always runs all")
        .positive()
        .add("eta", &SampleOptions::eta, "DDIM noise scale: 0 deterministic, 1 DDPM-like")
        .non_negative()
        .add("guidance", &SampleOptions::guidance, "classifier-free guidance scale; 1: the conditional model alone")
        .add("batch", &SampleOptions::batch, "samples per network call")
        .positive()
        .add("clip", &SampleOptions::clip, "clip the predicted x_0 to [-1, 1] (default: images only)")
        .add("forward_step", &SampleOptions::forward_step,
             ">= 0: return q(x_t | x_0) draws of the inputs' images at this t");

std::vector<int64_t> parse_mult(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    GENLAB_CHECK(used > 0 && v > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected channel_mult as positive integers separated by commas (\"1,2,2\"), got \"" + text + "\"");
    out.push_back(v);
  }
  GENLAB_CHECK(!out.empty(), GENLAB_ERROR_INVALID_ARGUMENT, "expected channel_mult to name at least one level");
  return out;
}

class Diffusion final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "diffusion";
    i.version = "1.0.0";
    i.family = "diffusion";
    i.summary = "DDPM (Ho et al. 2020) with a small U-Net, DDPM and DDIM samplers, variational bound";
    i.modalities = {"image", "points"};
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_SCORE |
                     GENLAB_CAPABILITY_STATE | GENLAB_CAPABILITY_MIXED_PRECISION;
    i.device_types = {kDLCPU, kDLCUDA};
    i.params = kDiffusionParams.describe();
    i.generate_params = kSampleParams.describe();
    return i;
  }

  // The bound's decoder is discretised to 256 levels for images (Ho et al.), a density for points.
  const char* score_convention() const override { return input_.is_image() ? "discrete-8bit" : "continuous"; }

  explicit Diffusion(const genlab::sdk::Context& c) : Model(c), input_(c, /*points_too=*/true) {
    o_ = kDiffusionParams.read(c.config);
    o_.net.mult = parse_mult(o_.channel_mult);

    const auto& shape = input_.shape();
    if (input_.is_image()) {
      const int64_t H = shape[1], W = shape[2], divisor = int64_t{1} << (o_.net.mult.size() - 1);
      GENLAB_CHECK(H % divisor == 0 && W % divisor == 0, GENLAB_ERROR_INVALID_ARGUMENT,
                   std::to_string(o_.net.mult.size()) + " U-Net levels need H and W divisible by " +
                       std::to_string(divisor) + ", the data is " + std::to_string(H) + "x" + std::to_string(W) +
                       " (use fewer channel_mult entries)");
    }
    o_.net.shape = shape;
    if (o_.conditional) {
      const genlab_dataset_info& data = *c.data_info;
      bool labelled = false;
      for (size_t e = 0; e < data.element_count; ++e) labelled |= std::string(data.elements[e].name) == "label";
      GENLAB_CHECK(labelled && data.num_classes > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                   "conditional = true needs labelled data (an element \"label\" and num_classes > 0)");
      o_.net.num_classes = data.num_classes;
    }
    schedule_ = std::make_unique<dm::Schedule>(o_.schedule, o_.timesteps, o_.variance, device());
    bound_ = std::make_unique<BoundTerms>(*schedule_);

    net_ = dm::Denoiser(o_.net);
    ema_ = dm::Denoiser(o_.net);
    net_->to(device());
    ema_->to(device());
    ema_->eval();
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (const auto& p : net_->named_parameters()) params.emplace_back("net." + p.key(), p.value());
    adam_ = std::make_unique<genlab::sdk::Adam>(std::move(params), genlab::sdk::Adam::Options{o_.lr});
    const auto trained = net_->named_parameters();
    std::vector<genlab::sdk::Ema::Pair> averaged;
    for (const auto& p : ema_->named_parameters()) averaged.push_back({p.key(), p.value(), trained[p.key()]});
    ema_weights_ = std::make_unique<genlab::sdk::Ema>(std::move(averaged), o_.ema);
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t) override {
    net_->train();
    const torch::Tensor x0 = to_model(input_.take(batch, device()));  // [B, ...]
    const int64_t B = x0.size(0);
    const torch::Tensor t =
        torch::randint(0, o_.timesteps, {B}, torch::TensorOptions().device(device()).dtype(torch::kLong));
    const torch::Tensor noise = torch::randn_like(x0);
    const torch::Tensor xt = schedule_->noised(x0, t, noise);
    torch::Tensor labels;
    if (o_.conditional) {
      labels = batch.at("label").to(device(), torch::kLong);
      const torch::Tensor drop = torch::rand({B}, x0.options()) < o_.p_uncond;
      labels = torch::where(drop, torch::full_like(labels, o_.net.num_classes), labels);
    }
    torch::Tensor target = noise;
    if (o_.prediction == "v") {
      const torch::Tensor ab = dm::Schedule::at(schedule_->alphas_bar, t, x0);
      target = ab.sqrt() * noise - (1 - ab).sqrt() * x0;
    }
    const torch::Tensor loss = torch::mse_loss(net_->forward(xt, t, labels), target);
    adam_->zero_grad();
    adam_->backward(loss);
    adam_->average_gradients();  // several processes: clip by the global batch's gradient norm
    const double grad_norm =
        o_.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(net_->parameters(), o_.grad_clip) : 0.0;
    adam_->step();
    ema_weights_->update(adam_->steps());
    return {{"loss", loss.item<double>(), GENLAB_DIRECTION_LOWER}, {"grad_norm", grad_norm, GENLAB_DIRECTION_NONE}};
  }

  // Samples from noise with the EMA weights. Options: see SampleOptions. Inputs, all
  // optional: "noise" [N, C, H, W], the starting x_T; "label" [N], the classes to draw
  // (conditional models; by default 0, 1, ..., K-1, 0, ...); with forward_step, "image".
  Tensors generate(int64_t count, const genlab::sdk::Config& options, const Tensors& inputs) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0, got " + std::to_string(count));
    const SampleOptions s = sample_options(options);
    c10::InferenceMode inference;
    std::vector<int64_t> batch_shape{count};
    batch_shape.insert(batch_shape.end(), input_.shape().begin(), input_.shape().end());
    torch::Tensor noise;
    if (const at::Tensor* given = inputs.find("noise")) {
      GENLAB_CHECK(given->sizes() == batch_shape, GENLAB_ERROR_INVALID_ARGUMENT,
                   "expected input 'noise' of shape " + c10::str(at::IntArrayRef(batch_shape)) + ", got " +
                       c10::str(given->sizes()));
      noise = given->to(device(), torch::kFloat);
    }
    Tensors out;
    if (s.forward_step >= 0) {
      GENLAB_CHECK(s.forward_step < o_.timesteps, GENLAB_ERROR_INVALID_ARGUMENT,
                   "expected forward_step < timesteps (" + std::to_string(o_.timesteps) + ")");
      const at::Tensor* images = inputs.find(input_.name());
      GENLAB_CHECK(images != nullptr && images->dim() > 0 && images->size(0) == count, GENLAB_ERROR_INVALID_ARGUMENT,
                   "forward_step needs the input '" + input_.name() + "' with " + std::to_string(count) + " rows");
      const torch::Tensor x0 = to_model(images->to(device(), torch::kFloat));
      if (!noise.defined()) noise = torch::randn_like(x0);
      const torch::Tensor t =
          torch::full({x0.size(0)}, s.forward_step, torch::TensorOptions().device(device()).dtype(torch::kLong));
      out.add("noised", schedule_->noised(x0, t, noise).to(at::kCPU).contiguous());  // [N, ...], the model's scale
      out.add("noise", noise.to(at::kCPU).contiguous());
      return out;
    }
    torch::Tensor labels = sample_labels(count, inputs);
    std::vector<torch::Tensor> chunks;
    for (int64_t from = 0; from < count; from += s.batch) {
      const int64_t n = std::min(s.batch, count - from);
      batch_shape[0] = n;
      torch::Tensor x = noise.defined() ? noise.narrow(0, from, n)
                                        : torch::randn(batch_shape, torch::TensorOptions().device(device()));
      const torch::Tensor y = labels.defined() ? labels.narrow(0, from, n) : labels;
      chunks.push_back(s.sampler == "ddpm" ? sample_ddpm(x, y, s) : sample_ddim(x, y, s));
    }
    out.add("samples", from_model(torch::cat(chunks, 0)).to(at::kCPU).contiguous());  // [N, ...] in the data's range
    return out;
  }

  Tensors score(const Tensors& batch) override {
    c10::InferenceMode inference;
    const torch::Tensor x0 = to_model(input_.take(batch, device()));
    const int64_t B = x0.size(0), D = x0[0].numel(), T = o_.timesteps;
    const auto options = torch::TensorOptions().device(device()).dtype(torch::kLong);
    torch::Tensor labels;
    if (o_.conditional) {  // p(x | y) with the batch's labels, else p(x) through "no class"
      const at::Tensor* given = batch.find("label");
      labels = given ? given->to(device(), torch::kLong) : torch::full({B}, o_.net.num_classes, options);
    }
    auto per_example = [](const torch::Tensor& v) { return v.flatten(1).sum(1); };  // [B, ...] -> [B]

    // L_T: KL(N(sqrt(abar_T) x_0, 1 - abar_T) || N(0, 1)) per dimension.
    const double ab_T = schedule_->host_alphas_bar.back();
    torch::Tensor nll = per_example(0.5 * ((1 - ab_T) + ab_T * x0.pow(2) - 1 - std::log(1 - ab_T)));

    // L_0: the decoder at t = 0, discretised for 8-bit images, a density for points.
    const torch::Tensor t0 = torch::zeros({B}, options);
    const torch::Tensor x1 = schedule_->noised(x0, t0, torch::randn_like(x0));
    const torch::Tensor mean0 = schedule_->posterior_mean(predict(ema_, x1, t0, labels, 1.0).x0, x1, t0);
    const double var0 = schedule_->sigma2[0].item<double>();
    const torch::Tensor log_p0 = input_.is_image()
                                     ? dm::discretized_gaussian_log_likelihood(x0, mean0, 0.5 * std::log(var0))
                                     : -0.5 * ((x0 - mean0).pow(2) / var0 + std::log(2 * M_PI * var0));
    nll = nll - per_example(log_p0);

    // sum_{t=1}^{T-1} L_t. Each L_t is a constant (the variances' mismatch) plus
    // c0_t^2 |x_0 - x0_hat|^2 / (2 sigma_t^2): the constants are summed exactly; the rest
    // over all t (score_samples = 0) or from K timesteps per example drawn with probability
    // proportional to that weight of an untrained model, w_t = c0_t^2 (1 - abar_t) / abar_t
    // / (2 sigma_t^2) (mixed with 10% uniform), each term divided by its probability.
    if (T > 1) {
      nll = nll + static_cast<double>(D) * bound_->constant;
      const int64_t K = o_.score_samples == 0 ? T - 1 : o_.score_samples;
      const torch::Tensor t_all =
          o_.score_samples == 0 ? torch::arange(1, T, options).repeat({B, 1})                             // [B, T-1]
                                : torch::multinomial(bound_->probability, B * K, true).view({B, K}) + 1;  // [B, K]
      torch::Tensor sum = torch::zeros({B}, x0.options());
      for (int64_t k = 0; k < K; ++k) {
        const torch::Tensor t = t_all.select(1, k).contiguous().to(device());
        const torch::Tensor xt = schedule_->noised(x0, t, torch::randn_like(x0));
        const torch::Tensor x0_hat = predict(ema_, xt, t, labels, 1.0).x0;
        const torch::Tensor weight = bound_->error_weight.index_select(0, t);  // c0_t^2 / (2 sigma_t^2)  [B]
        torch::Tensor term = weight * per_example((x0 - x0_hat).pow(2));
        if (o_.score_samples > 0)
          term = term / (bound_->probability.to(device()).index_select(0, t - 1) * static_cast<double>(K));
        sum = sum + term;
      }
      nll = nll + sum;
    }
    Tensors out;
    out.add("nll", nll.to(at::kCPU));                                                        // [B] nats
    out.add("bits_per_dim", (nll / (static_cast<double>(D) * std::log(2.0))).to(at::kCPU));  // [B]
    return out;
  }

  int64_t trainable_parameters() const override { return adam_->parameter_count(); }

  Tensors export_state() override {
    Tensors state;
    adam_->export_to(state);
    ema_weights_->export_to(state);
    return state;
  }

  void import_state(const Tensors& state) override {
    adam_->import_from(state);
    ema_weights_->import_from(state);
  }

 private:
  struct Prediction {
    torch::Tensor eps, x0;
  };

  // The network's output at x_t, t (with guidance w when labels are given and w != 1) as
  // the noise estimate and the x_0 it implies.
  Prediction predict(dm::Denoiser& net, const torch::Tensor& xt, const torch::Tensor& t, const torch::Tensor& labels,
                     double guidance) {
    torch::Tensor out;
    if (labels.defined() && guidance != 1.0) {
      const torch::Tensor none = torch::full_like(labels, o_.net.num_classes);
      const auto both = net->forward(torch::cat({xt, xt}), torch::cat({t, t}), torch::cat({labels, none})).chunk(2);
      out = both[1] + guidance * (both[0] - both[1]);
    } else {
      out = net->forward(xt, t, labels);
    }
    const torch::Tensor ab = dm::Schedule::at(schedule_->alphas_bar, t, xt), a = ab.sqrt(), b = (1 - ab).sqrt();
    if (o_.prediction == "v") return {b * xt + a * out, a * xt - b * out};
    return {out, (xt - b * out) / a};
  }

  // Images in [0, 1] are diffused in [-1, 1]; points as they are.
  torch::Tensor to_model(const torch::Tensor& x) const { return input_.is_image() ? x * 2 - 1 : x; }
  torch::Tensor from_model(const torch::Tensor& x) const { return input_.is_image() ? ((x + 1) / 2).clamp(0, 1) : x; }

  // Ancestral sampling over all T steps: x_{t-1} = mean of q(x_{t-1} | x_t, x_0 = x0_hat) + sigma_t z.
  torch::Tensor sample_ddpm(torch::Tensor x, const torch::Tensor& labels, const SampleOptions& s) {
    const auto options = torch::TensorOptions().device(device()).dtype(torch::kLong);
    for (int64_t step = o_.timesteps - 1; step >= 0; --step) {
      const torch::Tensor t = torch::full({x.size(0)}, step, options);
      torch::Tensor x0 = predict(ema_, x, t, labels, s.guidance).x0;
      if (s.clip) x0 = x0.clamp(-1, 1);
      x = schedule_->posterior_mean(x0, x, t);
      if (step > 0) x = x + schedule_->sigma2[step].sqrt() * torch::randn_like(x);
    }
    return x;
  }

  // DDIM (Song et al. 2021, eq. 12) over S evenly spaced steps tau_i = floor(i T / S).
  torch::Tensor sample_ddim(torch::Tensor x, const torch::Tensor& labels, const SampleOptions& s) {
    const auto options = torch::TensorOptions().device(device()).dtype(torch::kLong);
    const auto& abar = schedule_->host_alphas_bar;
    auto tau = [&](int64_t i) { return i * o_.timesteps / s.steps; };
    for (int64_t i = s.steps - 1; i >= 0; --i) {
      const int64_t step = tau(i);
      const double ab = abar[step], ab_prev = i > 0 ? abar[tau(i - 1)] : 1.0;
      const Prediction p = predict(ema_, x, torch::full({x.size(0)}, step, options), labels, s.guidance);
      torch::Tensor x0 = p.x0, eps = p.eps;
      if (s.clip) {
        x0 = x0.clamp(-1, 1);
        eps = (x - std::sqrt(ab) * x0) / std::sqrt(1 - ab);
      }
      const double sigma = s.eta * std::sqrt((1 - ab_prev) / (1 - ab)) * std::sqrt(1 - ab / ab_prev);
      x = std::sqrt(ab_prev) * x0 + std::sqrt(std::max(0.0, 1 - ab_prev - sigma * sigma)) * eps;
      if (sigma > 0) x = x + sigma * torch::randn_like(x);
    }
    return x;
  }

  SampleOptions sample_options(const genlab::sdk::Config& options) const {
    SampleOptions s = kSampleParams.read(options);
    if (!options.has("steps")) s.steps = s.sampler == "ddpm" ? o_.timesteps : std::min(s.steps, o_.timesteps);
    GENLAB_CHECK(s.steps <= o_.timesteps, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected steps <= timesteps (" + std::to_string(o_.timesteps) + "), got " + std::to_string(s.steps));
    GENLAB_CHECK(
        s.sampler == "ddim" || s.steps == o_.timesteps, GENLAB_ERROR_INVALID_ARGUMENT,
        "sampler \"ddpm\" runs all " + std::to_string(o_.timesteps) + " steps; for fewer use sampler \"ddim\"");
    if (!options.has("clip")) s.clip = input_.is_image();
    return s;
  }

  torch::Tensor sample_labels(int64_t count, const Tensors& inputs) const {
    const at::Tensor* given = inputs.find("label");
    if (!o_.conditional) {
      GENLAB_CHECK(given == nullptr, GENLAB_ERROR_INVALID_ARGUMENT,
                   "input 'label' given, but this model is not class-conditional (conditional = false)");
      return {};
    }
    const auto options = torch::TensorOptions().device(device()).dtype(torch::kLong);
    if (given == nullptr) return torch::arange(count, options).remainder(o_.net.num_classes);
    const torch::Tensor labels = given->to(device(), torch::kLong).flatten();
    GENLAB_CHECK(labels.numel() == count, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected " + std::to_string(count) + " labels, got " + std::to_string(labels.numel()));
    GENLAB_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < o_.net.num_classes,
                 GENLAB_ERROR_INVALID_ARGUMENT, "expected labels in [0, " + std::to_string(o_.net.num_classes) + ")");
    return labels;
  }

  // What score needs of the schedule, computed once: for t = 1..T-1 the weight of the
  // squared x_0 error in L_t, the proposal over t, and the sum of L_t's constant parts per
  // dimension, 1/2 (log(sigma_t^2 / beta~_t) + beta~_t / sigma_t^2 - 1).
  struct BoundTerms {
    explicit BoundTerms(const dm::Schedule& s) {
      const int64_t T = s.steps;
      std::vector<double> weight(static_cast<size_t>(T), 0.0), w(static_cast<size_t>(std::max<int64_t>(T - 1, 1)), 1.0);
      for (int64_t t = 1; t < T; ++t) {
        const double c0 = s.posterior_x0[t].item<double>(), sigma2 = s.sigma2[t].item<double>();
        const double var_q = s.posterior_variance[t].item<double>(), ab = s.host_alphas_bar[t];
        weight[t] = c0 * c0 / (2 * sigma2);
        w[t - 1] = weight[t] * (1 - ab) / ab;
        constant += 0.5 * (std::log(sigma2 / var_q) + var_q / sigma2 - 1);
      }
      double total = 0;
      for (double v : w) total += v;
      for (double& v : w) v = 0.9 * v / total + 0.1 / static_cast<double>(w.size());
      error_weight = torch::tensor(weight, torch::kDouble).to(s.betas.device(), torch::kFloat);
      probability = torch::tensor(w, torch::kDouble).to(torch::kFloat);  // on the CPU, for multinomial
    }
    torch::Tensor error_weight;  // [T]
    torch::Tensor probability;   // [T - 1], of t = 1..T-1
    double constant = 0;
  };

  DiffusionOptions o_;
  genlab::sdk::ExampleInput input_;
  std::unique_ptr<BoundTerms> bound_;
  std::unique_ptr<genlab::sdk::Ema> ema_weights_;  // averages ema_'s parameters
  std::unique_ptr<dm::Schedule> schedule_;
  dm::Denoiser net_{nullptr}, ema_{nullptr};
  std::unique_ptr<genlab::sdk::Adam> adam_;
};

}  // namespace

GENLAB_PLUGIN(Diffusion)
