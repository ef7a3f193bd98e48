// The radiance fields of the NeRF model: what maps points and view directions to density
// and colour. The MLP of Mildenhall et al. (2020, Fig. 7) on frequency-encoded inputs, and
// Instant-NGP's hash grid with small MLPs (Müller et al. 2022). Legend: R rays, S samples
// per ray.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include <genlab/rendering/encoding.hpp>

namespace genlab::nerf {

// The MLP field's shape: layers, width, the layer after which the input is fed again, and
// the frequencies of the position and direction encodings.
struct MlpShape {
  int64_t depth = 8, width = 256, skip = 4;
  int64_t freqs_xyz = 10, freqs_dir = 4;
};

// The hash field's shape: the grid, the half-size of the cube it covers, the MLPs' width.
struct HashShape {
  HashGridOptions grid;
  double bound = 1.5;
  int64_t hash_width = 64;
};

// What a field returns for points [R, S, 3] seen along directions [R, 3].
struct FieldOutput {
  at::Tensor sigmas;  // [R, S], >= 0
  at::Tensor rgbs;    // [R, S, 3], in [0, 1]
};

class Field : public torch::nn::Module {
 public:
  virtual FieldOutput query(const at::Tensor& points, const at::Tensor& directions) = 0;
};

// The MLP of the paper (its Fig. 7), on frequency-encoded inputs.
class MlpField final : public Field {
 public:
  explicit MlpField(const MlpShape& o) : o_(o) {
    const int64_t in_xyz = frequency_encoding_size(3, o.freqs_xyz), in_dir = frequency_encoding_size(3, o.freqs_dir);
    for (int64_t i = 0; i < o.depth; ++i) {
      const int64_t in = i == 0 ? in_xyz : (i == o.skip + 1 ? o.width + in_xyz : o.width);
      layers_.push_back(register_module("layer" + std::to_string(i), torch::nn::Linear(in, o.width)));
    }
    sigma_ = register_module("sigma", torch::nn::Linear(o.width, 1));
    feature_ = register_module("feature", torch::nn::Linear(o.width, o.width));
    view_ = register_module("view", torch::nn::Linear(o.width + in_dir, o.width / 2));
    rgb_ = register_module("rgb", torch::nn::Linear(o.width / 2, 3));
  }

  FieldOutput query(const at::Tensor& points, const at::Tensor& directions) override {
    const int64_t R = points.size(0), S = points.size(1);
    const at::Tensor x = frequency_encoding(points.reshape({R * S, 3}), o_.freqs_xyz);
    at::Tensor h = x;
    for (int64_t i = 0; i < o_.depth; ++i) {
      h = layers_[i](h).relu_();  // in place: a Linear's backward does not need its output
      if (i == o_.skip && i + 1 < o_.depth) h = torch::cat({x, h}, -1);
    }
    const at::Tensor sigma = torch::relu(sigma_(h)).view({R, S});
    // The view layer on [feature, encoded direction], split: W [f; d] + b = W_f f + (W_d d + b),
    // the direction's part once per ray and broadcast over its samples (not S copies of it).
    const at::Tensor d = frequency_encoding(directions, o_.freqs_dir);  // [R, E]
    const at::Tensor w_feature = view_->weight.slice(1, 0, o_.width), w_direction = view_->weight.slice(1, o_.width);
    const at::Tensor per_ray = torch::linear(d, w_direction, view_->bias).unsqueeze(1);   // [R, 1, W/2]
    const at::Tensor per_point = torch::linear(feature_(h), w_feature).view({R, S, -1});  // [R, S, W/2]
    const at::Tensor v = (per_point + per_ray).relu_();
    return {sigma, torch::sigmoid(rgb_(v)).view({R, S, 3})};
  }

 private:
  MlpShape o_;
  std::vector<torch::nn::Linear> layers_;
  torch::nn::Linear sigma_{nullptr}, feature_{nullptr}, view_{nullptr}, rgb_{nullptr};
};

// Instant-NGP's field: hash grid, density MLP, colour MLP on spherical harmonics.
class HashField final : public Field {
 public:
  static constexpr int64_t kGeometryFeatures = 15;

  explicit HashField(const HashShape& o) : o_(o) {
    grid_ = register_module("grid", HashGrid(o.grid));
    density_hidden_ = register_module("density_hidden", torch::nn::Linear(grid_->output_size(), o.hash_width));
    density_out_ = register_module("density_out", torch::nn::Linear(o.hash_width, 1 + kGeometryFeatures));
    color_hidden1_ =
        register_module("color_hidden1", torch::nn::Linear(kGeometryFeatures + kShCoefficients, o.hash_width));
    color_hidden2_ = register_module("color_hidden2", torch::nn::Linear(o.hash_width, o.hash_width));
    color_out_ = register_module("color_out", torch::nn::Linear(o.hash_width, 3));
  }

  FieldOutput query(const at::Tensor& points, const at::Tensor& directions) override {
    const int64_t R = points.size(0), S = points.size(1), P = R * S;
    const at::Tensor flat = points.reshape({P, 3});
    // Only points inside the cube are evaluated (on views of an object from afar, about half).
    const at::Tensor inside = (flat.abs() <= o_.bound).all(-1).nonzero().squeeze(1);  // [P_in]
    const at::Tensor unit = (flat.index_select(0, inside) + o_.bound) / (2 * o_.bound);
    const at::Tensor g = density_out_(torch::relu(density_hidden_(grid_(unit))));  // [P_in, 16]
    const at::Tensor sigma_in = torch::exp(g.select(1, 0).clamp_max(15.0));
    const at::Tensor sh = spherical_harmonics(directions).index_select(0, at::div(inside, S, "floor"));
    const at::Tensor color_in = torch::cat({g.slice(1, 1, 1 + kGeometryFeatures), sh}, -1);
    const at::Tensor rgb_in =
        torch::sigmoid(color_out_(torch::relu(color_hidden2_(torch::relu(color_hidden1_(color_in))))));
    const at::Tensor sigmas = at::zeros({P}, sigma_in.options()).index_copy(0, inside, sigma_in);
    const at::Tensor rgbs = at::zeros({P, 3}, rgb_in.options()).index_copy(0, inside, rgb_in);
    return {sigmas.view({R, S}), rgbs.view({R, S, 3})};
  }

 private:
  HashShape o_;
  HashGrid grid_{nullptr};
  torch::nn::Linear density_hidden_{nullptr}, density_out_{nullptr};
  torch::nn::Linear color_hidden1_{nullptr}, color_hidden2_{nullptr}, color_out_{nullptr};
};

}  // namespace genlab::nerf
