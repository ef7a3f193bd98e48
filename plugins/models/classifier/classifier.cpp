// classifier — a small convolutional image classifier, the feature network of genlab's
// evaluation. No pretrained Inception weights can be had here, so the host trains one of
// these per image dataset and computes FID, KID, precision/recall and class coverage on its
// penultimate layer (as FID does on Inception's pool3), so its figures are comparable
// across the models of one dataset, not with Inception-based FIDs.
//
// Net: two 3x3 conv blocks (conv, ReLU, conv, ReLU, 2x2 max-pool), widths `channels` and
// 2x that, global average pooling, a `features`-wide ReLU layer (the features), a linear
// layer to `classes` logits. Cross-entropy, Adam.
//
// generate(count, {}, {image: [N, C, H, W]}) classifies the given images: outputs
// "features" [N, F], "logits" [N, K] and "label" [N] (the argmax). It needs its inputs;
// there is nothing to sample from.
#include <torch/torch.h>

#include <memory>

#include <genlab/sdk/plugin.hpp>

#include <genlab/sdk/adam.hpp>
#include <genlab/sdk/example_input.hpp>

namespace {

using genlab::sdk::Tensors;

// Options: each field is a manifest key under [models.NAME], declared in kClassifierParams.
struct ClassifierOptions {
  int64_t classes = 10;
  int64_t channels = 32;
  int64_t features = 128;
  double lr = 1e-3;
  int64_t batch = 500;
};

const auto kClassifierParams =
    genlab::sdk::Params<ClassifierOptions>()
        .add("classes", &ClassifierOptions::classes, "number of classes K (labels 0..K-1)")
        .positive()
        .add("channels", &ClassifierOptions::channels, "channels of the first conv block (the second has 2x)")
        .positive()
        .add("features", &ClassifierOptions::features, "width F of the feature layer")
        .positive()
        .add("lr", &ClassifierOptions::lr, "Adam learning rate")
        .positive()
        .add("batch", &ClassifierOptions::batch, "images per forward pass when classifying")
        .positive();

struct ClassifierNetImpl : torch::nn::Module {
  ClassifierNetImpl(int64_t in_channels, int64_t channels, int64_t features, int64_t classes) {
    auto conv = [](int64_t in, int64_t out) {
      return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
    };
    conv1 = register_module("conv1", conv(in_channels, channels));
    conv2 = register_module("conv2", conv(channels, channels));
    conv3 = register_module("conv3", conv(channels, 2 * channels));
    conv4 = register_module("conv4", conv(2 * channels, 2 * channels));
    fc = register_module("fc", torch::nn::Linear(2 * channels, features));
    out = register_module("out", torch::nn::Linear(features, classes));
  }

  // x [B, C, H, W] -> features [B, F]
  torch::Tensor embed(const torch::Tensor& x) {
    torch::Tensor h = torch::relu(conv2(torch::relu(conv1(x))));
    if (h.size(2) >= 2 && h.size(3) >= 2) h = torch::max_pool2d(h, 2);
    h = torch::relu(conv4(torch::relu(conv3(h))));
    return torch::relu(fc(h.mean({2, 3})));
  }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr};
  torch::nn::Linear fc{nullptr}, out{nullptr};
};
TORCH_MODULE(ClassifierNet);

class Classifier final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "classifier";
    i.version = "1.0.0";
    i.family = "classifier";
    i.summary = "small CNN image classifier: the feature network of FID, KID, precision/recall, class coverage";
    i.modalities = {"image"};
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_GENERATE_NEEDS_INPUTS |
                     GENLAB_CAPABILITY_STATE;
    i.device_types = {kDLCPU, kDLCUDA};
    i.params = kClassifierParams.describe();
    return i;
  }

  explicit Classifier(const genlab::sdk::Context& c) : Model(c), input_(c) {
    GENLAB_CHECK(input_.is_image(), GENLAB_ERROR_INVALID_ARGUMENT, "expected image data [C, H, W]");
    o_ = kClassifierParams.read(c.config);
    net_ = ClassifierNet(input_.shape()[0], o_.channels, o_.features, o_.classes);
    net_->to(device());
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (const auto& p : net_->named_parameters()) params.emplace_back("net." + p.key(), p.value());
    adam_ = std::make_unique<genlab::sdk::Adam>(std::move(params), genlab::sdk::Adam::Options{o_.lr});
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t) override {
    net_->train();
    const torch::Tensor x = input_.take(batch, device());
    const at::Tensor* found = batch.find("label");
    GENLAB_CHECK(found != nullptr, GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected a \"label\" tensor in the batch: the classifier needs labelled data");
    const torch::Tensor y = found->to(device(), at::kLong);
    GENLAB_CHECK(y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < o_.classes, GENLAB_ERROR_INVALID_ARGUMENT,
                 "labels must lie in 0.." + std::to_string(o_.classes - 1) + " (set classes), got " +
                     std::to_string(y.min().item<int64_t>()) + ".." + std::to_string(y.max().item<int64_t>()));
    const torch::Tensor logits = net_->out(net_->embed(x));
    const torch::Tensor loss = torch::cross_entropy_loss(logits, y);
    adam_->zero_grad();
    adam_->backward(loss);
    adam_->step();
    const double accuracy = logits.argmax(1).eq(y).to(at::kFloat).mean().item<double>();
    return {{"loss", loss.item<double>(), GENLAB_DIRECTION_LOWER}, {"accuracy", accuracy, GENLAB_DIRECTION_HIGHER}};
  }

  Tensors generate(int64_t, const genlab::sdk::Config&, const Tensors& inputs) override {
    const at::Tensor* images = inputs.find(input_.name());
    GENLAB_CHECK(images != nullptr, GENLAB_ERROR_INVALID_ARGUMENT,
                 "the classifier classifies given images: expected an input \"" + input_.name() + "\" [N, C, H, W]");
    GENLAB_CHECK(images->dim() == 4 && images->size(1) == input_.shape()[0], GENLAB_ERROR_INVALID_ARGUMENT,
                 "expected input \"" + input_.name() + "\" [N, " + std::to_string(input_.shape()[0]) + ", H, W], got " +
                     c10::str(images->sizes()));
    torch::NoGradGuard no_grad;
    net_->eval();
    std::vector<torch::Tensor> features, logits;
    for (int64_t i = 0; i < images->size(0); i += o_.batch) {
      const torch::Tensor x = images->narrow(0, i, std::min(o_.batch, images->size(0) - i)).to(device(), at::kFloat);
      features.push_back(net_->embed(x));
      logits.push_back(net_->out(features.back()));
    }
    Tensors out;
    out.add("features", torch::cat(features).to(at::kCPU).contiguous());
    out.add("logits", torch::cat(logits).to(at::kCPU).contiguous());
    out.add("label", out.at("logits").argmax(1));
    return out;
  }

  int64_t trainable_parameters() const override { return adam_->parameter_count(); }

  Tensors export_state() override {
    Tensors state;
    adam_->export_to(state);
    return state;
  }
  void import_state(const Tensors& state) override { adam_->import_from(state); }

 private:
  genlab::sdk::ExampleInput input_;
  ClassifierOptions o_;
  ClassifierNet net_{nullptr};
  std::unique_ptr<genlab::sdk::Adam> adam_;
};

}  // namespace

GENLAB_PLUGIN(Classifier)
