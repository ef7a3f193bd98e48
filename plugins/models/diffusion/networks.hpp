// The denoising networks of the diffusion plugin. For images, a small U-Net in the shape of Ho et al.
// (2020), appendix B: residual blocks with group norm and a sinusoidal time embedding added
// in every block, a stride-2 convolution down and nearest-neighbour + convolution up, a skip
// from each level of the way down to the same level of the way up, and (an option)
// single-head self-attention in the middle, at the lowest resolution. For points [D] (toy
// 2-D data and the like), an MLP with the same time (and class) embedding added to its
// first layer.
//
// Legend: B batch, C channels, H/W height/width, E the embedding width (4 x channels),
// N = H*W positions.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

namespace genlab::plugins::diffusion {

struct NetworkOptions {
  std::vector<int64_t> shape = {1, 28, 28};  // of one example: [C, H, W] (U-Net) or [D] (MLP)
  int64_t hidden = 128;                      // MLP: width
  int64_t layers = 3;                        // MLP: hidden layers
  int64_t channels = 32;                     // width of the first level
  std::vector<int64_t> mult = {1, 2, 2};     // width of each level, in units of `channels`
  int64_t res_blocks = 1;                    // residual blocks per level, down and up
  bool attention = true;                     // self-attention at the lowest resolution
  double dropout = 0.0;
  int64_t groups = 8;       // group norm groups (fewer when a width needs it)
  int64_t num_classes = 0;  // > 0: a class embedding; index num_classes is "no class"
};

// The largest divisor of `channels` not above `groups`.
inline int64_t group_count(int64_t channels, int64_t groups) {
  for (int64_t g = std::min(groups, channels); g > 1; --g)
    if (channels % g == 0) return g;
  return 1;
}

// Sinusoidal embedding of timesteps t [B] (Vaswani et al. 2017, section 3.5) -> [B, dim].
inline torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim) {
  const int64_t half = dim / 2;
  const torch::Tensor freqs = torch::exp(torch::arange(half, t.options().dtype(torch::kFloat)) *
                                         (-std::log(10000.0) / static_cast<double>(half)));
  const torch::Tensor args = t.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({torch::sin(args), torch::cos(args)}, 1);
}

// Group norm in fp32 whatever the input: under mixed precision the convolutions compute in
// bf16/fp16, and LibTorch's CPU autocast (1.13) leaves group_norm unlisted, so a bf16 input
// met fp32 weights ("expected scalar type BFloat16 but found Float"); normalising in fp32 is
// also what keeps its statistics exact. A no-op at fp32.
inline torch::Tensor norm_fp32(torch::nn::GroupNorm& norm, const torch::Tensor& x) { return norm(x.to(torch::kFloat)); }

struct ResBlockImpl : torch::nn::Module {
  ResBlockImpl(int64_t in, int64_t out, int64_t embed, const NetworkOptions& o) {
    norm1 = register_module("norm1", torch::nn::GroupNorm(group_count(in, o.groups), in));
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
    time = register_module("time", torch::nn::Linear(embed, out));
    norm2 = register_module("norm2", torch::nn::GroupNorm(group_count(out, o.groups), out));
    dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
    if (in != out) skip = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& embedding) {  // x [B, in, H, W], embedding [B, E]
    torch::Tensor h = conv1(torch::silu(norm_fp32(norm1, x)));
    h = h + time(torch::silu(embedding)).unsqueeze(-1).unsqueeze(-1);
    h = conv2(dropout(torch::silu(norm_fp32(norm2, h))));
    return (skip ? skip(x) : x) + h;  // [B, out, H, W]
  }
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear time{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(ResBlock);

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t c, const NetworkOptions& o) {
    norm = register_module("norm", torch::nn::GroupNorm(group_count(c, o.groups), c));
    qkv = register_module("qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, 3 * c, 1)));
    proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(c, c, 1)));
  }
  torch::Tensor forward(const torch::Tensor& x) {  // [B, C, H, W]
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const auto parts = qkv(norm_fp32(norm, x)).view({B, 3, C, H * W}).unbind(1);  // q, k, v [B, C, N]
    const torch::Tensor weights = torch::softmax(
        torch::bmm(parts[0].transpose(1, 2), parts[1]) / std::sqrt(static_cast<double>(C)), -1);       // [B, N, N]
    const torch::Tensor h = torch::bmm(parts[2], weights.to(parts[2].scalar_type()).transpose(1, 2));  // [B, C, N]
    return x + proj(h.view({B, C, H, W}));
  }
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(Attention);

struct UNetImpl : torch::nn::Module {
  explicit UNetImpl(const NetworkOptions& o) : options(o) {
    const int64_t ch = o.channels, embed = 4 * ch, levels = static_cast<int64_t>(o.mult.size());
    time_mlp = register_module("time_mlp", torch::nn::Sequential(torch::nn::Linear(ch / 2 * 2, embed),
                                                                 torch::nn::SiLU(), torch::nn::Linear(embed, embed)));
    if (o.num_classes > 0)
      class_embedding = register_module("class_embedding", torch::nn::Embedding(o.num_classes + 1, embed));
    conv_in = register_module("conv_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.shape[0], ch, 3).padding(1)));
    int64_t width = ch;
    std::vector<int64_t> skip_widths;
    for (int64_t l = 0; l < levels; ++l) {
      std::vector<ResBlock> blocks;
      for (int64_t b = 0; b < o.res_blocks; ++b) {
        blocks.push_back(register_module("down" + std::to_string(l) + "_" + std::to_string(b),
                                         ResBlock(width, ch * o.mult[l], embed, o)));
        width = ch * o.mult[l];
      }
      down.push_back(std::move(blocks));
      skip_widths.push_back(width);
      if (l + 1 < levels)
        downsample.push_back(
            register_module("downsample" + std::to_string(l),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(width, width, 3).stride(2).padding(1))));
    }
    mid1 = register_module("mid1", ResBlock(width, width, embed, o));
    if (o.attention) mid_attention = register_module("mid_attention", Attention(width, o));
    mid2 = register_module("mid2", ResBlock(width, width, embed, o));
    up.resize(levels);
    upsample.resize(levels, torch::nn::Conv2d(nullptr));
    for (int64_t l = levels - 1; l >= 0; --l) {
      for (int64_t b = 0; b < o.res_blocks; ++b) {
        const int64_t in = b == 0 ? width + skip_widths[l] : ch * o.mult[l];
        up[l].push_back(register_module("up" + std::to_string(l) + "_" + std::to_string(b),
                                        ResBlock(in, ch * o.mult[l], embed, o)));
      }
      width = ch * o.mult[l];
      if (l > 0)
        upsample[l] = register_module("upsample" + std::to_string(l),
                                      torch::nn::Conv2d(torch::nn::Conv2dOptions(width, width, 3).padding(1)));
    }
    norm_out = register_module("norm_out", torch::nn::GroupNorm(group_count(width, o.groups), width));
    conv_out =
        register_module("conv_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(width, o.shape[0], 3).padding(1)));
  }

  // x [B, C, H, W], t [B] (long), labels [B] (long, num_classes = none) or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
    torch::Tensor embedding = time_mlp->forward(timestep_embedding(t, options.channels));  // [B, E]
    if (class_embedding && labels.defined()) embedding = embedding + class_embedding(labels);
    torch::Tensor h = conv_in(x);
    std::vector<torch::Tensor> skips;
    for (size_t l = 0; l < down.size(); ++l) {
      for (auto& block : down[l]) h = block(h, embedding);
      skips.push_back(h);
      if (l < downsample.size()) h = downsample[l](h);
    }
    h = mid1(h, embedding);
    if (mid_attention) h = mid_attention(h);
    h = mid2(h, embedding);
    for (size_t l = down.size(); l-- > 0;) {
      h = torch::cat({h, skips[l]}, 1);
      for (auto& block : up[l]) h = block(h, embedding);
      if (l > 0)
        h = upsample[l](torch::nn::functional::interpolate(h, torch::nn::functional::InterpolateFuncOptions()
                                                                  .scale_factor(std::vector<double>{2, 2})
                                                                  .mode(torch::kNearest)));
    }
    return conv_out(torch::silu(norm_fp32(norm_out, h)));  // [B, C, H, W]
  }

  NetworkOptions options;
  torch::nn::Sequential time_mlp{nullptr};
  torch::nn::Embedding class_embedding{nullptr};
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  std::vector<std::vector<ResBlock>> down, up;
  std::vector<torch::nn::Conv2d> downsample, upsample;  // upsample[0] is unused
  ResBlock mid1{nullptr}, mid2{nullptr};
  Attention mid_attention{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(UNet);

struct MlpImpl : torch::nn::Module {
  explicit MlpImpl(const NetworkOptions& o) : options(o) {
    const int64_t D = o.shape[0], embed = 2 * (o.hidden / 2);
    time = register_module("time", torch::nn::Linear(embed, o.hidden));
    if (o.num_classes > 0)
      class_embedding = register_module("class_embedding", torch::nn::Embedding(o.num_classes + 1, o.hidden));
    input = register_module("input", torch::nn::Linear(D, o.hidden));
    for (int64_t l = 0; l < o.layers; ++l)
      hidden.push_back(register_module("hidden" + std::to_string(l), torch::nn::Linear(o.hidden, o.hidden)));
    output = register_module("output", torch::nn::Linear(o.hidden, D));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {  // x [B, D]
    torch::Tensor h = input(x) + time(timestep_embedding(t, options.hidden));
    if (class_embedding && labels.defined()) h = h + class_embedding(labels);
    for (auto& layer : hidden) h = layer(torch::silu(h));
    return output(torch::silu(h));  // [B, D]
  }
  NetworkOptions options;
  torch::nn::Linear time{nullptr}, input{nullptr}, output{nullptr};
  torch::nn::Embedding class_embedding{nullptr};
  std::vector<torch::nn::Linear> hidden;
};
TORCH_MODULE(Mlp);

// The U-Net for images, the MLP for points.
struct DenoiserImpl : torch::nn::Module {
  explicit DenoiserImpl(const NetworkOptions& o) {
    if (o.shape.size() == 3) unet = register_module("unet", UNet(o));
    else mlp = register_module("mlp", Mlp(o));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels) {
    return unet ? unet(x, t, labels) : mlp(x, t, labels);
  }
  UNet unet{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Denoiser);

}  // namespace genlab::plugins::diffusion
