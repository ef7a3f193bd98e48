// Where a NeRF evaluates its field along a ray: stratified distances between the near and
// far planes (Mildenhall et al. 2020, eq. 2), importance samples from a coarse pass's weights
// by inverse transform sampling (section 5.2), and the segment lengths of the quadrature.
//
// Legend: R rays, S samples per ray, B bins (B + 1 edges), N new samples.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace genlab::nerf {

// [R, S] distances in [near, far]: [near, far] cut into S equal bins, one sample per bin, at
// a uniform random place in it when `perturb` (training), at its midpoint otherwise
// (rendering: the same view renders the same twice). `generator` may be undefined: then the
// global CPU generator (or the device's) draws.
inline at::Tensor stratified_samples(int64_t rays, int64_t samples, double near, double far, bool perturb,
                                     const at::TensorOptions& options,
                                     c10::optional<at::Generator> generator = c10::nullopt) {
  const at::Tensor lower = at::linspace(near, far, samples + 1, options).slice(0, 0, samples);  // [S]
  const double width = (far - near) / static_cast<double>(samples);
  if (!perturb) return (lower + 0.5 * width).unsqueeze(0).expand({rays, samples}).contiguous();
  return lower.unsqueeze(0) + width * at::rand({rays, samples}, generator, options);
}

// [R, N] sorted distances drawn from the piecewise-constant density over the bins with edges
// `bins` [R, B + 1] and masses `weights` [R, B] (not necessarily normalised), by inverse
// transform sampling: u in [0, 1) is mapped through the inverse of the CDF, linearly within
// a bin. `deterministic` takes u evenly spaced over [0, 1] (rendering) instead of uniform
// draws. Weights are detached (the importance samples are not differentiated through) and
// get 1e-5 added, so a ray whose coarse weights are all zero samples its bins uniformly.
// The samples come back sorted along each ray.
inline at::Tensor sample_pdf(const at::Tensor& bins, const at::Tensor& weights, int64_t n, bool deterministic,
                             c10::optional<at::Generator> generator = c10::nullopt) {
  TORCH_CHECK(
      bins.dim() == 2 && weights.dim() == 2 && bins.size(0) == weights.size(0) && bins.size(1) == weights.size(1) + 1,
      "sample_pdf expects bins [R, B + 1] and weights [R, B], got ", bins.sizes(), " and ", weights.sizes());
  const int64_t rays = weights.size(0), count = weights.size(1);
  const at::Tensor w = weights.detach() + 1e-5;
  const at::Tensor pdf = w / w.sum(-1, true);
  // The CDF at every edge, from exactly 0 to 1 (the last pinned: a float sum may end at 0.9999).
  at::Tensor cdf = at::cat({at::zeros({rays, 1}, pdf.options()), at::cumsum(pdf, -1)}, -1);
  cdf.select(1, count).fill_(1.0);
  // Sorted u give sorted samples (the inverse CDF is monotone).
  const at::Tensor u = deterministic
                           ? at::linspace(0.0, 1.0, n, pdf.options()).unsqueeze(0).expand({rays, n}).contiguous()
                           : std::get<0>(at::rand({rays, n}, generator, pdf.options()).sort(-1));
  // The bin of each u: the last edge whose CDF is <= u.
  const at::Tensor above = at::searchsorted(cdf, u, /*out_int32=*/false, /*right=*/true).clamp(1, count);
  const at::Tensor below = above - 1;
  const at::Tensor cdf_below = cdf.gather(1, below), cdf_above = cdf.gather(1, above);
  const at::Tensor bin_below = bins.detach().gather(1, below), bin_above = bins.detach().gather(1, above);
  const at::Tensor mass = cdf_above - cdf_below;
  const at::Tensor fraction = (u - cdf_below) / at::where(mass < 1e-5, at::ones_like(mass), mass);
  return bin_below + fraction.clamp(0, 1) * (bin_above - bin_below);
}

// [R, S] lengths of the segments of sorted distances `ts` [R, S] in [near, far]: t_{i+1} - t_i,
// and for the last sample the rest of the way to the far plane. What a ray has not absorbed
// by then is the background's. (The paper gives the last segment 1e10, so any density at
// the last sample makes the ray opaque; a field whose density is exp(raw) > 0 then cannot
// learn empty space: its gradient at the last sample vanishes, and training settles into a
// fog of background colour. Directions are unit vectors, so these are world distances.)
inline at::Tensor deltas_from_ts(const at::Tensor& ts, double far) {
  const int64_t samples = ts.size(-1);
  const at::Tensor last = ts.slice(-1, samples - 1, samples);
  return at::cat({ts.slice(-1, 1, samples) - ts.slice(-1, 0, samples - 1), (far - last).clamp_min(0)}, -1);
}

}  // namespace genlab::nerf
