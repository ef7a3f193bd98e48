// A model plugin that misbehaves on purpose, for the scheduler's crash-isolation tests and
// the host's contract checks. Config: fault = "none" | "segfault" | "abort" | "throw" |
// "torch_error" (a LibTorch index error) |
// "hang" | "oom" | "nan" | "bad_shape" (generate returns the wrong number of rows) |
// "wide_samples" (generate returns [N, 3] for 2-D points) | "short_score" (score returns
// N-1 values for N examples), at_step = the step it strikes (train faults), or during
// generate / score for the others. The default fault is the environment variable
// GENLAB_FAULT_MODEL_FAULT, else "none", so that `genlab plugins check` (which creates with
// the default config) meets it. Otherwise it fits the mean of the data by gradient
// descent, so a healthy run trains and samples for real.
//
// Built twice (tests/CMakeLists.txt): as "fault-model", which offers no score, and with
// FAULT_MODEL_SCORES as "fault-model-scoring", which does (its "nll" is the squared
// distance of each example to the mean).
#include <csignal>
#include <cstdlib>
#include <thread>

#ifndef PLUGIN_NAME
#define PLUGIN_NAME "fault-model"
#endif

#include <genlab/sdk/plugin.hpp>

namespace {

using genlab::sdk::Tensors;

class FaultModel final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = PLUGIN_NAME;
    i.version = "1.0.0";
    i.family = "test";
    i.summary = "misbehaves on purpose (scheduler tests)";
    i.modalities = {"points"};
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE | GENLAB_CAPABILITY_STATE;
#ifdef FAULT_MODEL_SCORES
    i.capabilities |= GENLAB_CAPABILITY_SCORE;
#endif
    i.params = {{"fault", GENLAB_PARAM_STRING, "\"none\"", "which fault to inject"},
                {"at_step", GENLAB_PARAM_INT, "2", "the training step at which it strikes"}};
    return i;
  }

  explicit FaultModel(const genlab::sdk::Context& c) : Model(c) {
    const char* env = std::getenv("GENLAB_FAULT_MODEL_FAULT");
    fault_ = c.config.get("fault", env != nullptr && *env != '\0' ? env : "none");
    at_step_ = c.config.get("at_step", int64_t{2});
    mean_ = at::zeros({2});
  }

  genlab::sdk::Scalars train_step(const Tensors& batch, int64_t step) override {
    if (step == at_step_) strike();
    const at::Tensor x = batch.at("x");
    const at::Tensor diff = x.mean(0) - mean_;
    mean_ += 0.1 * diff;
    double loss = diff.pow(2).sum().item<double>();
    if (fault_ == "nan" && step == at_step_) loss = std::nan("");
    return {{"loss", loss, GENLAB_DIRECTION_LOWER}};
  }

  Tensors generate(int64_t count, const genlab::sdk::Config&, const Tensors&) override {
    GENLAB_CHECK(count > 0, GENLAB_ERROR_INVALID_ARGUMENT, "expected count > 0");
    Tensors out;
    const int64_t rows = fault_ == "bad_shape" ? count + 1 : count;
    if (fault_ == "wide_samples") {
      out.add("samples", at::randn({rows, 3}));  // 3 columns for 2-D data
      return out;
    }
    out.add("samples", mean_.unsqueeze(0) + at::randn({rows, 2}));
    return out;
  }

  Tensors score(const Tensors& batch) override {
    const at::Tensor x = batch.at("x");
    at::Tensor nll = (x - mean_.unsqueeze(0)).pow(2).sum(1);               // [N]
    if (fault_ == "short_score") nll = nll.narrow(0, 0, nll.size(0) - 1);  // N-1 values
    Tensors out;
    out.add("nll", nll.contiguous());
    return out;
  }

  Tensors export_state() override {
    Tensors t;
    t.add("mean", mean_);
    return t;
  }
  void import_state(const Tensors& state) override { mean_.copy_(state.at("mean")); }

 private:
  void strike() {
    if (fault_ == "segfault") {
      volatile int* nowhere = nullptr;
      *nowhere = 1;
    } else if (fault_ == "abort") {
      std::abort();
    } else if (fault_ == "throw") {
      throw std::runtime_error("the fault model threw on purpose");
    } else if (fault_ == "torch_error") {  // LibTorch's own error: "index out of range in self"
      at::embedding(at::zeros({2, 2}), at::full({1}, 5, at::kLong));
    } else if (fault_ == "hang") {
      while (true) std::this_thread::sleep_for(std::chrono::seconds(1));  // ignores cancellation
    } else if (fault_ == "oom") {
      at::Tensor huge = at::empty({int64_t{1} << 40}, at::kFloat);  // 4 TiB
      huge.fill_(1);
    }
  }

  std::string fault_;
  int64_t at_step_ = 2;
  at::Tensor mean_;
};

}  // namespace

GENLAB_PLUGIN(FaultModel)
