// Schema of the ganforge ops and the device-independent part of the fused block: the
// transposed convolution (ATen) around the device's batch-norm + activation kernels.
#include "upsample_bn_act.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace ganforge {

at::MemoryFormat output_memory_format(const at::Tensor& input) {
  return input.dim() == 4 ? input.suggest_memory_format() : at::MemoryFormat::Contiguous;
}

void check_bn_act_operands(const at::Tensor& y, const at::Tensor& stat, const char* what) {
  TORCH_CHECK(stat.dim() == 1 && stat.size(0) == y.size(1), "ganforge::upsample_bn_act: ", what,
              " must have one entry per channel (", y.size(1), "), got shape ", stat.sizes());
  TORCH_CHECK(stat.is_contiguous() && stat.device() == y.device(),
              "ganforge::upsample_bn_act: ", what, " must be contiguous and on ", y.device());
}

namespace {

at::ScalarType accumulation_dtype(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// t as a contiguous tensor of dtype; t itself (no dispatcher round trip) when it already is.
at::Tensor as_layout(const at::Tensor& t, at::ScalarType dtype,
                     at::MemoryFormat format = at::MemoryFormat::Contiguous) {
  if (t.scalar_type() == dtype && t.is_contiguous(format)) {
    return t;
  }
  return t.to(dtype).contiguous(format);
}

void check_operands(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& gamma,
                    const at::Tensor& beta, c10::IntArrayRef stride, c10::IntArrayRef padding) {
  TORCH_CHECK(input.dim() == 4, "ganforge::upsample_bn_act: input must be 4-D (N, C, H, W), got ",
              input.sizes());
  TORCH_CHECK(weight.dim() == 4 && weight.size(0) == input.size(1),
              "ganforge::upsample_bn_act: weight must be (in_channels, out_channels, kH, kW) "
              "with in_channels = input.size(1); got ",
              weight.sizes(), " for input ", input.sizes());
  TORCH_CHECK(input.scalar_type() == weight.scalar_type(),
              "ganforge::upsample_bn_act: input and weight dtypes differ (", input.scalar_type(),
              " vs ", weight.scalar_type(), ")");
  TORCH_CHECK(gamma.numel() == weight.size(1) && beta.numel() == weight.size(1),
              "ganforge::upsample_bn_act: gamma and beta need out_channels = ", weight.size(1),
              " entries");
  TORCH_CHECK(stride.size() == 2 && padding.size() == 2,
              "ganforge::upsample_bn_act: stride and padding take two values");
}

// A backward's operands in their kernel layout and accumulation dtype, and the two per-channel
// sums of the backward reduction: shared by bn_act_backward and upsample_bn_act_backward.
struct BackwardSums {
  at::Tensor y, grad, gamma, beta, mean, var, sum_dz, sum_dz_xmu;
};

BackwardSums reduce_backward(const BnActKernels& kernels, const at::Tensor& grad_out,
                             const at::Tensor& y_in, at::MemoryFormat format,
                             const at::Tensor& gamma, const at::Tensor& beta,
                             const at::Tensor& mean, const at::Tensor& var, double eps,
                             double negative_slope) {
  const auto acc = accumulation_dtype(y_in);
  BackwardSums s;
  s.y = y_in.contiguous(format);
  s.grad = as_layout(grad_out, s.y.scalar_type(), format);
  s.gamma = as_layout(gamma, acc);
  s.beta = as_layout(beta, acc);
  s.mean = as_layout(mean, acc);
  s.var = as_layout(var, acc);
  std::tie(s.sum_dz, s.sum_dz_xmu) = kernels.backward_reduce(s.grad, s.y, s.mean, s.var, s.gamma,
                                                             s.beta, eps, negative_slope);
  return s;
}

at::Tensor apply_backward(const BnActKernels& kernels, const BackwardSums& s, double eps,
                          double negative_slope, bool training) {
  return kernels.backward_apply(s.grad, s.y, s.mean, s.var, s.gamma, s.beta, s.sum_dz,
                                s.sum_dz_xmu, eps, negative_slope, training);
}

at::Tensor grad_gamma(const BackwardSums& s, double eps, at::ScalarType dtype) {
  return as_layout(s.sum_dz_xmu * (s.var + eps).rsqrt(), dtype);
}

void check_values_per_channel(const at::Tensor& y) {
  const int64_t values_per_channel = y.numel() / std::max<int64_t>(y.size(1), 1);
  TORCH_CHECK(values_per_channel > 1,
              "Expected more than 1 value per channel when training, got input size ", y.sizes());
}

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_forward(
    const BnActKernels& kernels, const at::Tensor& y_in, const at::Tensor& gamma,
    const at::Tensor& beta, double eps, double negative_slope) {
  TORCH_CHECK(y_in.dim() == 4, "ganforge::bn_act: input must be 4-D (N, C, H, W), got ", y_in.sizes());
  const at::Tensor y = y_in.contiguous(output_memory_format(y_in));
  check_values_per_channel(y);
  const auto acc = accumulation_dtype(y);
  auto [mean, var] = kernels.batch_stats(y);
  at::Tensor out = kernels.forward_apply(y, mean, var, as_layout(gamma, acc),
                                         as_layout(beta, acc), eps, negative_slope);
  return {out, mean, var};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_backward(
    const BnActKernels& kernels, const at::Tensor& grad_out, const at::Tensor& y_in,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& mean,
    const at::Tensor& var, double eps, double negative_slope) {
  const BackwardSums sums = reduce_backward(kernels, grad_out, y_in, output_memory_format(y_in),
                                            gamma, beta, mean, var, eps, negative_slope);
  return {apply_backward(kernels, sums, eps, negative_slope, /*training=*/true),
          grad_gamma(sums, eps, gamma.scalar_type()), as_layout(sums.sum_dz, beta.scalar_type())};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> upsample_bn_act_forward(
    const BnActKernels& kernels, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& gamma, const at::Tensor& beta,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    c10::IntArrayRef stride, c10::IntArrayRef padding, double eps, double negative_slope) {
  check_operands(input, weight, gamma, beta, stride, padding);
  TORCH_CHECK(running_mean.has_value() == running_var.has_value(),
              "ganforge::upsample_bn_act: pass both running_mean and running_var or neither");
  const auto format = output_memory_format(input);
  const auto acc = accumulation_dtype(input);
  at::Tensor conv_out = at::conv_transpose2d(input, weight, {}, stride, padding).contiguous(format);
  const bool training = !running_mean.has_value();
  if (training) {
    check_values_per_channel(conv_out);
  }
  at::Tensor mean, var;
  if (training) {
    std::tie(mean, var) = kernels.batch_stats(conv_out);
  } else {
    // Copies: an op's outputs may not alias its inputs.
    mean = running_mean->to(acc, /*non_blocking=*/false, /*copy=*/true);
    var = running_var->to(acc, /*non_blocking=*/false, /*copy=*/true);
  }
  at::Tensor out = kernels.forward_apply(conv_out, mean, var, as_layout(gamma, acc),
                                         as_layout(beta, acc), eps, negative_slope);
  return {out, conv_out, mean, var};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> upsample_bn_act_backward(
    const BnActKernels& kernels, const at::Tensor& grad_out, const at::Tensor& input,
    const at::Tensor& weight, const at::Tensor& gamma, const at::Tensor& beta,
    const at::Tensor& conv_out, const at::Tensor& mean, const at::Tensor& var, bool training,
    c10::IntArrayRef stride, c10::IntArrayRef padding, double eps, double negative_slope,
    std::array<bool, 4> output_mask) {
  check_operands(input, weight, gamma, beta, stride, padding);
  TORCH_CHECK(grad_out.sizes() == conv_out.sizes(),
              "ganforge::upsample_bn_act_backward: grad_out has shape ", grad_out.sizes(),
              ", expected ", conv_out.sizes());
  const auto format = output_memory_format(input);
  const BackwardSums sums = reduce_backward(kernels, grad_out, conv_out, format, gamma, beta, mean,
                                            var, eps, negative_slope);
  const auto empty = [](const at::Tensor& like) { return at::empty({0}, like.options()); };
  at::Tensor grad_gamma_out = output_mask[2] ? grad_gamma(sums, eps, gamma.scalar_type()) : empty(gamma);
  at::Tensor grad_beta = output_mask[3] ? as_layout(sums.sum_dz, beta.scalar_type()) : empty(beta);
  at::Tensor grad_input = empty(input);
  at::Tensor grad_weight = empty(weight);
  if (output_mask[0] || output_mask[1]) {
    const at::Tensor grad_y = apply_backward(kernels, sums, eps, negative_slope, training);
    const int64_t no_dilation[2] = {1, 1};
    const int64_t no_output_padding[2] = {0, 0};
    auto conv_grads = at::convolution_backward(
        grad_y, input, weight, std::nullopt, stride, padding, no_dilation, /*transposed=*/true,
        no_output_padding, /*groups=*/1, {output_mask[0], output_mask[1], false});
    if (output_mask[0]) {
      grad_input = std::get<0>(conv_grads).contiguous(format);
    }
    if (output_mask[1]) {
      grad_weight = std::get<1>(conv_grads).contiguous();
    }
  }
  return {grad_input, grad_weight, grad_gamma_out, grad_beta};
}

}  // namespace ganforge

TORCH_LIBRARY(ganforge, m) {
  m.def(
      "upsample_bn_act(Tensor input, Tensor weight, Tensor gamma, Tensor beta, "
      "Tensor? running_mean, Tensor? running_var, int[2] stride, int[2] padding, float eps, "
      "float negative_slope) -> (Tensor out, Tensor conv_out, Tensor mean, Tensor var)");
  m.def(
      "upsample_bn_act_backward(Tensor grad_out, Tensor input, Tensor weight, Tensor gamma, "
      "Tensor beta, Tensor conv_out, Tensor mean, Tensor var, bool training, int[2] stride, "
      "int[2] padding, float eps, float negative_slope, bool[4] output_mask) "
      "-> (Tensor grad_input, Tensor grad_weight, Tensor grad_gamma, Tensor grad_beta)");
  m.def(
      "bn_act(Tensor input, Tensor gamma, Tensor beta, float eps, float negative_slope) "
      "-> (Tensor out, Tensor mean, Tensor var)");
  m.def(
      "bn_act_backward(Tensor grad_out, Tensor input, Tensor gamma, Tensor beta, Tensor mean, "
      "Tensor var, float eps, float negative_slope) "
      "-> (Tensor grad_input, Tensor grad_gamma, Tensor grad_beta)");
}
