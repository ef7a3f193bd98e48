// A decoder-only transformer in the shape of nanoGPT's model.py (Radford et al. 2019's
// GPT-2 layout): token and learned position embeddings, pre-LayerNorm blocks of causal
// self-attention and a GELU MLP, a final LayerNorm, and the output projection tied to the
// token embedding. With a key/value cache for generation: each new token attends to the
// cached keys and values of the tokens before it, so it costs one position, not a window.
//
// Legend: B batch, T positions, C n_embd, H n_head, D = C / H, V vocabulary size, L layers.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

namespace genlab::plugins::gpt {

struct GptOptions {
  int64_t vocab_size = 256;
  int64_t block_size = 64;
  int64_t n_layer = 4, n_head = 4, n_embd = 128;
  double dropout = 0.0;
  bool bias = true;  // in Linears and LayerNorms
};

// Keys and values of one layer for positions [0, length): [B, H, block_size, D] each.
struct LayerCache {
  torch::Tensor k, v;
};
struct KvCache {
  std::vector<LayerCache> layers;
  int64_t length = 0;
};

struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const GptOptions& o) : n_head(o.n_head) {
    c_attn =
        register_module("c_attn", torch::nn::Linear(torch::nn::LinearOptions(o.n_embd, 3 * o.n_embd).bias(o.bias)));
    c_proj = register_module("c_proj", torch::nn::Linear(torch::nn::LinearOptions(o.n_embd, o.n_embd).bias(o.bias)));
    attn_dropout = register_module("attn_dropout", torch::nn::Dropout(o.dropout));
    resid_dropout = register_module("resid_dropout", torch::nn::Dropout(o.dropout));
  }

  // x [B, T, C] at positions [start, start + T). With a cache, its keys and values are
  // written at those positions and the queries attend to every position up to their own.
  torch::Tensor forward(const torch::Tensor& x, LayerCache* cache, int64_t start) {
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), D = C / n_head;
    auto heads = [&](const torch::Tensor& t) { return t.view({B, T, n_head, D}).transpose(1, 2); };  // [B, H, T, D]
    const auto qkv = c_attn(x).split(C, 2);
    const torch::Tensor q = heads(qkv[0]);
    torch::Tensor k = heads(qkv[1]), v = heads(qkv[2]);
    if (cache != nullptr) {
      cache->k.narrow(2, start, T).copy_(k);
      cache->v.narrow(2, start, T).copy_(v);
      k = cache->k.narrow(2, 0, start + T);
      v = cache->v.narrow(2, 0, start + T);
    }
    torch::Tensor att =
        torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(D)));  // [B, H, T, S]
    if (T > 1) {  // query i (position start + i) sees keys 0 .. start + i
      const int64_t S = k.size(2);
      const torch::Tensor allowed = torch::ones({T, S}, x.options().dtype(torch::kBool)).tril(S - T);
      att = att.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
    }
    att = attn_dropout(torch::softmax(att, -1));
    const torch::Tensor y = torch::matmul(att, v).transpose(1, 2).contiguous().view({B, T, C});
    return resid_dropout(c_proj(y));
  }

  int64_t n_head;
  torch::nn::Linear c_attn{nullptr}, c_proj{nullptr};
  torch::nn::Dropout attn_dropout{nullptr}, resid_dropout{nullptr};
};
TORCH_MODULE(Attention);

struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const GptOptions& o) {
    auto norm = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.n_embd}).elementwise_affine(true)); };
    ln_1 = register_module("ln_1", norm());
    attn = register_module("attn", Attention(o));
    ln_2 = register_module("ln_2", norm());
    c_fc = register_module("c_fc", torch::nn::Linear(torch::nn::LinearOptions(o.n_embd, 4 * o.n_embd).bias(o.bias)));
    c_proj =
        register_module("c_proj", torch::nn::Linear(torch::nn::LinearOptions(4 * o.n_embd, o.n_embd).bias(o.bias)));
    dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
    if (!o.bias) {  // LayerNorm without its bias, as nanoGPT's bias=False
      ln_1->bias.requires_grad_(false);
      ln_2->bias.requires_grad_(false);
    }
  }
  torch::Tensor forward(torch::Tensor x, LayerCache* cache, int64_t start) {
    x = x + attn(ln_1(x), cache, start);
    return x + dropout(c_proj(torch::gelu(c_fc(ln_2(x)))));
  }
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Attention attn{nullptr};
  torch::nn::Linear c_fc{nullptr}, c_proj{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(Block);

struct GptImpl : torch::nn::Module {
  explicit GptImpl(const GptOptions& o) : options(o) {
    wte = register_module("wte", torch::nn::Embedding(o.vocab_size, o.n_embd));
    wpe = register_module("wpe", torch::nn::Embedding(o.block_size, o.n_embd));
    drop = register_module("drop", torch::nn::Dropout(o.dropout));
    for (int64_t l = 0; l < o.n_layer; ++l) blocks.push_back(register_module("h" + std::to_string(l), Block(o)));
    ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.n_embd})));
    // GPT-2's initialisation, as nanoGPT: N(0, 0.02), zero biases, and the residual
    // projections scaled by 1 / sqrt(2 L).
    torch::NoGradGuard no_grad;
    for (auto& p : named_parameters()) {
      const std::string& name = p.key();
      if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
        p.value().zero_();
      } else if (p.value().dim() >= 2) {
        const bool residual = name.find("c_proj.weight") != std::string::npos;
        p.value().normal_(0, residual ? 0.02 / std::sqrt(2.0 * static_cast<double>(o.n_layer)) : 0.02);
      }
    }
  }

  // tokens [B, T] at positions [start, start + T) -> logits [B, T, V] (only the last
  // position's, [B, 1, V], with last_only). The cache, when given, must hold [0, start).
  torch::Tensor forward(const torch::Tensor& tokens, KvCache* cache = nullptr, int64_t start = 0,
                        bool last_only = false) {
    const int64_t T = tokens.size(1);
    const torch::Tensor positions = torch::arange(start, start + T, tokens.options());
    torch::Tensor x = drop(wte(tokens) + wpe(positions));
    for (size_t l = 0; l < blocks.size(); ++l) x = blocks[l](x, cache ? &cache->layers[l] : nullptr, start);
    if (cache != nullptr) cache->length = start + T;
    x = ln_f(x);
    if (last_only) x = x.narrow(1, T - 1, 1);
    return torch::matmul(x, wte->weight.t());  // the tied output projection
  }

  KvCache new_cache(int64_t batch, const torch::TensorOptions& options) const {
    KvCache cache;
    const int64_t D = this->options.n_embd / this->options.n_head;
    for (size_t l = 0; l < blocks.size(); ++l)
      cache.layers.push_back({torch::empty({batch, this->options.n_head, this->options.block_size, D}, options),
                              torch::empty({batch, this->options.n_head, this->options.block_size, D}, options)});
    return cache;
  }

  GptOptions options;
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  torch::nn::Dropout drop{nullptr};
  std::vector<Block> blocks;
  torch::nn::LayerNorm ln_f{nullptr};
};
TORCH_MODULE(Gpt);

}  // namespace genlab::plugins::gpt
