// Autograd of the ganforge ops, in C++: registered for the Autograd key, so a fused block's
// forward and backward never pass through Python (the Python rule cost about 60 us per
// forward + backward, measured on 2 CPU cores; that is a third of the BN+activation step at
// DCGAN's 4x4 block).
//
// The backward calls the op's backward kernel below autograd. Under create_graph=True it
// calls it through the dispatcher instead, where the backward op's own autograd rule
// (registered from Python) refuses a double backward with a clear message.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <array>
#include <optional>
#include <tuple>
#include <vector>

namespace ganforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Tensor = at::Tensor;

template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

using BnActSignature = std::tuple<Tensor, Tensor, Tensor>(const Tensor&, const Tensor&,
                                                         const Tensor&, double, double);
using BnActBackwardSignature = std::tuple<Tensor, Tensor, Tensor>(
    const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
    double, double);
using UpsampleSignature = std::tuple<Tensor, Tensor, Tensor, Tensor>(
    const Tensor&, const Tensor&, const Tensor&, const Tensor&, const std::optional<Tensor>&,
    const std::optional<Tensor>&, c10::IntArrayRef, c10::IntArrayRef, double, double);
using UpsampleBackwardSignature = std::tuple<Tensor, Tensor, Tensor, Tensor>(
    const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
    const Tensor&, const Tensor&, bool, c10::IntArrayRef, c10::IntArrayRef, double, double,
    std::array<bool, 4>);

// Runs a backward kernel: below autograd normally, through autograd under create_graph.
template <typename Signature, typename... Args>
auto call_backward(const c10::TypedOperatorHandle<Signature>& op, Args&&... args) {
  if (torch::autograd::GradMode::is_enabled()) {
    return op.call(std::forward<Args>(args)...);
  }
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(std::forward<Args>(args)...);
}

Tensor if_wanted(bool wanted, const Tensor& grad) { return wanted ? grad : Tensor(); }

class BnActFunction : public torch::autograd::Function<BnActFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& input, const Tensor& gamma,
                               const Tensor& beta, double eps, double negative_slope) {
    static const auto op = find_op<BnActSignature>("ganforge::bn_act");
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [out, mean, var] = op.call(input, gamma, beta, eps, negative_slope);
    ctx->save_for_backward({input, gamma, beta, mean, var});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["negative_slope"] = negative_slope;
    ctx->mark_non_differentiable({mean, var});
    // No zero-filled gradient for the statistics: an undefined grad_out means no gradient.
    ctx->set_materialize_grads(false);
    return {out, mean, var};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) {
      return {Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
    }
    static const auto op = find_op<BnActBackwardSignature>("ganforge::bn_act_backward");
    const auto saved = ctx->get_saved_variables();
    auto [grad_input, grad_gamma, grad_beta] = call_backward(
        op, grads[0], saved[0], saved[1], saved[2], saved[3], saved[4],
        ctx->saved_data["eps"].toDouble(), ctx->saved_data["negative_slope"].toDouble());
    return {if_wanted(ctx->needs_input_grad(0), grad_input),
            if_wanted(ctx->needs_input_grad(1), grad_gamma),
            if_wanted(ctx->needs_input_grad(2), grad_beta), Tensor(), Tensor()};
  }
};

class UpsampleBnActFunction : public torch::autograd::Function<UpsampleBnActFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& input, const Tensor& weight,
                               const Tensor& gamma, const Tensor& beta,
                               const std::optional<Tensor>& running_mean,
                               const std::optional<Tensor>& running_var, c10::IntArrayRef stride,
                               c10::IntArrayRef padding, double eps, double negative_slope) {
    static const auto op = find_op<UpsampleSignature>("ganforge::upsample_bn_act");
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [out, conv_out, mean, var] = op.call(input, weight, gamma, beta, running_mean,
                                              running_var, stride, padding, eps, negative_slope);
    ctx->save_for_backward({input, weight, gamma, beta, conv_out, mean, var});
    ctx->saved_data["training"] = !running_mean.has_value();
    ctx->saved_data["stride"] = stride.vec();
    ctx->saved_data["padding"] = padding.vec();
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["negative_slope"] = negative_slope;
    ctx->mark_non_differentiable({conv_out, mean, var});
    ctx->set_materialize_grads(false);
    return {out, conv_out, mean, var};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // input, weight, gamma, beta are the first four edges; running statistics never need one.
    variable_list none(10);
    if (!grads[0].defined()) {
      return none;
    }
    static const auto op = find_op<UpsampleBackwardSignature>("ganforge::upsample_bn_act_backward");
    const std::array<bool, 4> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      ctx->needs_input_grad(2), ctx->needs_input_grad(3)};
    const auto saved = ctx->get_saved_variables();
    const auto stride = ctx->saved_data["stride"].toIntVector();
    const auto padding = ctx->saved_data["padding"].toIntVector();
    auto [grad_input, grad_weight, grad_gamma, grad_beta] = call_backward(
        op, grads[0], saved[0], saved[1], saved[2], saved[3], saved[4], saved[5], saved[6],
        ctx->saved_data["training"].toBool(), stride, padding, ctx->saved_data["eps"].toDouble(),
        ctx->saved_data["negative_slope"].toDouble(), mask);
    none[0] = if_wanted(mask[0], grad_input);
    none[1] = if_wanted(mask[1], grad_weight);
    none[2] = if_wanted(mask[2], grad_gamma);
    none[3] = if_wanted(mask[3], grad_beta);
    return none;
  }
};

std::tuple<Tensor, Tensor, Tensor> bn_act_autograd(const Tensor& input, const Tensor& gamma,
                                                   const Tensor& beta, double eps,
                                                   double negative_slope) {
  const auto out = BnActFunction::apply(input, gamma, beta, eps, negative_slope);
  return {out[0], out[1], out[2]};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> upsample_bn_act_autograd(
    const Tensor& input, const Tensor& weight, const Tensor& gamma, const Tensor& beta,
    const std::optional<Tensor>& running_mean, const std::optional<Tensor>& running_var,
    c10::IntArrayRef stride, c10::IntArrayRef padding, double eps, double negative_slope) {
  const auto out = UpsampleBnActFunction::apply(input, weight, gamma, beta, running_mean,
                                                running_var, stride, padding, eps, negative_slope);
  return {out[0], out[1], out[2], out[3]};
}

}  // namespace
}  // namespace ganforge

TORCH_LIBRARY_IMPL(ganforge, Autograd, m) {
  m.impl("bn_act", &ganforge::bn_act_autograd);
  m.impl("upsample_bn_act", &ganforge::upsample_bn_act_autograd);
}
