// Input encodings of a radiance field: the frequency (positional) encoding of Mildenhall et
// al. (2020, eq. 4), the multiresolution hash encoding of Müller et al. (2022, "Instant
// Neural Graphics Primitives", section 3) and real spherical harmonics up to degree 4 for
// view directions (as Instant-NGP encodes them).
//
// Legend: N points, D input dimensions, F frequencies (frequency encoding) or features per
// level (hash grid), L levels, T table rows per level.
#pragma once

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <genlab/sdk/error.hpp>

namespace genlab::nerf {

// ------------------------------------------------------------------ frequency encoding

// The width of frequency_encoding's output for D-dimensional inputs.
inline int64_t frequency_encoding_size(int64_t dims, int64_t freqs) { return dims * (1 + 2 * freqs); }

// [N, D] -> [N, D (1 + 2F)]: x itself, then sin(2^k pi x) for k < F, then cos(2^k pi x)
// (the paper's gamma(p) with the identity kept, as its code does; grouped by function
// rather than interleaved, which only permutes the first layer's inputs).
inline at::Tensor frequency_encoding(const at::Tensor& x, int64_t freqs) {
  if (freqs == 0) return x;
  const at::Tensor scales = at::pow(2.0, at::arange(freqs, x.options())).mul_(M_PI);  // [F]
  const at::Tensor scaled = (x.unsqueeze(-2) * scales.unsqueeze(-1)).flatten(-2);     // [N, F D]
  return at::cat({x, at::sin(scaled), at::cos(scaled)}, -1);
}

// ------------------------------------------------------------------ spherical harmonics

constexpr int64_t kShCoefficients = 16;  // degrees 0 to 3 (l < 4), "degree 4" in Instant-NGP's count

// [N, 3] unit directions -> [N, 16]: the real spherical harmonics Y_l^m for l < 4, in the
// usual order (m from -l to l) and sign convention of the graphics literature.
inline at::Tensor spherical_harmonics(const at::Tensor& dirs) {
  const at::Tensor x = dirs.select(-1, 0), y = dirs.select(-1, 1), z = dirs.select(-1, 2);
  const at::Tensor xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
  return at::stack(
      {at::full_like(x, 0.28209479177387814),                                     // l = 0
       -0.4886025119029199 * y, 0.4886025119029199 * z, -0.4886025119029199 * x,  // l = 1
       1.0925484305920792 * xy, -1.0925484305920792 * yz, 0.31539156525252005 * (3 * zz - 1), -1.0925484305920792 * xz,
       0.5462742152960396 * (xx - yy),  // l = 2
       -0.5900435899266435 * y * (3 * xx - yy), 2.890611442640554 * xy * z, -0.4570457994644658 * y * (5 * zz - 1),
       0.3731763325901154 * z * (5 * zz - 3), -0.4570457994644658 * x * (5 * zz - 1), 1.445305721320277 * z * (xx - yy),
       -0.5900435899266435 * x * (xx - 3 * yy)},  // l = 3
      -1);
}

// ------------------------------------------------------------------ hash encoding

struct HashGridOptions {
  int64_t levels = 16;            // L
  int64_t features = 2;           // F per level
  int64_t log2_table = 19;        // T = 2^log2_table rows per level
  int64_t base_resolution = 16;   // N_min
  int64_t max_resolution = 1024;  // N_max
  bool fused = true;              // the hand-written CPU kernel (HashEncodeCpu) where it applies
};

// The spatial hash's primes (Teschner et al. 2003, as Instant-NGP uses them; x's is 1).
constexpr uint32_t kHashPrimeY = 2654435761u, kHashPrimeZ = 805459861u;

// One level's lattice, as the CPU kernel reads it.
struct LevelLattice {
  float resolution;  // N_l
  int64_t side;      // N_l + 1 vertices per axis
  bool dense;        // (N_l + 1)^3 <= T: direct indexing, else the hash
  int64_t offset;    // l T, the level's first row in the flattened table
  int64_t mask;      // T - 1
};

// The 8 vertices of the cell of `level` around one point: their table rows and trilinear
// weights. Vertex c = 4 i + 2 j + k is the lower vertex + (i, j, k). The float steps are
// those of HashGridImpl::forward_aten, in the same order, so the two paths look up the same
// rows with the same weights. (The position is clamped to [0, 1], so truncation is floor.)
struct CellCorners {
  int64_t rows[8];
  float weights[8];
};
[[gnu::always_inline]] inline void cell_corners(const float* position, const LevelLattice& level, CellCorners& out) {
  int64_t lower[3];
  float upper_weight[3], lower_weight[3];
  for (int d = 0; d < 3; ++d) {
    const float scaled = std::min(std::max(position[d], 0.0f), 1.0f) * level.resolution;
    const float floor = std::min(static_cast<float>(static_cast<int64_t>(scaled)), level.resolution - 1);
    lower[d] = static_cast<int64_t>(floor);
    upper_weight[d] = scaled - floor;
    lower_weight[d] = 1 - upper_weight[d];
  }
  for (int c = 0; c < 8; ++c) {
    const int i = (c >> 2) & 1, j = (c >> 1) & 1, k = c & 1;
    const int64_t x = lower[0] + i, y = lower[1] + j, z = lower[2] + k;
    const int64_t index =
        level.dense ? x + (y + z * level.side) * level.side
                    : static_cast<int64_t>(static_cast<uint32_t>(x) ^ (static_cast<uint32_t>(y) * kHashPrimeY) ^
                                           (static_cast<uint32_t>(z) * kHashPrimeZ)) &
                          level.mask;
    out.rows[c] = level.offset + index;
    out.weights[c] = (i ? upper_weight[0] : lower_weight[0]) * (j ? upper_weight[1] : lower_weight[1]) *
                     (k ? upper_weight[2] : lower_weight[2]);
  }
}

// The loops of HashEncodeCpu, with the feature count F a constant where it is a common one
// (the per-corner loop then unrolls). Points go in blocks, and within a block level by level:
// a level's table stays in cache while the block's points (neighbours along their rays)
// read it.
template <int64_t kF>
void hash_encode_forward(const float* table, const float* points, const std::vector<LevelLattice>& levels, int64_t F,
                         int64_t N, float* out) {
  constexpr int64_t kBlock = 64;
  const int64_t L = static_cast<int64_t>(levels.size()), features = kF > 0 ? kF : F;
  at::parallel_for(0, N, 256, [&](int64_t begin, int64_t end) {
    CellCorners cells[kBlock];
    for (int64_t block = begin; block < end; block += kBlock) {
      const int64_t count = std::min(end - block, kBlock);
      for (int64_t l = 0; l < L; ++l) {
        // First every cell of the block, with its rows prefetched, then the reads: the
        // loads of many points are in flight at once instead of one point's at a time.
        for (int64_t i = 0; i < count; ++i) {
          cell_corners(points + 3 * (block + i), levels[l], cells[i]);
          for (int c = 0; c < 8; ++c) __builtin_prefetch(table + cells[i].rows[c] * features);
        }
        for (int64_t i = 0; i < count; ++i) {
          const CellCorners& cell = cells[i];
          float* o = out + ((block + i) * L + l) * features;
          if (kF > 0) {
            float acc[kF > 0 ? kF : 1] = {};
            for (int c = 0; c < 8; ++c)
              for (int64_t f = 0; f < kF; ++f) acc[f] += cell.weights[c] * table[cell.rows[c] * kF + f];
            for (int64_t f = 0; f < kF; ++f) o[f] = acc[f];
          } else {
            for (int64_t f = 0; f < features; ++f) o[f] = 0;
            for (int c = 0; c < 8; ++c)
              for (int64_t f = 0; f < features; ++f) o[f] += cell.weights[c] * table[cell.rows[c] * features + f];
          }
        }
      }
    }
  });
}

template <int64_t kF>
void hash_encode_backward(const float* grad, const float* points, const std::vector<LevelLattice>& levels, int64_t F,
                          int64_t N, float* grad_table) {
  constexpr int64_t kBlock = 64;
  const int64_t L = static_cast<int64_t>(levels.size()), features = kF > 0 ? kF : F;
  // One thread per group of levels: the rows of level l lie in [l T, (l + 1) T), so threads
  // never write the same row and need no atomics.
  at::parallel_for(0, L, 1, [&](int64_t first, int64_t last) {
    CellCorners cells[kBlock];
    for (int64_t l = first; l < last; ++l)
      for (int64_t block = 0; block < N; block += kBlock) {
        const int64_t count = std::min(N - block, kBlock);
        for (int64_t i = 0; i < count; ++i) {  // as in the forward: addresses first, prefetched
          cell_corners(points + 3 * (block + i), levels[l], cells[i]);
          for (int c = 0; c < 8; ++c) __builtin_prefetch(grad_table + cells[i].rows[c] * features, 1);
        }
        for (int64_t i = 0; i < count; ++i) {
          const float* g = grad + ((block + i) * L + l) * features;
          for (int c = 0; c < 8; ++c) {
            float* row = grad_table + cells[i].rows[c] * features;
            for (int64_t f = 0; f < features; ++f) row[f] += cells[i].weights[c] * g[f];
          }
        }
      }
  });
}

// The whole encoding as one pass over the points on the CPU: per point and level the cell's
// rows and weights (cell_corners), the 8 rows read and blended, nothing of size [N, L, 8]
// ever stored. table [L T, F], positions [N, 3] in [0, 1] (clamped), `levels` [L, 2] int64
// (resolution, dense) -> [N, L, F]. Its backward recomputes the corners and scatters into
// the table, one thread per group of levels. (The ATen path stores [N, L, 8] indices and
// weights, ~100 bytes per point and level, and its gather's backward, index_add_ over rows,
// is serial.) Positions get no gradient: rays are data.
class HashEncodeCpu : public torch::autograd::Function<HashEncodeCpu> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& table, const at::Tensor& positions,
                            const at::Tensor& levels) {
    TORCH_CHECK(
        table.device().is_cpu() && table.scalar_type() == at::kFloat && table.is_contiguous() &&
            positions.device().is_cpu() && positions.scalar_type() == at::kFloat && positions.dim() == 2 &&
            positions.size(1) == 3 && levels.scalar_type() == at::kLong && levels.dim() == 2 && levels.size(1) == 2,
        "HashEncodeCpu expects a contiguous float32 CPU table, float32 CPU positions [N, 3] and int64 levels [L, 2]");
    const at::Tensor points = positions.contiguous();
    ctx->save_for_backward({points, levels});
    ctx->saved_data["table_rows"] = table.size(0);
    const int64_t N = points.size(0), L = levels.size(0), F = table.size(1);
    at::Tensor out = at::empty({N, L, F}, table.options());
    const auto lattice = lattices(levels, table.size(0) / L);
    if (F == 2)
      hash_encode_forward<2>(table.data_ptr<float>(), points.data_ptr<float>(), lattice, F, N, out.data_ptr<float>());
    else
      hash_encode_forward<0>(table.data_ptr<float>(), points.data_ptr<float>(), lattice, F, N, out.data_ptr<float>());
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& points = saved[0];
    const at::Tensor& levels = saved[1];
    const at::Tensor grad = grads[0].contiguous();
    const int64_t N = points.size(0), L = levels.size(0), F = grad.size(2),
                  rows = ctx->saved_data["table_rows"].toInt();
    at::Tensor grad_table = at::zeros({rows, F}, grad.options());
    const auto lattice = lattices(levels, rows / L);
    if (F == 2)
      hash_encode_backward<2>(grad.data_ptr<float>(), points.data_ptr<float>(), lattice, F, N,
                              grad_table.data_ptr<float>());
    else
      hash_encode_backward<0>(grad.data_ptr<float>(), points.data_ptr<float>(), lattice, F, N,
                              grad_table.data_ptr<float>());
    return {grad_table, at::Tensor(), at::Tensor()};
  }

 private:
  static std::vector<LevelLattice> lattices(const at::Tensor& levels, int64_t table_size) {
    std::vector<LevelLattice> out;
    const int64_t* data = levels.data_ptr<int64_t>();
    for (int64_t l = 0; l < levels.size(0); ++l)
      out.push_back(
          {static_cast<float>(data[2 * l]), data[2 * l] + 1, data[2 * l + 1] != 0, l * table_size, table_size - 1});
    return out;
  }
};

// The multiresolution hash encoding: positions in [0, 1]^3 -> [N, L F] features. Level l has
// resolution N_l = floor(N_min b^l), b = exp((ln N_max - ln N_min) / (L - 1)) (the paper's
// eq. 2-3), and a table of T rows of F features, initialised U(-1e-4, 1e-4). A point's 8
// surrounding vertices of level l are looked up directly when the level's (N_l + 1)^3
// vertices fit in T rows, else through the spatial hash (x * 1) xor (y * 2654435761) xor
// (z * 805459861) mod T (eq. 4, in uint32 arithmetic as Instant-NGP), and blended
// trilinearly. Two paths: HashEncodeCpu, one fused pass per point on the CPU; and, on any
// device, forward_aten: all levels indexed at once as one int64 tensor of corner rows
// [N, L, 8] into the flattened [L T, F] table, one gather, one weight tensor.
struct HashGridImpl : torch::nn::Module {
  explicit HashGridImpl(const HashGridOptions& o) : options(o) {
    GENLAB_CHECK(o.levels > 0 && o.features > 0 && o.base_resolution > 0 && o.max_resolution >= o.base_resolution,
                 GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected levels > 0, features > 0 and 0 < base_resolution <= max_resolution, got levels " +
                     std::to_string(o.levels) + ", features " + std::to_string(o.features) + ", resolutions " +
                     std::to_string(o.base_resolution) + " to " + std::to_string(o.max_resolution));
    GENLAB_CHECK(o.log2_table >= 4 && o.log2_table <= 24, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected 4 <= log2_table <= 24, got " + std::to_string(o.log2_table));
    table_size = int64_t{1} << o.log2_table;
    const double growth = o.levels > 1 ? std::exp((std::log(static_cast<double>(o.max_resolution)) -
                                                   std::log(static_cast<double>(o.base_resolution))) /
                                                  static_cast<double>(o.levels - 1))
                                       : 1.0;
    std::vector<float> res;
    std::vector<int64_t> multipliers, level_rows;
    for (int64_t l = 0; l < o.levels; ++l) {
      // The small epsilon keeps floor(16 * b^l) from landing one below an exact integer.
      const int64_t r = static_cast<int64_t>(
          std::floor(static_cast<double>(o.base_resolution) * std::pow(growth, static_cast<double>(l)) + 1e-6));
      res.push_back(static_cast<float>(r));
      const int64_t side = r + 1;
      const bool dense = side * side * side <= table_size;
      if (dense) {
        ++dense_levels;  // resolutions grow, so the dense levels are the first ones
        multipliers.insert(multipliers.end(), {1, side, side * side});
      } else {
        multipliers.insert(multipliers.end(), {1, kHashPrimeY, kHashPrimeZ});
      }
      level_rows.insert(level_rows.end(), {r, dense ? 1 : 0});
    }
    levels = torch::tensor(level_rows, torch::kLong).view({o.levels, 2});  // for HashEncodeCpu; stays on the CPU
    table = register_parameter("table", torch::empty({o.levels * table_size, o.features}).uniform_(-1e-4, 1e-4));
    // Constants of forward_aten, as buffers so that to(device) moves them (not parameters:
    // they are not trained nor exported).
    resolution = register_buffer("resolution", torch::tensor(res).view({1, o.levels, 1}));
    multiplier = register_buffer("multiplier", torch::tensor(multipliers, torch::kLong).view({1, o.levels, 3}));
    level_offset =
        register_buffer("level_offset", (torch::arange(o.levels, torch::kLong) * table_size).view({1, o.levels, 1}));
  }

  int64_t output_size() const { return options.levels * options.features; }

  // [N, 3] in [0, 1]^3 (values outside are clamped) -> [N, L F].
  at::Tensor forward(const at::Tensor& unit_positions) {
    const int64_t N = unit_positions.size(0);
    if (options.fused && table.device().is_cpu() && table.scalar_type() == at::kFloat &&
        unit_positions.scalar_type() == at::kFloat)
      return HashEncodeCpu::apply(table, unit_positions, levels).view({N, output_size()});
    return forward_aten(unit_positions);
  }

  at::Tensor forward_aten(const at::Tensor& unit_positions) {
    const int64_t points = unit_positions.size(0), L = options.levels;
    const at::Tensor scaled = unit_positions.clamp(0, 1).unsqueeze(1) * resolution;  // [N, L, 3]
    const at::Tensor lower = at::minimum(scaled.floor(), resolution - 1);            // the cell's lowest vertex
    const at::Tensor frac = scaled - lower;                                          // in [0, 1]
    const at::Tensor low = lower.to(at::kLong) * multiplier;                         // [N, L, 3]
    const at::Tensor high = low + multiplier;                                        // the vertex + 1 on each axis
    // Per axis the two vertex terms [N, L, 2], then all 8 corners [N, L, 2, 2, 2] by
    // broadcasting: corner (i, j, k) combines x's i-th, y's j-th and z's k-th term.
    auto axis = [&](const at::Tensor& t, int64_t d) { return t.select(2, d); };
    auto pair = [&](int64_t d) { return at::stack({axis(low, d), axis(high, d)}, -1); };
    const at::Tensor px = pair(0).view({points, L, 2, 1, 1}), py = pair(1).view({points, L, 1, 2, 1}),
                     pz = pair(2).view({points, L, 1, 1, 2});
    std::vector<at::Tensor> parts;
    if (dense_levels > 0) {
      auto lv = [&](const at::Tensor& t) { return t.slice(1, 0, dense_levels); };
      parts.push_back(lv(px) + lv(py) + lv(pz));
    }
    if (dense_levels < L) {  // int64 products: their low 32 bits are the uint32 hash's
      auto lv = [&](const at::Tensor& t) { return t.slice(1, dense_levels, L); };
      parts.push_back(at::bitwise_xor(at::bitwise_xor(lv(px), lv(py)), lv(pz)).bitwise_and_(table_size - 1));
    }
    const at::Tensor rows =
        ((parts.size() == 1 ? parts[0] : at::cat(parts, 1)).view({points, L, 8}) + level_offset).contiguous();
    // The trilinear weights the same way: (1 - f, f) per axis, multiplied out.
    const at::Tensor one_minus = 1 - frac;
    auto weight_pair = [&](int64_t d) { return at::stack({axis(one_minus, d), axis(frac, d)}, -1); };
    const at::Tensor weights = (weight_pair(0).view({points, L, 2, 1, 1}) * weight_pair(1).view({points, L, 1, 2, 1}) *
                                weight_pair(2).view({points, L, 1, 1, 2}))
                                   .view({points, L, 8});
    const at::Tensor features =
        (table.index_select(0, rows.view(-1)).view({points, L, 8, options.features}) * weights.unsqueeze(-1)).sum(2);
    return features.reshape({points, L * options.features});
  }

  HashGridOptions options;
  int64_t table_size = 0;
  int64_t dense_levels = 0;
  at::Tensor table, resolution, multiplier, level_offset;
  at::Tensor levels;  // [L, 2] int64 on the CPU: resolution, dense
};
TORCH_MODULE(HashGrid);

}  // namespace genlab::nerf
