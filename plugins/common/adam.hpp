// Adam (Kingma & Ba 2015, Algorithm 1) over a list of named parameters, written out so
// that its moments and step count are part of a model's exported state: a run resumed
// from a checkpoint continues exactly where it stopped. With weight_decay > 0 it is AdamW
// (Loshchilov & Hutter 2019): decay decoupled from the gradient, p <- p (1 - lr wd), and,
// as nanoGPT does, only on tensors of two or more dimensions (matrices and embeddings, not
// biases or norm gains).
//
// When several processes train one run (experiment.processes), step() first averages the
// gradients over them (genlab/sdk/distributed.hpp): the model plugins need no change.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <genlab/sdk/distributed.hpp>
#include <genlab/sdk/plugin.hpp>

namespace genlab::plugins {

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
  void set_lr(double lr) { options_.lr = lr; }  // for a schedule

  void zero_grad() {
    for (auto& [name, p] : params_) p.mutable_grad() = at::Tensor();
    averaged_ = false;
  }

  // Averages the gradients over the processes now instead of in step(): for a model that
  // clips them by their norm, which should be the global batch's, not a shard's.
  void average_gradients() {
    genlab::sdk::average_gradients(tensors_);
    averaged_ = true;
  }

  void step() {
    if (!averaged_) genlab::sdk::average_gradients(tensors_);  // one collective; nothing with one process
    averaged_ = false;
    at::NoGradGuard no_grad;
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
  }

 private:
  static void copy_checked(at::Tensor& into, const at::Tensor& from, const std::string& name) {
    GENLAB_CHECK(from.sizes() == into.sizes(), GENLAB_ERROR_INVALID_ARGUMENT,
                 "state tensor '" + name + "' has shape " + c10::str(from.sizes()) + ", expected " + c10::str(into.sizes()));
    into.detach().copy_(from);
  }

  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> m_, v_;
  std::vector<at::Tensor> tensors_;  // the parameters again, as average_gradients takes them
  bool averaged_ = false;            // average_gradients() ran since the last step
  Options options_;
  std::string prefix_;
  int64_t steps_ = 0;
};

}  // namespace genlab::plugins
