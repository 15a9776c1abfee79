// CUDA kernels for the batch-norm + LeakyReLU part of ganforge::upsample_bn_act.
//
// Reductions (batch statistics; backward sums) run in two launches: a partial-sum kernel
// over a (channel, slice) grid writes per-block sums to a workspace, and a per-channel
// kernel adds the slices. NCHW blocks walk one channel's N*H*W values; channels-last
// blocks are 32 channels wide (coalesced along C) and 8 pixels tall. The element-wise
// passes are grid-stride loops. Accumulation is in float32 for float32/float16/bfloat16
// (float64 for float64). Statistics are shifted sums (values minus the channel's first
// value), so a large mean does not cancel the variance away.
#include "../upsample_bn_act.h"

#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>

namespace ganforge {
namespace {

constexpr int kThreads = 256;
constexpr int kChannelTile = 32;  // channels-last block: kChannelTile x kPixelTile threads
constexpr int kPixelTile = 8;
constexpr int kMaxSlices = 64;

template <typename acc_t>
struct TwoSums {
  acc_t a, b;
};

struct Geometry {
  int64_t N, C, HW;
  bool channels_last;
};

Geometry geometry(const at::Tensor& y) {
  return {y.size(0), y.size(1), y.size(2) * y.size(3),
          output_memory_format(y) == at::MemoryFormat::ChannelsLast};
}

template <typename acc_t>
__device__ inline acc_t act_grad(acc_t z, acc_t slope) {
  return z > acc_t(0) ? acc_t(1) : slope;
}

// Terms summed per channel. begin(c) loads the channel's constants; term(i) gives the two
// summands of element i.
template <typename scalar_t, typename acc_t>
struct ShiftedMoments {
  const scalar_t* y;
  int64_t shift_stride;  // the channel's first element is y[c * shift_stride]
  acc_t shift;
  __device__ void begin(int64_t c) { shift = static_cast<acc_t>(y[c * shift_stride]); }
  __device__ TwoSums<acc_t> term(int64_t i) const {
    const acc_t d = static_cast<acc_t>(y[i]) - shift;
    return {d, d * d};
  }
};

template <typename scalar_t, typename acc_t>
struct GradMoments {
  const scalar_t* grad;
  const scalar_t* y;
  const acc_t *mean, *var, *gamma, *beta;
  acc_t eps, slope;
  acc_t m, scale, shift;
  __device__ void begin(int64_t c) {
    m = mean[c];
    scale = gamma[c] / sqrt(var[c] + eps);
    shift = beta[c];
  }
  __device__ TwoSums<acc_t> term(int64_t i) const {
    const acc_t xm = static_cast<acc_t>(y[i]) - m;
    const acc_t dz = static_cast<acc_t>(grad[i]) * act_grad(xm * scale + shift, slope);
    return {dz, dz * xm};
  }
};

// grid (C, slices), kThreads threads; partial[(c * slices + s) * 2 + {0, 1}].
template <typename acc_t, typename Terms>
__global__ void nchw_partial_sums(Terms terms, int64_t N, int64_t C, int64_t HW, acc_t* partial) {
  __shared__ acc_t shared_a[kThreads];
  __shared__ acc_t shared_b[kThreads];
  const int64_t c = blockIdx.x;
  const int64_t slices = gridDim.y;
  terms.begin(c);
  acc_t a = 0, b = 0;
  const int64_t count = N * HW;
  for (int64_t e = blockIdx.y * int64_t(kThreads) + threadIdx.x; e < count;
       e += slices * kThreads) {
    const int64_t n = e / HW;
    const auto t = terms.term((n * C + c) * HW + (e - n * HW));
    a += t.a;
    b += t.b;
  }
  shared_a[threadIdx.x] = a;
  shared_b[threadIdx.x] = b;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      shared_a[threadIdx.x] += shared_a[threadIdx.x + stride];
      shared_b[threadIdx.x] += shared_b[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partial[(c * slices + blockIdx.y) * 2] = shared_a[0];
    partial[(c * slices + blockIdx.y) * 2 + 1] = shared_b[0];
  }
}

// grid (ceil(C / kChannelTile), slices), threads (kChannelTile, kPixelTile).
template <typename acc_t, typename Terms>
__global__ void channels_last_partial_sums(Terms terms, int64_t rows, int64_t C, acc_t* partial) {
  __shared__ acc_t shared_a[kPixelTile][kChannelTile];
  __shared__ acc_t shared_b[kPixelTile][kChannelTile];
  const int64_t c = blockIdx.x * int64_t(kChannelTile) + threadIdx.x;
  const int64_t slices = gridDim.y;
  acc_t a = 0, b = 0;
  if (c < C) {
    terms.begin(c);
    for (int64_t r = blockIdx.y * int64_t(kPixelTile) + threadIdx.y; r < rows;
         r += slices * kPixelTile) {
      const auto t = terms.term(r * C + c);
      a += t.a;
      b += t.b;
    }
  }
  shared_a[threadIdx.y][threadIdx.x] = a;
  shared_b[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  for (int stride = kPixelTile / 2; stride > 0; stride /= 2) {
    if (threadIdx.y < stride) {
      shared_a[threadIdx.y][threadIdx.x] += shared_a[threadIdx.y + stride][threadIdx.x];
      shared_b[threadIdx.y][threadIdx.x] += shared_b[threadIdx.y + stride][threadIdx.x];
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && c < C) {
    partial[(c * slices + blockIdx.y) * 2] = shared_a[0][threadIdx.x];
    partial[(c * slices + blockIdx.y) * 2 + 1] = shared_b[0][threadIdx.x];
  }
}

// One thread per channel adds the slices. With a shift (statistics), the sums become the
// mean and biased variance; without, they are written as they are.
template <typename scalar_t, typename acc_t>
__global__ void finish_sums(const acc_t* partial, int64_t slices, int64_t C,
                            const scalar_t* shift_source, int64_t shift_stride, acc_t count,
                            acc_t* out_a, acc_t* out_b) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) {
    return;
  }
  acc_t a = 0, b = 0;
  for (int64_t s = 0; s < slices; ++s) {
    a += partial[(c * slices + s) * 2];
    b += partial[(c * slices + s) * 2 + 1];
  }
  if (shift_source != nullptr) {
    const acc_t d = a / count;
    out_a[c] = static_cast<acc_t>(shift_source[c * shift_stride]) + d;
    const acc_t var = b / count - d * d;
    out_b[c] = var > acc_t(0) ? var : acc_t(0);
  } else {
    out_a[c] = a;
    out_b[c] = b;
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Per-channel sums of the two terms over y's layout; with shift_source, mean and variance.
template <typename scalar_t, typename acc_t, typename Terms>
void channel_sums(const Geometry& g, Terms terms, const scalar_t* shift_source,
                  const at::Tensor& out_a, const at::Tensor& out_b) {
  const auto stream = at::cuda::getCurrentCUDAStream();
  const int64_t rows = g.N * g.HW;
  int64_t slices;
  at::Tensor partial;
  if (g.channels_last) {
    slices = std::clamp<int64_t>(ceil_div(rows, int64_t(kPixelTile) * 64), 1, kMaxSlices);
    partial = at::empty({g.C, slices, 2}, out_a.options());
    const dim3 grid(static_cast<unsigned>(ceil_div(g.C, kChannelTile)), static_cast<unsigned>(slices));
    channels_last_partial_sums<acc_t><<<grid, dim3(kChannelTile, kPixelTile), 0, stream>>>(
        terms, rows, g.C, partial.data_ptr<acc_t>());
  } else {
    slices = std::clamp<int64_t>(ceil_div(rows, int64_t(kThreads) * 16), 1, kMaxSlices);
    partial = at::empty({g.C, slices, 2}, out_a.options());
    const dim3 grid(static_cast<unsigned>(g.C), static_cast<unsigned>(slices));
    nchw_partial_sums<acc_t><<<grid, kThreads, 0, stream>>>(terms, g.N, g.C, g.HW,
                                                            partial.data_ptr<acc_t>());
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  finish_sums<scalar_t, acc_t><<<static_cast<unsigned>(ceil_div(g.C, kThreads)), kThreads, 0, stream>>>(
      partial.data_ptr<acc_t>(), slices, g.C, shift_source, g.channels_last ? 1 : g.HW,
      static_cast<acc_t>(rows), out_a.data_ptr<acc_t>(), out_b.data_ptr<acc_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <bool kChannelsLast>
__device__ inline int64_t channel_of(int64_t i, int64_t C, int64_t HW) {
  return kChannelsLast ? i % C : (i / HW) % C;
}

template <typename scalar_t, typename acc_t, bool kChannelsLast>
__global__ void forward_apply_kernel(const scalar_t* y, scalar_t* out, const acc_t* mean,
                                     const acc_t* var, const acc_t* gamma, const acc_t* beta,
                                     acc_t eps, acc_t slope, int64_t numel, int64_t C, int64_t HW) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = channel_of<kChannelsLast>(i, C, HW);
    const acc_t z = (static_cast<acc_t>(y[i]) - mean[c]) * (gamma[c] / sqrt(var[c] + eps)) + beta[c];
    out[i] = static_cast<scalar_t>(z > acc_t(0) ? z : z * slope);
  }
}

// grad_y = k * (dz - sum_dz / n - (x - mean) * invstd^2 * sum_dz_xmu / n), or k * dz in eval,
// with k = gamma * invstd.
template <typename scalar_t, typename acc_t, bool kChannelsLast>
__global__ void backward_apply_kernel(const scalar_t* grad, const scalar_t* y, scalar_t* grad_y,
                                      const acc_t* mean, const acc_t* var, const acc_t* gamma,
                                      const acc_t* beta, const acc_t* sum_dz,
                                      const acc_t* sum_dz_xmu, acc_t eps, acc_t slope,
                                      acc_t count, bool training, int64_t numel, int64_t C,
                                      int64_t HW) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = channel_of<kChannelsLast>(i, C, HW);
    const acc_t invstd = acc_t(1) / sqrt(var[c] + eps);
    const acc_t k = gamma[c] * invstd;
    const acc_t xm = static_cast<acc_t>(y[i]) - mean[c];
    const acc_t dz = static_cast<acc_t>(grad[i]) * act_grad(xm * k + beta[c], slope);
    const acc_t g = training
                        ? k * (dz - sum_dz[c] / count - xm * invstd * invstd * sum_dz_xmu[c] / count)
                        : k * dz;
    grad_y[i] = static_cast<scalar_t>(g);
  }
}

unsigned elementwise_blocks(int64_t numel) {
  const int64_t per_sm = 2048 / kThreads;
  const int64_t limit = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * per_sm * 4;
  return static_cast<unsigned>(std::clamp<int64_t>(ceil_div(numel, kThreads), 1, limit));
}

void check_cuda_input(const at::Tensor& y) {
  TORCH_CHECK(y.is_cuda(), "ganforge CUDA kernel got a tensor on ", y.device());
}

at::Tensor acc_empty(const at::Tensor& y) {
  const auto acc = y.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  return at::empty({y.size(1)}, y.options().dtype(acc));
}

std::tuple<at::Tensor, at::Tensor> batch_stats_cuda(const at::Tensor& y) {
  check_cuda_input(y);
  const c10::cuda::CUDAGuard guard(y.device());
  const Geometry g = geometry(y);
  at::Tensor mean = acc_empty(y), var = acc_empty(y);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "ganforge_batch_stats_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, true>;
    const scalar_t* data = y.const_data_ptr<scalar_t>();
    ShiftedMoments<scalar_t, acc_t> terms{data, g.channels_last ? 1 : g.HW, acc_t(0)};
    channel_sums<scalar_t, acc_t>(g, terms, data, mean, var);
  });
  return {mean, var};
}

at::Tensor forward_apply_cuda(const at::Tensor& y, const at::Tensor& mean, const at::Tensor& var,
                              const at::Tensor& gamma, const at::Tensor& beta, double eps,
                              double slope) {
  check_cuda_input(y);
  for (const auto* t : {&mean, &var, &gamma, &beta}) {
    check_bn_act_operands(y, *t, "a per-channel operand");
  }
  const c10::cuda::CUDAGuard guard(y.device());
  const Geometry g = geometry(y);
  at::Tensor out = at::empty_like(y);
  const int64_t numel = y.numel();
  if (numel == 0) {
    return out;
  }
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "ganforge_forward_apply_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, true>;
    const auto launch = [&](auto kernel) {
      kernel<<<elementwise_blocks(numel), kThreads, 0, stream>>>(
          y.const_data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), mean.const_data_ptr<acc_t>(),
          var.const_data_ptr<acc_t>(), gamma.const_data_ptr<acc_t>(), beta.const_data_ptr<acc_t>(),
          static_cast<acc_t>(eps), static_cast<acc_t>(slope), numel, g.C, g.HW);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    if (g.channels_last) {
      launch(forward_apply_kernel<scalar_t, acc_t, true>);
    } else {
      launch(forward_apply_kernel<scalar_t, acc_t, false>);
    }
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> backward_reduce_cuda(const at::Tensor& grad_out,
                                                        const at::Tensor& y, const at::Tensor& mean,
                                                        const at::Tensor& var,
                                                        const at::Tensor& gamma,
                                                        const at::Tensor& beta, double eps,
                                                        double slope) {
  check_cuda_input(y);
  const c10::cuda::CUDAGuard guard(y.device());
  const Geometry g = geometry(y);
  at::Tensor sum_dz = acc_empty(y), sum_dz_xmu = acc_empty(y);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "ganforge_backward_reduce_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, true>;
    GradMoments<scalar_t, acc_t> terms{grad_out.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(),
                                       mean.const_data_ptr<acc_t>(), var.const_data_ptr<acc_t>(),
                                       gamma.const_data_ptr<acc_t>(), beta.const_data_ptr<acc_t>(),
                                       static_cast<acc_t>(eps), static_cast<acc_t>(slope),
                                       acc_t(0), acc_t(0), acc_t(0)};
    channel_sums<scalar_t, acc_t>(g, terms, static_cast<const scalar_t*>(nullptr), sum_dz, sum_dz_xmu);
  });
  return {sum_dz, sum_dz_xmu};
}

at::Tensor backward_apply_cuda(const at::Tensor& grad_out, const at::Tensor& y,
                               const at::Tensor& mean, const at::Tensor& var,
                               const at::Tensor& gamma, const at::Tensor& beta,
                               const at::Tensor& sum_dz, const at::Tensor& sum_dz_xmu, double eps,
                               double slope, bool training) {
  check_cuda_input(y);
  const c10::cuda::CUDAGuard guard(y.device());
  const Geometry g = geometry(y);
  at::Tensor grad_y = at::empty_like(y);
  const int64_t numel = y.numel();
  if (numel == 0) {
    return grad_y;
  }
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, y.scalar_type(), "ganforge_backward_apply_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, true>;
    const auto launch = [&](auto kernel) {
      kernel<<<elementwise_blocks(numel), kThreads, 0, stream>>>(
          grad_out.const_data_ptr<scalar_t>(), y.const_data_ptr<scalar_t>(),
          grad_y.data_ptr<scalar_t>(), mean.const_data_ptr<acc_t>(), var.const_data_ptr<acc_t>(),
          gamma.const_data_ptr<acc_t>(), beta.const_data_ptr<acc_t>(),
          sum_dz.const_data_ptr<acc_t>(), sum_dz_xmu.const_data_ptr<acc_t>(),
          static_cast<acc_t>(eps), static_cast<acc_t>(slope),
          static_cast<acc_t>(numel / g.C), training, numel, g.C, g.HW);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    if (g.channels_last) {
      launch(backward_apply_kernel<scalar_t, acc_t, true>);
    } else {
      launch(backward_apply_kernel<scalar_t, acc_t, false>);
    }
  });
  return grad_y;
}

const BnActKernels kCudaKernels{batch_stats_cuda, forward_apply_cuda, backward_reduce_cuda,
                                backward_apply_cuda};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cuda(
    const at::Tensor& input, const at::Tensor& weight, const at::Tensor& gamma,
    const at::Tensor& beta, const std::optional<at::Tensor>& running_mean,
    const std::optional<at::Tensor>& running_var, c10::IntArrayRef stride,
    c10::IntArrayRef padding, double eps, double negative_slope) {
  const c10::cuda::CUDAGuard guard(input.device());
  return upsample_bn_act_forward(kCudaKernels, input, weight, gamma, beta, running_mean,
                                 running_var, stride, padding, eps, negative_slope);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& conv_out,
    const at::Tensor& mean, const at::Tensor& var, bool training, c10::IntArrayRef stride,
    c10::IntArrayRef padding, double eps, double negative_slope, std::array<bool, 4> output_mask) {
  const c10::cuda::CUDAGuard guard(input.device());
  return upsample_bn_act_backward(kCudaKernels, grad_out, input, weight, gamma, beta, conv_out,
                                  mean, var, training, stride, padding, eps, negative_slope,
                                  output_mask);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_cuda(const at::Tensor& y,
                                                          const at::Tensor& gamma,
                                                          const at::Tensor& beta, double eps,
                                                          double negative_slope) {
  const c10::cuda::CUDAGuard guard(y.device());
  return bn_act_forward(kCudaKernels, y, gamma, beta, eps, negative_slope);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_backward_cuda(
    const at::Tensor& grad_out, const at::Tensor& y, const at::Tensor& gamma,
    const at::Tensor& beta, const at::Tensor& mean, const at::Tensor& var, double eps,
    double negative_slope) {
  const c10::cuda::CUDAGuard guard(y.device());
  return bn_act_backward(kCudaKernels, grad_out, y, gamma, beta, mean, var, eps, negative_slope);
}

}  // namespace
}  // namespace ganforge

TORCH_LIBRARY_IMPL(ganforge, CUDA, m) {
  m.impl("upsample_bn_act", &ganforge::forward_cuda);
  m.impl("upsample_bn_act_backward", &ganforge::backward_cuda);
  m.impl("bn_act", &ganforge::bn_act_cuda);
  m.impl("bn_act_backward", &ganforge::bn_act_backward_cuda);
}
