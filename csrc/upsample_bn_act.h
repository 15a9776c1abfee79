// ganforge::upsample_bn_act: ConvTranspose2d (ATen) -> BatchNorm2d -> LeakyReLU.
//
// The transposed convolution and its backward are ATen calls shared by every device;
// each device supplies four kernels for the batch-norm + activation part:
//   batch_stats      y -> per-channel (mean, biased var), one read of y
//   forward_apply    out = leaky_relu((y - mean) * gamma / sqrt(var + eps) + beta), one pass
//   backward_reduce  per-channel (sum dz, sum dz * (y - mean)), dz = grad_out * act'(z)
//   backward_apply   grad_y from the above, one pass
// Statistics and gamma/beta are in the accumulation dtype: float64 for float64 inputs,
// float32 otherwise.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <array>
#include <optional>
#include <tuple>

namespace ganforge {

struct BnActKernels {
  std::tuple<at::Tensor, at::Tensor> (*batch_stats)(const at::Tensor& y);
  at::Tensor (*forward_apply)(const at::Tensor& y, const at::Tensor& mean, const at::Tensor& var,
                              const at::Tensor& gamma, const at::Tensor& beta, double eps,
                              double slope);
  std::tuple<at::Tensor, at::Tensor> (*backward_reduce)(
      const at::Tensor& grad_out, const at::Tensor& y, const at::Tensor& mean,
      const at::Tensor& var, const at::Tensor& gamma, const at::Tensor& beta, double eps,
      double slope);
  at::Tensor (*backward_apply)(const at::Tensor& grad_out, const at::Tensor& y,
                               const at::Tensor& mean, const at::Tensor& var,
                               const at::Tensor& gamma, const at::Tensor& beta,
                               const at::Tensor& sum_dz, const at::Tensor& sum_dz_xmu,
                               double eps, double slope, bool training);
};

// The batch-norm + activation part alone, training mode: returns (out, mean, var).
std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_forward(
    const BnActKernels& kernels, const at::Tensor& y, const at::Tensor& gamma,
    const at::Tensor& beta, double eps, double negative_slope);

// Returns (grad_y, grad_gamma, grad_beta) of bn_act_forward.
std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_backward(
    const BnActKernels& kernels, const at::Tensor& grad_out, const at::Tensor& y,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& mean,
    const at::Tensor& var, double eps, double negative_slope);

// Returns (out, conv_out, mean, var). Training when running_mean/running_var are absent:
// mean/var are the batch statistics; otherwise they are the running statistics.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> upsample_bn_act_forward(
    const BnActKernels& kernels, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& gamma, const at::Tensor& beta,
    const std::optional<at::Tensor>& running_mean, const std::optional<at::Tensor>& running_var,
    c10::IntArrayRef stride, c10::IntArrayRef padding, double eps, double negative_slope);

// Returns (grad_input, grad_weight, grad_gamma, grad_beta); an entry whose output_mask is
// false is an empty tensor.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> upsample_bn_act_backward(
    const BnActKernels& kernels, const at::Tensor& grad_out, const at::Tensor& input,
    const at::Tensor& weight, const at::Tensor& gamma, const at::Tensor& beta,
    const at::Tensor& conv_out, const at::Tensor& mean, const at::Tensor& var, bool training,
    c10::IntArrayRef stride, c10::IntArrayRef padding, double eps, double negative_slope,
    std::array<bool, 4> output_mask);

// The layout the op produces: the input's suggested memory format, as eager convolution
// and batch norm use it (channels_last strides give channels_last even where size-1
// dimensions make the tensor plainly contiguous too), contiguous otherwise. The fake kernel
// in Python applies the same rule.
at::MemoryFormat output_memory_format(const at::Tensor& input);

// Checks shared by the device kernels.
void check_bn_act_operands(const at::Tensor& y, const at::Tensor& stat, const char* what);

}  // namespace ganforge
