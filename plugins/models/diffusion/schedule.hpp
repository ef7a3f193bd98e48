// The fixed forward process of a diffusion model and the closed forms derived from it
// (Ho et al. 2020, section 2 and eqs. 4, 6, 7). Timesteps are 0-based here: index t is the
// paper's step t + 1.
//   q(x_t | x_0)          = N(sqrt(abar_t) x_0, (1 - abar_t) I)
//   q(x_{t-1} | x_t, x_0) = N(c0_t x_0 + ct_t x_t, beta~_t I),
//     c0_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t), ct_t = sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t),
//     beta~_t = (1 - abar_{t-1}) beta_t / (1 - abar_t)
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include <genlab/sdk/plugin.hpp>

namespace genlab::plugins::diffusion {

// Betas of the "linear" schedule of Ho et al. (1e-4 to 0.02 over 1000 steps, scaled to
// keep the same total noise for other step counts, as Nichol & Dhariwal 2021 do) or the
// "cosine" schedule of Nichol & Dhariwal (2021), eq. 17, s = 0.008, betas capped at 0.999.
inline std::vector<double> make_betas(const std::string& schedule, int64_t steps) {
  std::vector<double> betas(static_cast<size_t>(steps));
  if (schedule == "linear") {
    const double scale = 1000.0 / static_cast<double>(steps), start = scale * 1e-4, end = scale * 0.02;
    // A beta of 1 or more wipes out the signal (and its log is NaN): the scaling needs T > 20.
    GENLAB_CHECK(end < 1, GENLAB_ERROR_INVALID_ARGUMENT,
                 "timesteps " + std::to_string(steps) + " is too few for the linear schedule: its last beta would be " +
                     std::to_string(end) + " (>= 1); use timesteps >= 21 or schedule = \"cosine\"");
    for (int64_t t = 0; t < steps; ++t)
      betas[t] = steps == 1 ? start : start + (end - start) * static_cast<double>(t) / static_cast<double>(steps - 1);
  } else if (schedule == "cosine") {
    const double s = 0.008;
    auto f = [&](double t) { return std::pow(std::cos((t / static_cast<double>(steps) + s) / (1 + s) * M_PI / 2), 2); };
    for (int64_t t = 0; t < steps; ++t) betas[t] = std::min(1 - f(t + 1.0) / f(static_cast<double>(t)), 0.999);
  } else {
    throw genlab::sdk::Error(GENLAB_ERROR_INVALID_ARGUMENT,
                             "expected schedule \"linear\" or \"cosine\", got \"" + schedule + "\"");
  }
  return betas;
}

struct Schedule {
  // `variance` is the reverse process's fixed sigma_t^2: "posterior" (beta~_t) or "beta" (beta_t).
  Schedule(const std::string& schedule, int64_t steps, const std::string& variance, const torch::Device& device)
      : steps(steps) {
    const std::vector<double> b = make_betas(schedule, steps);
    std::vector<double> abar(b.size()), abar_prev(b.size()), c0(b.size()), ct(b.size()), post(b.size()), sig(b.size());
    double running = 1;
    for (size_t t = 0; t < b.size(); ++t) {
      abar_prev[t] = running;
      running *= 1 - b[t];
      abar[t] = running;
      c0[t] = std::sqrt(abar_prev[t]) * b[t] / (1 - abar[t]);
      ct[t] = std::sqrt(1 - b[t]) * (1 - abar_prev[t]) / (1 - abar[t]);
      post[t] = (1 - abar_prev[t]) * b[t] / (1 - abar[t]);
    }
    for (size_t t = 0; t < b.size(); ++t) {
      // beta~_0 is 0: step 0's decoder variance takes beta~_1 (as Nichol & Dhariwal clip it).
      sig[t] = variance == "beta" ? b[t] : (t == 0 && b.size() > 1 ? post[1] : post[t]);
    }
    auto tensor = [&](const std::vector<double>& v) {
      return torch::tensor(v, torch::kDouble).to(device, torch::kFloat);
    };
    betas = tensor(b);
    alphas_bar = tensor(abar);
    alphas_bar_prev = tensor(abar_prev);
    posterior_x0 = tensor(c0);
    posterior_xt = tensor(ct);
    posterior_variance = tensor(post);
    sigma2 = tensor(sig);
    host_alphas_bar = abar;
  }

  // Picks per-example values of a [T] table at t [B] shaped to broadcast over `like` [B, ...].
  static torch::Tensor at(const torch::Tensor& table, const torch::Tensor& t, const torch::Tensor& like) {
    std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
    shape[0] = -1;
    return table.index_select(0, t).view(shape);
  }

  // x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise: a draw from q(x_t | x_0).
  torch::Tensor noised(const torch::Tensor& x0, const torch::Tensor& t, const torch::Tensor& noise) const {
    const torch::Tensor ab = at(alphas_bar, t, x0);
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise;
  }

  // The mean of q(x_{t-1} | x_t, x_0).
  torch::Tensor posterior_mean(const torch::Tensor& x0, const torch::Tensor& xt, const torch::Tensor& t) const {
    return at(posterior_x0, t, x0) * x0 + at(posterior_xt, t, x0) * xt;
  }

  int64_t steps;
  torch::Tensor betas, alphas_bar, alphas_bar_prev, posterior_x0, posterior_xt, posterior_variance, sigma2;  // [T]
  std::vector<double> host_alphas_bar;
};

}  // namespace genlab::plugins::diffusion
