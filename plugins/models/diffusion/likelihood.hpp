// The likelihood of 8-bit images under the diffusion model's Gaussian decoder (Ho et al.
// 2020, eq. 13): each pixel's probability is its bin's mass under N(mean, scale^2).
#pragma once

#include <torch/torch.h>

#include <cmath>

namespace genlab::plugins::diffusion {

inline torch::Tensor normal_cdf(const torch::Tensor& z) { return 0.5 * torch::erfc(-z / std::sqrt(2.0)); }

// log P(x) of 8-bit data x in [-1, 1] under N(mean, exp(log_scale)^2) integrated over x's bin
// of width 2/255 (the outermost bins reach to -inf and +inf): Ho et al. eq. 13. [B, ...].
inline torch::Tensor discretized_gaussian_log_likelihood(const torch::Tensor& x, const torch::Tensor& mean,
                                                         double log_scale) {
  const double inv = std::exp(-log_scale), half_bin = 1.0 / 255.0;
  const torch::Tensor centered = x - mean;
  const torch::Tensor plus = inv * (centered + half_bin), minus = inv * (centered - half_bin);
  // In the upper tail, 1 - cdf loses every digit in float: take the mirrored difference there.
  const torch::Tensor mass =
      torch::where(centered > 0, normal_cdf(-minus) - normal_cdf(-plus), normal_cdf(plus) - normal_cdf(minus));
  const torch::Tensor lowest = torch::log(normal_cdf(plus).clamp_min(1e-12));
  const torch::Tensor highest = torch::log(normal_cdf(-minus).clamp_min(1e-12));
  return torch::where(x < -0.999, lowest, torch::where(x > 0.999, highest, torch::log(mass.clamp_min(1e-12))));
}

}  // namespace genlab::plugins::diffusion
