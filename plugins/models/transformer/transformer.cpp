// transformer — an autoregressive decoder-only transformer (GPT; Radford et al. 2018,
// 2019) in the shape of nanoGPT's model.py and train.py, as a genlab model plugin.
//
// Legend: B batch, T block_size, V vocabulary size, N sequences generated, P prompt length.
//
// Training: next-token cross-entropy on windows of T + 1 tokens (the `text` dataset);
// AdamW (beta2 0.99, weight decay 0.1 on matrices and embeddings only), the learning rate
// warmed up linearly for `warmup` steps and decayed by a cosine to min_lr at
// lr_decay_steps, gradients clipped to norm 1: nanoGPT's train.py.
// Generation: continues a prompt (the text option `prompt`, or the input "tokens" [N, P])
// with temperature and top-k sampling (temperature 0: greedy), through a key/value cache so
// that each new token costs one position. The context is the last tokens up to T; when it
// is full the oldest half is dropped and the cache refilled from the rest (kv_cache = false
// recomputes the same context at every step: the reference the cache must match).
// score: per window, the negative log-likelihood of its T predicted tokens in nats ("nll"
// [B]), and per token ("nll_per_token" [B, T]), from which bits/char = mean / ln 2 and
// perplexity = exp(mean) (likelihood with score_key = "nll_per_token").
// The vocabulary (genlab_dataset_info.vocabulary: one code point per token) is kept in the
// state, to encode prompts and decode text; byte-level data (V = 256, no vocabulary) maps
// bytes to tokens directly.
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>

#include <genlab/sdk/plugin.hpp>

#include <genlab/sdk/adam.hpp>
#include <genlab/formats/utf8.hpp>
#include "gpt.hpp"

namespace {

using genlab::sdk::Tensors;
namespace gpt = genlab::plugins::gpt;
namespace utf8 = genlab::plugins::utf8;

// Options: each field is a manifest key under [models.NAME], declared in kTransformerParams;
// net.vocab_size and net.block_size come from the data.
struct TransformerOptions {
  gpt::GptOptions net;
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup = 100, lr_decay_steps = 2000;
  double weight_decay = 0.1, beta1 = 0.9, beta2 = 0.99, grad_clip = 1.0;
};

using TransformerParams = genlab::sdk::Params<TransformerOptions>;
const auto kTransformerParams =
    TransformerParams()
        .add(
            "n_layer", [](TransformerOptions& o) -> int64_t& { return o.net.n_layer; }, "transformer blocks")
        .positive()
        .add(
            "n_head", [](TransformerOptions& o) -> int64_t& { return o.net.n_head; },
            "attention heads (n_embd % n_head == 0)")
        .positive()
        .add(
            "n_embd", [](TransformerOptions& o) -> int64_t& { return o.net.n_embd; }, "embedding width")
        .positive()
        .add(
            "dropout", [](TransformerOptions& o) -> double& { return o.net.dropout; },
            "dropout on embeddings, attention and residuals")
        .between(0, 1, TransformerParams::Ends::upper_open)
        .add(
            "bias", [](TransformerOptions& o) -> bool& { return o.net.bias; }, "biases in Linears and LayerNorms")
        .add("lr", &TransformerOptions::lr, "peak learning rate")
        .positive()
        .add("min_lr", &TransformerOptions::min_lr, "learning rate after the decay")
        .non_negative()
        .add("warmup", &TransformerOptions::warmup, "steps of linear warm-up")
        .non_negative()
        .add("lr_decay_steps", &TransformerOptions::lr_decay_steps, "step at which the cosine decay reaches min_lr")
        .non_negative()
        .add("weight_decay", &TransformerOptions::weight_decay, "AdamW decay of matrices and embeddings")
        .non_negative()
        .add("beta1", &TransformerOptions::beta1, "AdamW beta1")
        .add("beta2", &TransformerOptions::beta2, "AdamW beta2")
        .add("grad_clip", &TransformerOptions::grad_clip, "maximum gradient norm; 0: none")
        .non_negative()
        .require([](const TransformerOptions& o) { return o.net.n_embd % o.net.n_head == 0; },
                 [](const TransformerOptions& o) {
                   return "expected n_embd divisible by n_head, got " + std::to_string(o.net.n_embd) + " and " +
                          std::to_string(o.net.n_head);
                 });

// What generate() reads from its options, declared in kGenerateParams.
struct GenerateOptions {
  std::string prompt = "\n";
  int64_t max_new_tokens = 200;
  double temperature = 1.0;
  int64_t top_k = 0;
  bool kv_cache = true;
};

const auto kGenerateParams =
    genlab::sdk::Params<GenerateOptions>()
        .add("prompt", &GenerateOptions::prompt, "text to continue (the input 'tokens' [N, P] replaces it)")
        .add("max_new_tokens", &GenerateOptions::max_new_tokens, "tokens generated after the prompt")
        .non_negative()
        .add("temperature", &GenerateOptions::temperature, "softmax temperature; 0: greedy")
        .non_negative()
        .add("top_k", &GenerateOptions::top_k, "sample among the k likeliest tokens; 0: all")
        .non_negative()
        .add("kv_cache", &GenerateOptions::kv_cache, "reuse keys and values of earlier positions");

// nanoGPT train.py's get_lr: linear warm-up, cosine decay to min_lr, then min_lr.
double learning_rate(const TransformerOptions& o, int64_t step) {
  if (step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup + 1);
  if (step > o.lr_decay_steps) return o.min_lr;
  const double ratio =
      static_cast<double>(step - o.warmup) / static_cast<double>(std::max<int64_t>(1, o.lr_decay_steps - o.warmup));
  return o.min_lr + 0.5 * (1 + std::cos(M_PI * ratio)) * (o.lr - o.min_lr);
}

class Transformer final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "transformer";
    i.version = "1.0.0";
    i.family = "transformer";
    i.summary = "decoder-only GPT (nanoGPT's model.py), AdamW with warm-up and cosine decay, KV-cache generation";
    i.modalities = {"tokens"};
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_SCORE |
                     GENLAB_CAPABILITY_STATE | GENLAB_CAPABILITY_MIXED_PRECISION;
    i.device_types = {kDLCPU, kDLCUDA};
    i.params = kTransformerParams.describe();
    i.generate_params = kGenerateParams.describe();
    return i;
  }

  explicit Transformer(const genlab::sdk::Context& c) : Model(c) {
    const genlab_dataset_info* data = c.data_info;
    GENLAB_CHECK(data != nullptr && data->element_count > 0 && data->elements[0].ndim == 1 && data->vocab_size > 0,
                 GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected token data: windows [T + 1] of int64 tokens and a vocab_size (the `text` dataset)");
    input_ = data->elements[0].name;
    o_.net.vocab_size = data->vocab_size;
    o_.net.block_size = data->elements[0].shape[0] - 1;
    GENLAB_CHECK(o_.net.block_size > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected windows of at least 2 tokens");
    o_ = kTransformerParams.read(c.config, o_);

    if (const char* vocabulary = c.vocabulary()) {
      vocabulary_ = vocabulary;
      size_t bad = 0;
      GENLAB_CHECK(
          utf8::decode(vocabulary_, symbols_, bad) && static_cast<int64_t>(symbols_.size()) == o_.net.vocab_size,
          GENLAB_ERROR_INVALID_ARGUMENT, "the data's vocabulary is not vocab_size UTF-8 code points");
    } else if (o_.net.vocab_size == 256) {
      for (uint32_t b = 0; b < 256; ++b) symbols_.push_back(b);
      bytes_ = true;
    }
    for (size_t t = 0; t < symbols_.size(); ++t) token_of_[symbols_[t]] = static_cast<int64_t>(t);

    net_ = gpt::Gpt(o_.net);
    net_->to(device());
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (const auto& p : net_->named_parameters())
      if (p.value().requires_grad()) params.emplace_back("net." + p.key(), p.value());
    adam_ = std::make_unique<genlab::sdk::Adam>(
        std::move(params), genlab::sdk::Adam::Options{o_.lr, o_.beta1, o_.beta2, 1e-8, o_.weight_decay});
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t step) override {
    net_->train();
    const torch::Tensor tokens = window(batch);
    const int64_t T = tokens.size(1) - 1;
    const torch::Tensor logits = net_->forward(tokens.narrow(1, 0, T));
    const torch::Tensor loss =
        torch::cross_entropy_loss(logits.reshape({-1, o_.net.vocab_size}), tokens.narrow(1, 1, T).reshape({-1}));
    const double lr = learning_rate(o_, step);
    adam_->set_lr(lr);
    adam_->zero_grad();
    adam_->backward(loss);
    adam_->average_gradients();  // several processes: clip by the global batch's gradient norm
    if (o_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(net_->parameters(), o_.grad_clip);
    adam_->step();
    return {{"loss", loss.item<double>(), GENLAB_DIRECTION_LOWER}, {"lr", lr, GENLAB_DIRECTION_NONE}};
  }

  // Options: see GenerateOptions. Input "tokens" [N, P] replaces the text prompt.
  Tensors generate(int64_t count, const genlab::sdk::Config& options, const Tensors& inputs) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0, got " + std::to_string(count));
    const GenerateOptions g = kGenerateParams.read(options);
    c10::InferenceMode inference;
    net_->eval();
    torch::Tensor sequence;  // [N, P]
    if (const at::Tensor* given = inputs.find(input_)) {
      GENLAB_CHECK(given->dim() == 2 && given->size(0) == count && given->size(1) > 0, GENLAB_ERROR_INVALID_ARGUMENT,
                   "expected input '" + input_ + "' of shape [" + std::to_string(count) + ", P > 0], got " +
                       c10::str(given->sizes()));
      sequence = given->to(device(), torch::kLong);
      GENLAB_CHECK(sequence.min().item<int64_t>() >= 0 && sequence.max().item<int64_t>() < o_.net.vocab_size,
                   GENLAB_ERROR_INVALID_ARGUMENT,
                   "expected prompt tokens in [0, " + std::to_string(o_.net.vocab_size) + ")");
    } else {
      sequence = encode(g.prompt).to(device()).unsqueeze(0).repeat({count, 1});
    }

    std::vector<torch::Tensor> pieces{sequence};
    torch::Tensor context = sequence.narrow(1, std::max<int64_t>(0, sequence.size(1) - o_.net.block_size),
                                            std::min(sequence.size(1), o_.net.block_size));
    gpt::KvCache cache;
    bool cache_filled = false;
    for (int64_t i = 0; i < g.max_new_tokens; ++i) {
      torch::Tensor logits;  // [N, 1, V]
      if (!g.kv_cache) {
        logits = net_->forward(context, nullptr, 0, true);
      } else if (!cache_filled) {
        cache = net_->new_cache(count, torch::TensorOptions().device(device()).dtype(torch::kFloat));
        logits = net_->forward(context, &cache, 0, true);
        cache_filled = true;
      } else {
        logits = net_->forward(context.narrow(1, context.size(1) - 1, 1), &cache, cache.length, true);
      }
      const torch::Tensor next = sample(logits.select(1, 0), g.temperature, g.top_k);  // [N, 1]
      pieces.push_back(next);
      if (context.size(1) == o_.net.block_size) {  // full: keep the newest half, refill the cache
        context = context.narrow(1, context.size(1) - o_.net.block_size / 2, o_.net.block_size / 2);
        cache_filled = false;
      }
      context = torch::cat({context, next}, 1);
    }
    const torch::Tensor tokens = torch::cat(pieces, 1).to(at::kCPU).contiguous();
    Tensors out;
    out.add("tokens", tokens);  // [N, P + max_new_tokens]
    if (!symbols_.empty()) out.add("text", decode(tokens));
    return out;
  }

  const char* score_convention() const override { return "tokens"; }

  Tensors score(const Tensors& batch) override {
    c10::InferenceMode inference;
    net_->eval();
    const torch::Tensor tokens = window(batch);
    const int64_t B = tokens.size(0), T = tokens.size(1) - 1;
    const torch::Tensor logits = net_->forward(tokens.narrow(1, 0, T));
    const torch::Tensor nll = torch::nll_loss(torch::log_softmax(logits.reshape({-1, o_.net.vocab_size}), -1),
                                              tokens.narrow(1, 1, T).reshape({-1}), {}, at::Reduction::None);
    Tensors out;
    out.add("nll", nll.view({B, T}).sum(1).to(at::kCPU));     // [B] nats per window of T predictions
    out.add("nll_per_token", nll.view({B, T}).to(at::kCPU));  // [B, T] nats
    return out;
  }

  int64_t trainable_parameters() const override { return adam_->parameter_count(); }

  Tensors export_state() override {
    Tensors state;
    adam_->export_to(state);
    state.add("vocabulary.utf8", vocabulary_bytes());
    return state;
  }

  void import_state(const Tensors& state) override {
    const at::Tensor& saved = state.at("vocabulary.utf8");
    GENLAB_CHECK(saved.equal(vocabulary_bytes()), GENLAB_ERROR_INVALID_ARGUMENT,
                 "the state's vocabulary differs from the data's: the model was trained on other text or tokens");
    adam_->import_from(state);
  }

 private:
  torch::Tensor window(const Tensors& batch) const {
    const at::Tensor& t = batch.at(input_);
    GENLAB_CHECK(t.dim() == 2 && t.size(1) == o_.net.block_size + 1, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected '" + input_ + "' of shape [B, " + std::to_string(o_.net.block_size + 1) + "], got " +
                     c10::str(t.sizes()));
    return t.to(device(), torch::kLong);
  }

  // The next token from logits [N, V]: argmax at temperature 0, else a draw from the
  // softmax of logits / temperature over the top_k most likely tokens.
  torch::Tensor sample(torch::Tensor logits, double temperature, int64_t top_k) const {
    if (temperature == 0) return logits.argmax(-1, true);
    logits = logits / temperature;
    if (top_k > 0 && top_k < logits.size(-1)) {
      const torch::Tensor kth = std::get<0>(logits.topk(top_k, -1)).narrow(-1, top_k - 1, 1);
      logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
    }
    return torch::multinomial(torch::softmax(logits, -1), 1);
  }

  torch::Tensor encode(const std::string& prompt) const {
    GENLAB_CHECK(!symbols_.empty(), GENLAB_ERROR_INVALID_ARGUMENT,
                 "the data has no vocabulary to encode a text prompt: give the input '" + input_ + "' instead");
    GENLAB_CHECK(!prompt.empty(), GENLAB_ERROR_INVALID_ARGUMENT, "expected a non-empty prompt");
    std::vector<int64_t> tokens;
    if (bytes_) {
      for (unsigned char b : prompt) tokens.push_back(b);
    } else {
      std::vector<uint32_t> points;
      size_t bad = 0;
      GENLAB_CHECK(utf8::decode(prompt, points, bad), GENLAB_ERROR_INVALID_ARGUMENT,
                   "the prompt is not UTF-8 at byte offset " + std::to_string(bad));
      for (size_t i = 0; i < points.size(); ++i) {
        const auto found = token_of_.find(points[i]);
        GENLAB_CHECK(found != token_of_.end(), GENLAB_ERROR_INVALID_ARGUMENT,
                     "prompt character " + std::to_string(i) + ", " + utf8::describe(points[i]) +
                         ", is not in the vocabulary of the training text (" + std::to_string(symbols_.size()) +
                         " characters); use characters it has, or byte-level tokens (tokenizer = \"byte\")");
        tokens.push_back(found->second);
      }
    }
    return torch::tensor(tokens, torch::kLong);
  }

  // Token rows [N, L] -> their UTF-8 text, zero-padded: uint8 [N, max bytes].
  torch::Tensor decode(const torch::Tensor& tokens) const {
    std::vector<std::string> texts(static_cast<size_t>(tokens.size(0)));
    size_t longest = 1;
    const auto rows = tokens.accessor<int64_t, 2>();
    for (int64_t n = 0; n < tokens.size(0); ++n) {
      for (int64_t i = 0; i < tokens.size(1); ++i) {
        const uint32_t s = symbols_[static_cast<size_t>(rows[n][i])];
        if (bytes_) texts[n] += static_cast<char>(s);
        else utf8::append(texts[n], s);
      }
      longest = std::max(longest, texts[n].size());
    }
    torch::Tensor out = torch::zeros({tokens.size(0), static_cast<int64_t>(longest)}, torch::kUInt8);
    for (size_t n = 0; n < texts.size(); ++n) {
      if (!texts[n].empty()) std::memcpy(out[n].data_ptr(), texts[n].data(), texts[n].size());
    }
    return out;
  }

  torch::Tensor vocabulary_bytes() const {
    torch::Tensor out = torch::empty({static_cast<int64_t>(vocabulary_.size())}, torch::kUInt8);
    // An empty tensor has no storage (data_ptr() is null), and memcpy's pointers may not be null.
    if (!vocabulary_.empty()) std::memcpy(out.data_ptr(), vocabulary_.data(), vocabulary_.size());
    return out;
  }

  TransformerOptions o_;
  std::string input_;
  std::string vocabulary_;         // UTF-8, one code point per token; empty for bytes or none
  std::vector<uint32_t> symbols_;  // token -> code point (or byte)
  std::map<uint32_t, int64_t> token_of_;
  bool bytes_ = false;
  gpt::Gpt net_{nullptr};
  std::unique_ptr<genlab::sdk::Adam> adam_;
};

}  // namespace

GENLAB_PLUGIN(Transformer)
