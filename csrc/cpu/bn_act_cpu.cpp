// CPU kernels for the batch-norm + LeakyReLU part of ganforge::upsample_bn_act.
//
// NCHW: every (n, c) plane is a contiguous row of H*W values; statistics are gathered per
// channel (parallel over channels), the element-wise passes run over planes (parallel
// over N*C). Channels-last: every pixel is a contiguous row of C values; reductions keep
// one C-long partial per thread, element-wise passes run over pixels.
// Inner loops are plain contiguous loops so the compiler vectorizes them; row sums use
// kLanes independent accumulators so no floating-point reassociation is needed.
// Statistics are shifted sums: values minus the channel's first value, accumulated in
// float64 across rows, so a large mean does not cancel the variance away.
#include "../upsample_bn_act.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

namespace ganforge {
namespace {

constexpr int kLanes = 16;

// The row kernels are built for AVX-512, AVX2 and baseline x86-64 and picked at load time
// (GCC target_clones), so one binary uses the machine's vector width.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GANFORGE_ROW_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GANFORGE_ROW_KERNEL inline
#endif

bool is_channels_last(const at::Tensor& y) {
  return output_memory_format(y) == at::MemoryFormat::ChannelsLast;
}

void check_cpu_input(const at::Tensor& y) {
  TORCH_CHECK(y.device().is_cpu(), "ganforge CPU kernel got a tensor on ", y.device());
  TORCH_CHECK(y.scalar_type() == at::kFloat || y.scalar_type() == at::kDouble,
              "ganforge CPU kernel supports float32 and float64, got ", y.scalar_type());
}

// Per-channel coefficients of the normalization, in the input's dtype for the hot loops.
template <typename scalar_t>
struct Affine {
  std::vector<scalar_t> mean, scale, shift, invstd;
};

template <typename scalar_t, typename acc_t>
Affine<scalar_t> make_affine(const at::Tensor& mean, const at::Tensor& var, const at::Tensor& gamma,
                             const at::Tensor& beta, double eps) {
  const int64_t C = mean.numel();
  const acc_t* m = mean.data_ptr<acc_t>();
  const acc_t* v = var.data_ptr<acc_t>();
  const acc_t* g = gamma.data_ptr<acc_t>();
  const acc_t* b = beta.data_ptr<acc_t>();
  Affine<scalar_t> a{std::vector<scalar_t>(C), std::vector<scalar_t>(C), std::vector<scalar_t>(C),
                     std::vector<scalar_t>(C)};
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(v[c]) + eps);
    a.mean[c] = static_cast<scalar_t>(m[c]);
    a.invstd[c] = static_cast<scalar_t>(invstd);
    a.scale[c] = static_cast<scalar_t>(g[c] * invstd);
    a.shift[c] = static_cast<scalar_t>(b[c]);
  }
  return a;
}

// Branch-free selects; setup.py compiles with -fno-trapping-math so the compiler may turn
// them into vector blends (otherwise each element costs a mispredicted branch).
template <typename scalar_t>
inline scalar_t leaky(scalar_t z, scalar_t slope) {
  const scalar_t scaled = z * slope;
  return z > scalar_t(0) ? z : scaled;
}

// grad * act'(z), branch-free as above.
template <typename scalar_t>
inline scalar_t leaky_grad(scalar_t z, scalar_t grad, scalar_t slope) {
  const scalar_t scaled = grad * slope;
  return z > scalar_t(0) ? grad : scaled;
}

// Row kernels take everything by value or __restrict__ pointer: values captured by reference
// from an enclosing lambda may alias the output, which stops the loop from vectorizing.

// out = leaky((x - mean) * scale + shift) over a row of one channel (NCHW plane).
template <typename scalar_t>
GANFORGE_ROW_KERNEL void forward_plane(const scalar_t* __restrict__ in, scalar_t* __restrict__ out, int64_t len,
                          scalar_t mean, scalar_t scale, scalar_t shift, scalar_t slope) {
  for (int64_t i = 0; i < len; ++i) {
    out[i] = leaky((in[i] - mean) * scale + shift, slope);
  }
}

// The same over a channels-last pixel row, coefficients per channel.
template <typename scalar_t>
GANFORGE_ROW_KERNEL void forward_pixel(const scalar_t* __restrict__ in, scalar_t* __restrict__ out, int64_t C,
                          const scalar_t* __restrict__ mean, const scalar_t* __restrict__ scale,
                          const scalar_t* __restrict__ shift, scalar_t slope) {
  for (int64_t c = 0; c < C; ++c) {
    out[c] = leaky((in[c] - mean[c]) * scale[c] + shift[c], slope);
  }
}

// grad_y = k * (dz - c1 - (x - mean) * c2) over an NCHW plane.
template <typename scalar_t>
GANFORGE_ROW_KERNEL void backward_plane(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ in,
                           scalar_t* __restrict__ out, int64_t len, scalar_t mean, scalar_t scale,
                           scalar_t shift, scalar_t k, scalar_t c1, scalar_t c2, scalar_t slope) {
  for (int64_t i = 0; i < len; ++i) {
    const scalar_t xm = in[i] - mean;
    const scalar_t dz = leaky_grad(xm * scale + shift, grad[i], slope);
    out[i] = k * (dz - c1 - xm * c2);
  }
}

// kLanes running float sums per quantity (vectorizable without reassociation), added into
// float64 totals by flush(); callers flush every ~kFlushElements values so the float lanes
// never sum long runs. Short rows (4x4 planes) therefore cost no per-row reduction.
constexpr int64_t kFlushElements = 4096;

template <typename scalar_t>
struct LaneSums {
  scalar_t a1[kLanes] = {};
  scalar_t a2[kLanes] = {};
  double s1 = 0, s2 = 0;

  void flush() {
    for (int j = 0; j < kLanes; ++j) {
      s1 += a1[j];
      s2 += a2[j];
      a1[j] = 0;
      a2[j] = 0;
    }
  }
};

// Adds (x - shift) and (x - shift)^2 over one contiguous row.
template <typename scalar_t>
GANFORGE_ROW_KERNEL void shifted_moments(const scalar_t* __restrict__ row, int64_t len, scalar_t shift,
                            LaneSums<scalar_t>& sums) {
  scalar_t a1[kLanes], a2[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    a1[j] = sums.a1[j];
    a2[j] = sums.a2[j];
  }
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const scalar_t d = row[i + j] - shift;
      a1[j] += d;
      a2[j] += d * d;
    }
  }
  for (int j = 0; j < kLanes; ++j) {
    sums.a1[j] = a1[j];
    sums.a2[j] = a2[j];
  }
  for (; i < len; ++i) {
    const double d = static_cast<double>(row[i] - shift);
    sums.s1 += d;
    sums.s2 += d * d;
  }
}

// Adds dz and dz * (x - mean) over one contiguous row, dz = grad * act'(z).
template <typename scalar_t>
GANFORGE_ROW_KERNEL void grad_moments(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ row,
                         int64_t len, scalar_t mean, scalar_t scale, scalar_t shift,
                         scalar_t slope, LaneSums<scalar_t>& sums) {
  scalar_t a1[kLanes], a2[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    a1[j] = sums.a1[j];
    a2[j] = sums.a2[j];
  }
  int64_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const scalar_t xm = row[i + j] - mean;
      const scalar_t dz = leaky_grad(xm * scale + shift, grad[i + j], slope);
      a1[j] += dz;
      a2[j] += dz * xm;
    }
  }
  for (int j = 0; j < kLanes; ++j) {
    sums.a1[j] = a1[j];
    sums.a2[j] = a2[j];
  }
  for (; i < len; ++i) {
    const scalar_t xm = row[i] - mean;
    const scalar_t dz = leaky_grad(xm * scale + shift, grad[i], slope);
    sums.s1 += dz;
    sums.s2 += static_cast<double>(dz) * xm;
  }
}

int64_t rows_per_flush(int64_t row_length) {
  return std::max<int64_t>(1, kFlushElements / std::max<int64_t>(row_length, 1));
}

// Channels-last reduction: per-thread C-long float64 partials, summed at the end.
// row_sums(begin, end, s1, s2) adds rows [begin, end) into s1[C], s2[C].
template <typename RowSums>
void channels_last_reduce(int64_t rows, int64_t C, double* out1, double* out2,
                          const RowSums& row_sums) {
  const int threads = at::get_num_threads();
  std::vector<double> partial(static_cast<size_t>(threads) * 2 * C, 0.0);
  const int64_t grain = std::max<int64_t>(1, rows / (4 * threads));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    double* p = partial.data() + static_cast<size_t>(at::get_thread_num()) * 2 * C;
    row_sums(begin, end, p, p + C);
  });
  for (int64_t c = 0; c < C; ++c) {
    out1[c] = 0;
    out2[c] = 0;
  }
  for (int t = 0; t < threads; ++t) {
    const double* p = partial.data() + static_cast<size_t>(t) * 2 * C;
    for (int64_t c = 0; c < C; ++c) {
      out1[c] += p[c];
      out2[c] += p[C + c];
    }
  }
}

template <typename scalar_t>
void batch_stats_typed(const at::Tensor& y, at::Tensor& mean, at::Tensor& var) {
  const int64_t N = y.size(0), C = y.size(1), HW = y.size(2) * y.size(3);
  const scalar_t* data = y.const_data_ptr<scalar_t>();
  std::vector<double> s1(C), s2(C);
  std::vector<scalar_t> shift(C);
  const bool channels_last = is_channels_last(y);
  for (int64_t c = 0; c < C; ++c) {
    shift[c] = data[channels_last ? c : c * HW];
  }
  if (channels_last) {
    channels_last_reduce(N * HW, C, s1.data(), s2.data(),
                         [&](int64_t begin, int64_t end, double* p1, double* p2) {
                           for (int64_t r = begin; r < end; ++r) {
                             const scalar_t* row = data + r * C;
                             for (int64_t c = 0; c < C; ++c) {
                               const double d = static_cast<double>(row[c] - shift[c]);
                               p1[c] += d;
                               p2[c] += d * d;
                             }
                           }
                         });
  } else {
    at::parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
      const int64_t flush_every = rows_per_flush(HW);
      for (int64_t c = begin; c < end; ++c) {
        LaneSums<scalar_t> sums;
        for (int64_t n = 0; n < N; ++n) {
          shifted_moments(data + (n * C + c) * HW, HW, shift[c], sums);
          if ((n + 1) % flush_every == 0) {
            sums.flush();
          }
        }
        sums.flush();
        s1[c] = sums.s1;
        s2[c] = sums.s2;
      }
    });
  }
  using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
  acc_t* m = mean.data_ptr<acc_t>();
  acc_t* v = var.data_ptr<acc_t>();
  const double count = static_cast<double>(N * HW);
  for (int64_t c = 0; c < C; ++c) {
    const double d = s1[c] / count;
    m[c] = static_cast<acc_t>(shift[c] + d);
    v[c] = static_cast<acc_t>(std::max(s2[c] / count - d * d, 0.0));
  }
}

std::tuple<at::Tensor, at::Tensor> batch_stats_cpu(const at::Tensor& y) {
  check_cpu_input(y);
  const auto acc = y.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor mean = at::empty({y.size(1)}, y.options().dtype(acc));
  at::Tensor var = at::empty({y.size(1)}, y.options().dtype(acc));
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "ganforge_batch_stats_cpu",
                             [&] { batch_stats_typed<scalar_t>(y, mean, var); });
  return {mean, var};
}

template <typename scalar_t>
void forward_apply_typed(const at::Tensor& y, at::Tensor& out, const Affine<scalar_t>& a,
                         scalar_t slope) {
  const int64_t N = y.size(0), C = y.size(1), HW = y.size(2) * y.size(3);
  const scalar_t* in = y.const_data_ptr<scalar_t>();
  scalar_t* o = out.data_ptr<scalar_t>();
  if (is_channels_last(y)) {
    const scalar_t* mean = a.mean.data();
    const scalar_t* scale = a.scale.data();
    const scalar_t* shift = a.shift.data();
    at::parallel_for(0, N * HW, std::max<int64_t>(1, 16384 / C), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        forward_pixel(in + r * C, o + r * C, C, mean, scale, shift, slope);
      }
    });
  } else {
    at::parallel_for(0, N * C, std::max<int64_t>(1, 16384 / HW), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t c = p % C;
        forward_plane(in + p * HW, o + p * HW, HW, a.mean[c], a.scale[c], a.shift[c], slope);
      }
    });
  }
}

at::Tensor forward_apply_cpu(const at::Tensor& y, const at::Tensor& mean, const at::Tensor& var,
                             const at::Tensor& gamma, const at::Tensor& beta, double eps,
                             double slope) {
  check_cpu_input(y);
  for (const auto* t : {&mean, &var, &gamma, &beta}) {
    check_bn_act_operands(y, *t, "a per-channel operand");
  }
  at::Tensor out = at::empty_like(y);
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "ganforge_forward_apply_cpu", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    const auto a = make_affine<scalar_t, acc_t>(mean, var, gamma, beta, eps);
    forward_apply_typed<scalar_t>(y, out, a, static_cast<scalar_t>(slope));
  });
  return out;
}

template <typename scalar_t>
void backward_reduce_typed(const at::Tensor& grad, const at::Tensor& y, const Affine<scalar_t>& a,
                           scalar_t slope, double* sum_dz, double* sum_dz_xmu) {
  const int64_t N = y.size(0), C = y.size(1), HW = y.size(2) * y.size(3);
  const scalar_t* in = y.const_data_ptr<scalar_t>();
  const scalar_t* g = grad.const_data_ptr<scalar_t>();
  if (is_channels_last(y)) {
    const scalar_t* mean = a.mean.data();
    const scalar_t* scale = a.scale.data();
    const scalar_t* shift = a.shift.data();
    channels_last_reduce(N * HW, C, sum_dz, sum_dz_xmu,
                         [&](int64_t begin, int64_t end, double* p1, double* p2) {
                           for (int64_t r = begin; r < end; ++r) {
                             const scalar_t* row = in + r * C;
                             const scalar_t* grow = g + r * C;
                             for (int64_t c = 0; c < C; ++c) {
                               const scalar_t xm = row[c] - mean[c];
                               const scalar_t z = xm * scale[c] + shift[c];
                               const scalar_t dz = leaky_grad(z, grow[c], slope);
                               p1[c] += dz;
                               p2[c] += static_cast<double>(dz) * xm;
                             }
                           }
                         });
  } else {
    at::parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
      const int64_t flush_every = rows_per_flush(HW);
      for (int64_t c = begin; c < end; ++c) {
        LaneSums<scalar_t> sums;
        for (int64_t n = 0; n < N; ++n) {
          const int64_t offset = (n * C + c) * HW;
          grad_moments(g + offset, in + offset, HW, a.mean[c], a.scale[c], a.shift[c], slope, sums);
          if ((n + 1) % flush_every == 0) {
            sums.flush();
          }
        }
        sums.flush();
        sum_dz[c] = sums.s1;
        sum_dz_xmu[c] = sums.s2;
      }
    });
  }
}

std::tuple<at::Tensor, at::Tensor> backward_reduce_cpu(const at::Tensor& grad_out,
                                                       const at::Tensor& y, const at::Tensor& mean,
                                                       const at::Tensor& var,
                                                       const at::Tensor& gamma,
                                                       const at::Tensor& beta, double eps,
                                                       double slope) {
  check_cpu_input(y);
  const int64_t C = y.size(1);
  at::Tensor sums = at::empty({2, C}, y.options().dtype(at::kDouble));
  double* s = sums.data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "ganforge_backward_reduce_cpu", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    const auto a = make_affine<scalar_t, acc_t>(mean, var, gamma, beta, eps);
    backward_reduce_typed<scalar_t>(grad_out, y, a, static_cast<scalar_t>(slope), s, s + C);
  });
  const auto acc = y.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  sums = sums.to(acc);
  return {sums[0], sums[1]};
}

// grad_y = k * (dz - c1 - (x - mean) * c2) in training, k * dz in eval, per channel:
// k = gamma * invstd, c1 = mean of dz, c2 = invstd^2 * mean of dz * (x - mean).
template <typename scalar_t>
void backward_apply_typed(const at::Tensor& grad, const at::Tensor& y, at::Tensor& grad_y,
                          const Affine<scalar_t>& a, const std::vector<scalar_t>& k,
                          const std::vector<scalar_t>& c1, const std::vector<scalar_t>& c2,
                          scalar_t slope) {
  const int64_t N = y.size(0), C = y.size(1), HW = y.size(2) * y.size(3);
  const scalar_t* in = y.const_data_ptr<scalar_t>();
  const scalar_t* g = grad.const_data_ptr<scalar_t>();
  scalar_t* gy = grad_y.data_ptr<scalar_t>();
  if (is_channels_last(y)) {
    at::parallel_for(0, N * HW, std::max<int64_t>(1, 16384 / C), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const scalar_t* row = in + r * C;
        const scalar_t* grow = g + r * C;
        scalar_t* dst = gy + r * C;
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t xm = row[c] - a.mean[c];
          const scalar_t z = xm * a.scale[c] + a.shift[c];
          const scalar_t dz = leaky_grad(z, grow[c], slope);
          dst[c] = k[c] * (dz - c1[c] - xm * c2[c]);
        }
      }
    });
  } else {
    at::parallel_for(0, N * C, std::max<int64_t>(1, 16384 / HW), [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t c = p % C;
        backward_plane(g + p * HW, in + p * HW, gy + p * HW, HW, a.mean[c], a.scale[c],
                       a.shift[c], k[c], c1[c], c2[c], slope);
      }
    });
  }
}

at::Tensor backward_apply_cpu(const at::Tensor& grad_out, const at::Tensor& y,
                              const at::Tensor& mean, const at::Tensor& var,
                              const at::Tensor& gamma, const at::Tensor& beta,
                              const at::Tensor& sum_dz, const at::Tensor& sum_dz_xmu, double eps,
                              double slope, bool training) {
  check_cpu_input(y);
  at::Tensor grad_y = at::empty_like(y);
  const int64_t C = y.size(1);
  const double count = static_cast<double>(y.numel() / C);
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "ganforge_backward_apply_cpu", [&] {
    using acc_t = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;
    const auto a = make_affine<scalar_t, acc_t>(mean, var, gamma, beta, eps);
    const acc_t* sdz = sum_dz.data_ptr<acc_t>();
    const acc_t* sdzx = sum_dz_xmu.data_ptr<acc_t>();
    const acc_t* v = var.data_ptr<acc_t>();
    std::vector<scalar_t> k(C), c1(C, 0), c2(C, 0);
    for (int64_t c = 0; c < C; ++c) {
      k[c] = a.scale[c];
      if (training) {
        const double invvar = 1.0 / (static_cast<double>(v[c]) + eps);
        c1[c] = static_cast<scalar_t>(sdz[c] / count);
        c2[c] = static_cast<scalar_t>(invvar * sdzx[c] / count);
      }
    }
    backward_apply_typed<scalar_t>(grad_out, y, grad_y, a, k, c1, c2, static_cast<scalar_t>(slope));
  });
  return grad_y;
}

const BnActKernels kCpuKernels{batch_stats_cpu, forward_apply_cpu, backward_reduce_cpu,
                               backward_apply_cpu};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cpu(
    const at::Tensor& input, const at::Tensor& weight, const at::Tensor& gamma,
    const at::Tensor& beta, const std::optional<at::Tensor>& running_mean,
    const std::optional<at::Tensor>& running_var, c10::IntArrayRef stride,
    c10::IntArrayRef padding, double eps, double negative_slope) {
  return upsample_bn_act_forward(kCpuKernels, input, weight, gamma, beta, running_mean,
                                 running_var, stride, padding, eps, negative_slope);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& gamma, const at::Tensor& beta, const at::Tensor& conv_out,
    const at::Tensor& mean, const at::Tensor& var, bool training, c10::IntArrayRef stride,
    c10::IntArrayRef padding, double eps, double negative_slope, std::array<bool, 4> output_mask) {
  return upsample_bn_act_backward(kCpuKernels, grad_out, input, weight, gamma, beta, conv_out,
                                  mean, var, training, stride, padding, eps, negative_slope,
                                  output_mask);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_cpu(const at::Tensor& y,
                                                          const at::Tensor& gamma,
                                                          const at::Tensor& beta, double eps,
                                                          double negative_slope) {
  return bn_act_forward(kCpuKernels, y, gamma, beta, eps, negative_slope);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> bn_act_backward_cpu(
    const at::Tensor& grad_out, const at::Tensor& y, const at::Tensor& gamma,
    const at::Tensor& beta, const at::Tensor& mean, const at::Tensor& var, double eps,
    double negative_slope) {
  return bn_act_backward(kCpuKernels, grad_out, y, gamma, beta, mean, var, eps, negative_slope);
}

}  // namespace
}  // namespace ganforge

TORCH_LIBRARY_IMPL(ganforge, CPU, m) {
  m.impl("upsample_bn_act", &ganforge::forward_cpu);
  m.impl("upsample_bn_act_backward", &ganforge::backward_cpu);
  m.impl("bn_act", &ganforge::bn_act_cpu);
  m.impl("bn_act_backward", &ganforge::bn_act_backward_cpu);
}
