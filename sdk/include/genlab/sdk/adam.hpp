// Part of the installed SDK (genlab/sdk/adam.hpp): every built-in model uses it, and so can
// an out-of-tree one.
// Adam (Kingma & Ba 2015, Algorithm 1) over a list of named parameters, written out so
// that its moments and step count are part of a model's exported state: a run resumed
// from a checkpoint continues exactly where it stopped. With weight_decay > 0 it is AdamW
// (Loshchilov & Hutter 2019): decay decoupled from the gradient, p <- p (1 - lr wd), and,
// as nanoGPT does, only on tensors of two or more dimensions (matrices and embeddings, not
// biases or norm gains).
//
// When several processes train one run (experiment.processes), step() first averages the
// gradients over them (genlab/sdk/distributed.hpp): the model plugins need no change.
//
// With fp16 compute (genlab_host_api::precision), an fp16 forward pass's small gradients
// underflow: backward(loss) multiplies the loss by a scale first, and the gradients are
// divided by it before the update; a step whose gradients hold inf or NaN is skipped and
// the scale halved, and after 2000 good steps in a row it doubles (PyTorch's GradScaler
// policy). The scale is part of the exported state. bf16 and fp32 need none of it.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <genlab/sdk/distributed.hpp>
#include <genlab/sdk/plugin.hpp>

namespace genlab::sdk {

class Adam {
 public:
  struct Options {
    double lr = 1e-3;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    double weight_decay = 0.0;
  };

  // `prefix` names the optimiser's tensors in the state ("<prefix>.m.<param>", ...), so that
  // two optimisers of one model (a GAN's) do not collide.
  Adam(std::vector<std::pair<std::string, at::Tensor>> params, Options options, std::string prefix = "adam")
      : params_(std::move(params)), options_(options), prefix_(std::move(prefix)) {
    for (auto& [name, p] : params_) {
      m_.push_back(at::zeros_like(p));
      v_.push_back(at::zeros_like(p));
      tensors_.push_back(p);
    }
  }

  int64_t steps() const { return steps_; }  // updates made so far
  // The scalar values it updates: a model's trainable parameters (Model::trainable_parameters).
  int64_t parameter_count() const {
    int64_t count = 0;
    for (const auto& named : params_) count += named.second.numel();
    return count;
  }
  void set_lr(double lr) { options_.lr = lr; }  // for a schedule

  void zero_grad() {
    for (auto& [name, p] : params_) p.mutable_grad() = at::Tensor();
    averaged_ = false;
  }

  // loss.backward(), with the loss scaled under fp16 (see above). Use it instead of
  // loss.backward() so that a model runs at any precision.
  void backward(const at::Tensor& loss) {
    if (scaling()) (loss * scale_).backward();
    else loss.backward();
  }

  // Averages the gradients over the processes now instead of in step(), and under fp16
  // divides them by the loss scale: for a model that clips them by their norm, which should
  // be the global batch's true one, not a shard's or a scaled one.
  void average_gradients() {
    genlab::sdk::average_gradients(tensors_);
    if (scaling()) unscale();
    averaged_ = true;
  }

  void step() {
    if (!averaged_) average_gradients();  // one collective; nothing with one process
    averaged_ = false;
    at::NoGradGuard no_grad;
    if (scaling() && !gradients_finite()) {  // an fp16 overflow: skip the update, lower the scale
      scale_ /= 2;
      good_steps_ = 0;
      return;
    }
    if (scaling() && ++good_steps_ == kGrowthInterval) {
      scale_ *= 2;
      good_steps_ = 0;
    }
    ++steps_;
    const double c1 = 1 - std::pow(options_.beta1, static_cast<double>(steps_));
    const double c2 = 1 - std::pow(options_.beta2, static_cast<double>(steps_));
    for (size_t i = 0; i < params_.size(); ++i) {
      at::Tensor& p = params_[i].second;
      const at::Tensor& g = p.grad();
      if (!g.defined()) continue;
      if (options_.weight_decay > 0 && p.dim() >= 2) p.mul_(1 - options_.lr * options_.weight_decay);
      m_[i].mul_(options_.beta1).add_(g, 1 - options_.beta1);
      v_[i].mul_(options_.beta2).addcmul_(g, g, 1 - options_.beta2);
      const at::Tensor denom = (v_[i] / c2).sqrt_().add_(options_.eps);
      p.addcdiv_(m_[i], denom, -options_.lr / c1);
    }
  }

  // Parameters and moments under their names, plus "<prefix>.step".
  void export_to(genlab::sdk::Tensors& state) const {
    for (size_t i = 0; i < params_.size(); ++i) {
      state.add(params_[i].first, params_[i].second.detach());
      state.add(prefix_ + ".m." + params_[i].first, m_[i]);
      state.add(prefix_ + ".v." + params_[i].first, v_[i]);
    }
    state.add(prefix_ + ".step", at::scalar_tensor(steps_, at::kLong));
    if (scaling()) {
      state.add(prefix_ + ".loss_scale", at::scalar_tensor(scale_, at::kDouble));
      state.add(prefix_ + ".good_steps", at::scalar_tensor(good_steps_, at::kLong));
    }
  }

  void import_from(const genlab::sdk::Tensors& state) {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      const std::string& name = params_[i].first;
      copy_checked(params_[i].second, state.at(name), name);
      copy_checked(m_[i], state.at(prefix_ + ".m." + name), prefix_ + ".m." + name);
      copy_checked(v_[i], state.at(prefix_ + ".v." + name), prefix_ + ".v." + name);
    }
    steps_ = state.at(prefix_ + ".step").item<int64_t>();
    if (scaling()) {
      scale_ = state.at(prefix_ + ".loss_scale").item<double>();
      good_steps_ = state.at(prefix_ + ".good_steps").item<int64_t>();
    }
  }

  double loss_scale() const { return scale_; }

 private:
  static void copy_checked(at::Tensor& into, const at::Tensor& from, const std::string& name) {
    GENLAB_CHECK(
        from.sizes() == into.sizes(), GENLAB_ERROR_INVALID_ARGUMENT,
        "state tensor '" + name + "' has shape " + c10::str(from.sizes()) + ", expected " + c10::str(into.sizes()));
    into.detach().copy_(from);
  }

  // fp16 compute: the host of the model whose call runs on this thread says so (the SDK sets
  // it for train_step, export_state and import_state).
  static bool scaling() {
    const genlab::sdk::Host* host = genlab::sdk::detail::current_host();
    return host != nullptr && host->precision() == GENLAB_PRECISION_FP16;
  }
  void unscale() {
    at::NoGradGuard no_grad;
    for (auto& [name, p] : params_)
      if (p.grad().defined()) p.mutable_grad().div_(scale_);
  }
  // One host synchronisation per step, under fp16 only.
  bool gradients_finite() const {
    for (const auto& [name, p] : params_)
      if (p.grad().defined() && !at::isfinite(p.grad()).all().item<bool>()) return false;
    return true;
  }

  static constexpr int64_t kGrowthInterval = 2000;
  double scale_ = 65536.0;  // 2^16, GradScaler's initial scale
  int64_t good_steps_ = 0;  // steps since the scale last changed
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> m_, v_;
  std::vector<at::Tensor> tensors_;  // the parameters again, as average_gradients takes them
  bool averaged_ = false;            // average_gradients() ran since the last step
  Options options_;
  std::string prefix_;
  int64_t steps_ = 0;
};

}  // namespace genlab::sdk
