// k-nearest-neighbour balls in feature space, the manifold estimate of Kynkaanniemi et al.
// 2019 and Naeem et al. 2020. Pairwise distances are computed a chunk of rows at a time, so
// 10^4 x 10^4 examples never hold an N x N matrix in memory.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include <genlab/sdk/plugin.hpp>

namespace genlab::metrics {

constexpr int64_t kChunkRows = 1024;

// Calls fn(first_row, distances [rows, y.size(0)]) for successive chunks of x's rows.
template <class Fn>
void for_each_distance_chunk(const at::Tensor& x, const at::Tensor& y, Fn&& fn) {
  for (int64_t start = 0; start < x.size(0); start += kChunkRows) {
    const int64_t rows = std::min(kChunkRows, x.size(0) - start);
    fn(start, at::cdist(x.narrow(0, start, rows), y));
  }
}

// The distance of each row of x [N, D] to its k-th nearest other row of x: [N].
inline at::Tensor knn_radii(const at::Tensor& x, int64_t k, const std::string& side) {
  GENLAB_CHECK(x.size(0) > k, GENLAB_ERROR_INVALID_ARGUMENT,
               "expected more than k = " + std::to_string(k) + " " + side + " examples for k-NN radii, got " +
                   std::to_string(x.size(0)));
  at::Tensor radii = at::empty({x.size(0)}, x.options());
  for_each_distance_chunk(x, x, [&](int64_t start, const at::Tensor& d) {
    // The k + 1 smallest distances of a row include its own, 0.
    radii.narrow(0, start, d.size(0)).copy_(std::get<0>(d.topk(k + 1, 1, false, true)).select(1, k));
  });
  return radii;
}

// For each row of `points` [Q, D]: how many balls (centers[i], radii[i]) contain it: int64 [Q].
inline at::Tensor balls_containing(const at::Tensor& points, const at::Tensor& centers, const at::Tensor& radii) {
  at::Tensor counts = at::empty({points.size(0)}, points.options().dtype(at::kLong));
  for_each_distance_chunk(points, centers, [&](int64_t start, const at::Tensor& d) {
    counts.narrow(0, start, d.size(0)).copy_((d <= radii.unsqueeze(0)).sum(1));
  });
  return counts;
}

// For each row of `points`: whether at least one ball contains it: bool [Q].
inline at::Tensor inside_any_ball(const at::Tensor& points, const at::Tensor& centers, const at::Tensor& radii) {
  return balls_containing(points, centers, radii) > 0;
}

// The distance of each row of x to its nearest row of y: [N].
inline at::Tensor nearest_distance(const at::Tensor& x, const at::Tensor& y) {
  at::Tensor out = at::empty({x.size(0)}, x.options());
  for_each_distance_chunk(
      x, y, [&](int64_t start, const at::Tensor& d) { out.narrow(0, start, d.size(0)).copy_(std::get<0>(d.min(1))); });
  return out;
}

// The share of true values of a bool tensor, as a double.
inline double share(const at::Tensor& mask) { return mask.to(at::kDouble).mean().item<double>(); }

}  // namespace genlab::metrics
