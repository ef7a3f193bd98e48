// The model both sides of bench/abi_overhead call: compiled into the benchmark for the
// direct C++ call, and into the bench-identity plugin for the call through the ABI.
// It does almost nothing, so the difference is the cost of crossing.
#pragma once

#include <genlab/sdk/plugin.hpp>

class IdentityModel final : public genlab::sdk::Model {
 public:
  static genlab::sdk::Info info() {
    genlab::sdk::Info i;
    i.name = "bench-identity";
    i.version = "1.0.0";
    i.family = "bench";
    i.summary = "does nothing, fast: the benchmark of the ABI's overhead";
    i.modalities = {"points"};
    i.capabilities = GENLAB_CAPABILITY_TRAIN | GENLAB_CAPABILITY_GENERATE;
    return i;
  }
  explicit IdentityModel(const genlab::sdk::Context& context) : Model(context), out_(at::zeros({8, 2})) {}

  // Reads each tensor's data pointer (proof the data arrived) and returns one loss.
  genlab::sdk::Scalars train_step(const genlab::sdk::Tensors& batch, int64_t) override {
    uintptr_t sum = 0;
    for (const auto& [name, tensor] : batch.entries()) sum += reinterpret_cast<uintptr_t>(tensor.data_ptr());
    return {{"loss", static_cast<double>(sum & 1), GENLAB_DIRECTION_LOWER}};
  }
  genlab::sdk::Tensors generate(int64_t, const genlab::sdk::Config&, const genlab::sdk::Tensors&) override {
    genlab::sdk::Tensors t;
    t.add("samples", out_);
    return t;
  }
  genlab::sdk::Tensors export_state() override { return {}; }
  void import_state(const genlab::sdk::Tensors&) override {}
  const at::Tensor& output() const { return out_; }

 private:
  at::Tensor out_;
};
