// Volume rendering of samples along rays (Mildenhall et al. 2020, eq. 3), the quadrature
//   w_i = T_i (1 - exp(-sigma_i delta_i)),  T_i = exp(-sum_{j<i} sigma_j delta_j),
//   color = sum_i w_i c_i,  depth = sum_i w_i t_i,  opacity = sum_i w_i,
// twice: composite_autograd in LibTorch ops (the reference, differentiated by autograd), and
// composite_op through the host's backend ops "volume_composite" and
// "volume_composite_backward" (genlab_host_api::run_op, ABI 1.3) wrapped as an autograd
// function, so a vendor's backend can serve the hot loop of training and rendering.
//
// Legend: R rays, S samples per ray. Inputs: sigmas [R, S] (densities >= 0), rgbs [R, S, 3],
// deltas [R, S] (segment lengths), ts [R, S] (sample distances), float32.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include <genlab/sdk/plugin.hpp>

namespace genlab::nerf {

struct Composite {
  at::Tensor color;    // [R, 3]
  at::Tensor depth;    // [R], expected termination distance (not divided by opacity)
  at::Tensor opacity;  // [R], accumulated alpha
  at::Tensor weights;  // [R, S], w_i
};

// In LibTorch ops; gradients reach sigmas and rgbs (and deltas, ts) through autograd. The
// transmittance is the exp of the exclusive running sum of sigma delta: never a product of
// 1 - alpha, which rounds to 0 once a sample is opaque. (The CPU reference backend
// multiplies the factors exp(-sigma delta) instead; the two differ in rounding only.)
inline Composite composite_autograd(const at::Tensor& sigmas, const at::Tensor& rgbs, const at::Tensor& deltas,
                                    const at::Tensor& ts) {
  const int64_t samples = sigmas.size(-1);
  const at::Tensor optical = sigmas * deltas;                                  // sigma_i delta_i
  const at::Tensor before = at::cat({at::zeros_like(optical.slice(-1, 0, 1)),  // sum_{j<i}
                                     at::cumsum(optical, -1).slice(-1, 0, samples - 1)},
                                    -1);
  const at::Tensor weights = at::exp(-before) * (1 - at::exp(-optical));
  return {(weights.unsqueeze(-1) * rgbs).sum(-2), (weights * ts).sum(-1), weights.sum(-1), weights};
}

namespace detail {

// The inputs of the backend ops, as they require: float32, contiguous, no autograd history.
inline at::Tensor op_input(const at::Tensor& t) { return t.detach().to(at::kFloat).contiguous(); }

// The autograd function around the backend ops. The host table travels as an integer in the
// context's saved data (an IValue cannot hold a pointer); the table outlives every model.
class CompositeFunction : public torch::autograd::Function<CompositeFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& sigmas,
                                                const at::Tensor& rgbs, const at::Tensor& deltas, const at::Tensor& ts,
                                                const genlab_host_api* host) {
    sdk::Tensors inputs;
    inputs.add("sigmas", op_input(sigmas));
    inputs.add("rgbs", op_input(rgbs));
    inputs.add("deltas", op_input(deltas));
    inputs.add("ts", op_input(ts));
    sdk::Tensors out = sdk::run_op(sdk::Host(host), "volume_composite", inputs);
    const at::Tensor color = out.at("color"), depth = out.at("depth"), opacity = out.at("opacity"),
                     weights = out.at("weights");
    ctx->save_for_backward(
        {inputs.at("sigmas"), inputs.at("rgbs"), inputs.at("deltas"), inputs.at("ts"), color, depth, opacity});
    ctx->saved_data["host"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(host));
    ctx->mark_non_differentiable({weights});  // used detached: importance sampling only
    return {color, depth, opacity, weights};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto* host = reinterpret_cast<const genlab_host_api*>(static_cast<intptr_t>(ctx->saved_data["host"].toInt()));
    // An output that did not reach the loss has an undefined gradient: the op wants zeros.
    auto grad_or_zeros = [&](size_t i, const at::Tensor& like) {
      return grads[i].defined() ? op_input(grads[i]) : at::zeros_like(like);
    };
    sdk::Tensors inputs;
    const char* names[] = {"sigmas", "rgbs", "deltas", "ts", "color", "depth", "opacity"};
    for (size_t i = 0; i < 7; ++i) inputs.add(names[i], saved[i]);
    inputs.add("grad_color", grad_or_zeros(0, saved[4]));
    inputs.add("grad_depth", grad_or_zeros(1, saved[5]));
    inputs.add("grad_opacity", grad_or_zeros(2, saved[6]));
    sdk::Tensors out = sdk::run_op(sdk::Host(host), "volume_composite_backward", inputs);
    return {out.at("grad_sigmas"), out.at("grad_rgbs"), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace detail

// Through the host's backend ops; differentiable in sigmas and rgbs (the backward op gives
// no gradient to deltas and ts; the weights are not differentiable). Throws
// Error(UNIMPLEMENTED) on a host without run_op and the backend's error when the op fails.
inline Composite composite_op(const sdk::Host& host, const at::Tensor& sigmas, const at::Tensor& rgbs,
                              const at::Tensor& deltas, const at::Tensor& ts) {
  GENLAB_CHECK(host.can_run_ops(), GENLAB_ERROR_UNIMPLEMENTED,
               "the host offers no run_op (ABI older than 1.3): volume_composite cannot run on a backend");
  const auto out = detail::CompositeFunction::apply(sigmas, rgbs, deltas, ts, host.api());
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace genlab::nerf
