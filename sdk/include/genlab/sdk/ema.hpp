// genlab/sdk/ema.hpp — an exponential moving average of a model's weights (Polyak
// averaging), part of the exported state so that a resumed run samples as an uninterrupted
// one would.
//
// Each averaged tensor follows one trained tensor: after the optimiser's n-th update,
//   average = d * average + (1 - d) * trained,  d = min(decay, (1 + n) / (10 + n)),
// the warm-up keeping the first averages close to the young weights. decay 0 keeps the
// average equal to the trained weights. The averages start as copies of the trained ones.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <genlab/sdk/plugin.hpp>

namespace genlab::sdk {

class Ema {
 public:
  struct Pair {
    std::string name;    // in the state: "<prefix>.<name>"
    at::Tensor average;  // updated in place (e.g. the parameters of a copy of the network)
    at::Tensor trained;  // read only
  };

  Ema(std::vector<Pair> pairs, double decay, std::string prefix = "ema")
      : pairs_(std::move(pairs)), decay_(decay), prefix_(std::move(prefix)) {
    GENLAB_CHECK(decay_ >= 0 && decay_ < 1, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected 0 <= EMA decay < 1, got " + std::to_string(decay_));
    at::NoGradGuard no_grad;
    for (auto& p : pairs_) {
      GENLAB_CHECK(p.average.sizes() == p.trained.sizes(), GENLAB_ERROR_INVALID_ARGUMENT,
                   "EMA of '" + p.name + "': the average and the trained tensor differ in shape");
      p.average.copy_(p.trained);
    }
  }

  // After the optimiser's `updates`-th update (Adam::steps()).
  void update(int64_t updates) {
    at::NoGradGuard no_grad;
    const double n = static_cast<double>(updates);
    const double d = std::min(decay_, (1 + n) / (10 + n));
    for (auto& p : pairs_) p.average.mul_(d).add_(p.trained.detach(), 1 - d);
  }

  void export_to(Tensors& state) const {
    for (const auto& p : pairs_) state.add(prefix_ + "." + p.name, p.average.detach());
  }

  // Throws INVALID_ARGUMENT naming the tensor when one is missing or of another shape.
  void import_from(const Tensors& state) {
    at::NoGradGuard no_grad;
    for (auto& p : pairs_) {
      const std::string name = prefix_ + "." + p.name;
      const at::Tensor& from = state.at(name);
      GENLAB_CHECK(from.sizes() == p.average.sizes(), GENLAB_ERROR_INVALID_ARGUMENT,
                   "state tensor '" + name + "' has shape " + c10::str(from.sizes()) + ", expected " +
                       c10::str(p.average.sizes()));
      p.average.copy_(from);
    }
  }

 private:
  std::vector<Pair> pairs_;
  double decay_;
  std::string prefix_;
};

}  // namespace genlab::sdk
