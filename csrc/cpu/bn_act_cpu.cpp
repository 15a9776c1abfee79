// CPU kernels for the batch-norm + LeakyReLU part of ganforge::upsample_bn_act.
//
// Every pass walks its tensors once, front to back, in memory order, split into one
// contiguous range per thread. NCHW is a sequence of (n, c) planes of H*W values, channel
// p % C for plane p; channels-last is a sequence of pixels of C values. Reductions keep
// per-thread, per-channel partial sums that are added up once at the end, so no pass
// strides across the tensor however small the planes are.
//
// Sums run in float "lanes" (one 64-byte vector per channel for planes, one lane per
// channel for pixels; vectorized without reassociating anything) that are flushed into
// per-channel float64 totals before any lane has summed more than a few hundred values.
// The statistics are shifted sums: values minus the channel's first value, so a large
// mean does not cancel the variance away.
#include "../upsample_bn_act.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/stable/c/shim.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace ganforge {
namespace {

// Values a float lane may sum before it is flushed into the float64 totals.
constexpr int64_t kValuesPerLane = 256;
// Elements per parallel work item, so that small tensors stay on one thread.
constexpr int64_t kGrainElements = 32768;

// The kernels below are built for AVX-512, AVX2 and baseline x86-64 and picked at load time
// (GCC target_clones), so one binary uses the machine's vector width.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GANFORGE_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GANFORGE_KERNEL
#endif

void check_cpu_input(const at::Tensor& y) {
  TORCH_CHECK(y.device().is_cpu(), "ganforge CPU kernel got a tensor on ", y.device());
  TORCH_CHECK(y.scalar_type() == at::kFloat || y.scalar_type() == at::kDouble ||
                  y.scalar_type() == at::kBFloat16,
              "ganforge CPU kernel supports float32, float64 and bfloat16, got ", y.scalar_type());
}

// The type the kernels compute in for a stored scalar_t: float64 for float64, float32 for
// float32 and bfloat16 (each bfloat16 is widened on load and rounded once on store).
template <typename scalar_t>
using acc_type = std::conditional_t<std::is_same_v<scalar_t, double>, double, float>;

// at::parallel_for would run serially here: ATen's OpenMP parallel_for is a header template
// and this extension is not compiled with OpenMP. torch_parallel_for, torch's stable C shim
// of it, runs at::parallel_for inside libtorch instead, on ATen's own threads: one
// contiguous chunk of [begin, end) per thread.
template <typename F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  const ParallelFunc call = [](int64_t b, int64_t e, void* ctx) { (*static_cast<const F*>(ctx))(b, e); };
  TORCH_CHECK(torch_parallel_for(begin, end, grain, call, const_cast<F*>(&f)) == AOTI_TORCH_SUCCESS,
              "ganforge CPU kernel: parallel_for failed");
}

// The index of the calling thread inside parallel_for, 0 outside.
int64_t thread_index() {
  uint32_t index = 0;
  torch_get_thread_idx(&index);
  return index;
}

// The layout of a (N, C, H, W) tensor as a sequence of rows: NCHW rows are planes (one
// channel each), channels-last rows are pixels (every channel). Callers pass tensors made
// contiguous in one of the two formats; a tensor that is both (size-1 dimensions) is
// read as NCHW, which is the same memory.
struct Rows {
  int64_t count, length, C;
  bool pixels;

  explicit Rows(const at::Tensor& y) : C(y.size(1)), pixels(!y.is_contiguous()) {
    TORCH_CHECK(!pixels || y.is_contiguous(at::MemoryFormat::ChannelsLast),
                "ganforge CPU kernel needs an NCHW or channels_last contiguous tensor");
    const int64_t HW = y.size(2) * y.size(3);
    count = pixels ? y.size(0) * HW : y.size(0) * C;
    length = pixels ? C : HW;
  }

  int64_t grain() const { return std::max<int64_t>(1, kGrainElements / std::max<int64_t>(length, 1)); }
};

// 64 bytes of T as one GCC vector: one AVX-512 register, two AVX2 or four SSE registers in
// the respective clone. The kernels below are written on these, so the vectorization does
// not depend on what the auto-vectorizer makes of the loops.
template <typename T>
struct LanesOf {
  typedef T type __attribute__((vector_size(64)));
};
template <typename T>
using Lanes = typename LanesOf<T>::type;

template <typename T>
constexpr int64_t kWidth = 64 / sizeof(T);

// The helpers below take and return Lanes by value; they are always inlined into the
// kernels, so no call passes a vector register across the ABI (hence no -Wpsabi concern).
#define GANFORGE_INLINE inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"

template <typename T>
GANFORGE_INLINE Lanes<T> load(const T* p) {
  Lanes<T> v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

template <typename T>
GANFORGE_INLINE void store(T* p, std::type_identity_t<Lanes<T>> v) {
  __builtin_memcpy(p, &v, sizeof v);
}

// kWidth<T> stored values as compute Lanes<T>, and back: plain copies where the stored type
// is T; bfloat16 is the high half of a float32, widened by a shift and rounded to nearest
// even (NaN stays a quiet NaN), as c10::BFloat16 rounds a single value.
typedef uint16_t Bits16 __attribute__((vector_size(32)));
typedef uint32_t Bits32 __attribute__((vector_size(64)));

template <typename T, typename S>
GANFORGE_INLINE Lanes<T> load_lanes(const S* p) {
  if constexpr (std::is_same_v<S, T>) {
    return load(p);
  } else {
    static_assert(std::is_same_v<S, c10::BFloat16> && std::is_same_v<T, float>);
    Bits16 half;
    __builtin_memcpy(&half, p, sizeof half);
    const Bits32 bits = __builtin_convertvector(half, Bits32) << 16;
    Lanes<T> v;
    __builtin_memcpy(&v, &bits, sizeof v);
    return v;
  }
}

template <typename T, typename S>
GANFORGE_INLINE void store_lanes(S* p, std::type_identity_t<Lanes<T>> v) {
  if constexpr (std::is_same_v<S, T>) {
    store(p, v);
  } else {
    static_assert(std::is_same_v<S, c10::BFloat16> && std::is_same_v<T, float>);
    Bits32 bits;
    __builtin_memcpy(&bits, &v, sizeof bits);
    const Bits32 nan = reinterpret_cast<Bits32>(v != v);
    const Bits32 rounded = (bits + (0x7FFFu + ((bits >> 16) & 1u))) >> 16;
    const Bits16 half = __builtin_convertvector((rounded & ~nan) | (0x7FC0u & nan), Bits16);
    __builtin_memcpy(p, &half, sizeof half);
  }
}

// p[0] as a scalar, or p[0 .. kWidth) as Lanes.
template <typename V, typename T>
GANFORGE_INLINE V fetch(const T* p) {
  if constexpr (std::is_same_v<V, T>) {
    return *p;
  } else {
    return load(p);
  }
}

// Branch-free selects (vector blends for Lanes); V is a scalar or Lanes, s a scalar.
template <typename V, typename S>
GANFORGE_INLINE V leaky(V z, S slope) {
  const V scaled = z * slope;
  return z > S(0) ? z : scaled;
}

// grad * act'(z).
template <typename V, typename S>
GANFORGE_INLINE V leaky_grad(V z, V grad, S slope) {
  const V scaled = grad * slope;
  return z > S(0) ? grad : scaled;
}

// Element-wise operations. Each has per-channel coefficients K<V>: scalars fetched once per
// plane (NCHW), or Lanes of kWidth consecutive channels along a pixel (channels-last); it
// works on values x of the input and g of the incoming gradient (ignored where unused).

// (x - shift, (x - shift)^2): the statistics.
template <typename T>
struct Moments {
  template <typename V>
  struct K {
    V shift;
  };
  const T* shift;

  template <typename V>
  GANFORGE_INLINE K<V> channel(int64_t c) const {
    return {fetch<V>(shift + c)};
  }
  template <typename KV, typename V>
  GANFORGE_INLINE void terms(const K<KV>& k, V x, V, V& t1, V& t2) const {
    const V d = x - k.shift;
    t1 = d;
    t2 = d * d;
  }
};

// Per-channel coefficients of the normalization, in the compute type for the hot loops;
// gain, c1, c2 are the backward's (see backward_apply_cpu).
template <typename T>
struct Coefficients {
  std::vector<T> mean, scale, shift, gain, c1, c2;
  T slope;
};

// z = (x - mean) * scale + shift; out = leaky(z): the forward.
// dz = g * act'(z); (dz, dz * (x - mean)): the backward's reduction.
// gain * (dz - c1 - (x - mean) * c2): the backward's gradient.
template <typename T>
struct Normalize {
  template <typename V>
  struct K {
    V mean, scale, shift, gain, c1, c2;
  };
  const T *mean, *scale, *shift, *gain, *c1, *c2;
  T slope;

  explicit Normalize(const Coefficients<T>& co)
      : mean(co.mean.data()), scale(co.scale.data()), shift(co.shift.data()), gain(co.gain.data()),
        c1(co.c1.data()), c2(co.c2.data()), slope(co.slope) {}

  template <typename V>
  GANFORGE_INLINE K<V> channel(int64_t c) const {
    return {fetch<V>(mean + c), fetch<V>(scale + c), fetch<V>(shift + c),
            fetch<V>(gain + c), fetch<V>(c1 + c),    fetch<V>(c2 + c)};
  }
  template <typename KV, typename V>
  GANFORGE_INLINE V forward(const K<KV>& k, V x, V) const {
    return leaky((x - k.mean) * k.scale + k.shift, slope);
  }
  template <typename KV, typename V>
  GANFORGE_INLINE void terms(const K<KV>& k, V x, V g, V& t1, V& t2) const {
    const V xm = x - k.mean;
    const V dz = leaky_grad(xm * k.scale + k.shift, g, slope);
    t1 = dz;
    t2 = dz * xm;
  }
  template <typename KV, typename V>
  GANFORGE_INLINE V backward(const K<KV>& k, V x, V g) const {
    const V xm = x - k.mean;
    const V dz = leaky_grad(xm * k.scale + k.shift, g, slope);
    return k.gain * (dz - k.c1 - xm * k.c2);
  }
};

// The sum of a channel's lanes in float64: four independent chains, so that flushing
// C channels is a short pipelined loop rather than one long chain of dependent adds.
template <typename T>
GANFORGE_INLINE double lane_total(const T* lanes, int64_t width) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t j = 0;
  for (; j + 4 <= width; j += 4) {
    a0 += lanes[j];
    a1 += lanes[j + 1];
    a2 += lanes[j + 2];
    a3 += lanes[j + 3];
  }
  for (; j < width; ++j) {
    a0 += lanes[j];
  }
  return (a0 + a1) + (a2 + a3);
}

// One thread's partial sums: float lanes (width per channel) and float64 totals; `used` once
// the thread was given work (an idle thread's partials are skipped).
template <typename T>
struct Partials {
  int64_t width;
  bool used = false;
  std::vector<T> lane1, lane2;
  std::vector<double> s1, s2;

  Partials(int64_t C, int64_t lanes)
      : width(lanes), lane1(C * lanes), lane2(C * lanes), s1(C), s2(C) {}

  void flush() {
    const int64_t C = static_cast<int64_t>(s1.size());
    const T* l1 = lane1.data();
    const T* l2 = lane2.data();
    double* t1 = s1.data();
    double* t2 = s2.data();
    for (int64_t c = 0; c < C; ++c) {
      t1[c] += lane_total(l1 + c * width, width);
      t2[c] += lane_total(l2 + c * width, width);
    }
    std::fill(lane1.begin(), lane1.end(), T(0));
    std::fill(lane2.begin(), lane2.end(), T(0));
  }
};

// The kernels take op by value: a local copy that no store can alias, so its coefficient
// pointers and slope stay in registers instead of being reloaded every iteration.

// Adds op.terms over planes [begin, end) into acc (kWidth lanes per channel; a plane's tail
// that fills no whole Lanes goes straight into the float64 totals).
template <typename scalar_t, typename Op, typename T = acc_type<scalar_t>>
GANFORGE_KERNEL void reduce_planes(const scalar_t* x, const scalar_t* g, int64_t begin, int64_t end,
                                   int64_t C, int64_t HW, Op op, Partials<T>& acc) {
  using V = Lanes<T>;
  constexpr int64_t W = kWidth<T>;
  const int64_t rounds_per_flush = std::max<int64_t>(1, kValuesPerLane * W / std::max<int64_t>(HW, 1));
  int64_t c = begin % C, rounds = 0;
  for (int64_t p = begin; p < end; ++p) {
    const auto k = op.template channel<T>(c);
    const scalar_t* xp = x + p * HW;
    const scalar_t* gp = g + p * HW;
    V a1 = load(&acc.lane1[c * W]);
    V a2 = load(&acc.lane2[c * W]);
    int64_t i = 0;
    for (; i + W <= HW; i += W) {
      V t1, t2;
      op.terms(k, load_lanes<T>(xp + i), load_lanes<T>(gp + i), t1, t2);
      a1 += t1;
      a2 += t2;
    }
    store(&acc.lane1[c * W], a1);
    store(&acc.lane2[c * W], a2);
    for (; i < HW; ++i) {
      T t1, t2;
      op.terms(k, T(xp[i]), T(gp[i]), t1, t2);
      acc.s1[c] += t1;
      acc.s2[c] += t2;
    }
    if (++c == C) {
      c = 0;
      if (++rounds == rounds_per_flush) {
        acc.flush();
        rounds = 0;
      }
    }
  }
}

// Adds op.terms over pixels [begin, end) into acc (one lane per channel).
template <typename scalar_t, typename Op, typename T = acc_type<scalar_t>>
GANFORGE_KERNEL void reduce_pixels(const scalar_t* x, const scalar_t* g, int64_t begin, int64_t end,
                                   int64_t C, Op op, Partials<T>& acc) {
  using V = Lanes<T>;
  constexpr int64_t W = kWidth<T>;
  T* l1 = acc.lane1.data();
  T* l2 = acc.lane2.data();
  for (int64_t r = begin; r < end; ++r) {
    const scalar_t* xr = x + r * C;
    const scalar_t* gr = g + r * C;
    int64_t c = 0;
    for (; c + W <= C; c += W) {
      V t1, t2;
      op.terms(op.template channel<V>(c), load_lanes<T>(xr + c), load_lanes<T>(gr + c), t1, t2);
      store(l1 + c, load(l1 + c) + t1);
      store(l2 + c, load(l2 + c) + t2);
    }
    for (; c < C; ++c) {
      T t1, t2;
      op.terms(op.template channel<T>(c), T(xr[c]), T(gr[c]), t1, t2);
      l1[c] += t1;
      l2[c] += t2;
    }
    if ((r - begin + 1) % kValuesPerLane == 0) {
      acc.flush();
    }
  }
}

// Per-channel totals of op.terms over the whole tensor into out1[C], out2[C]; g may be x
// where the operation reads no gradient.
template <typename scalar_t, typename Op>
void reduce(const Rows& rows, const scalar_t* x, const scalar_t* g, const Op& op, double* out1,
            double* out2) {
  const int64_t threads = at::get_num_threads();
  using T = acc_type<scalar_t>;
  const int64_t width = rows.pixels ? 1 : kWidth<T>;
  std::vector<Partials<T>> partials(threads, Partials<T>(rows.C, width));
  parallel_for(0, rows.count, rows.grain(), [&](int64_t begin, int64_t end) {
    auto& acc = partials[thread_index()];
    acc.used = true;
    if (rows.pixels) {
      reduce_pixels(x, g, begin, end, rows.C, op, acc);
    } else {
      reduce_planes(x, g, begin, end, rows.C, rows.length, op, acc);
    }
  });
  std::fill_n(out1, rows.C, 0.0);
  std::fill_n(out2, rows.C, 0.0);
  for (auto& acc : partials) {
    if (!acc.used) {
      continue;
    }
    acc.flush();
    for (int64_t c = 0; c < rows.C; ++c) {
      out1[c] += acc.s1[c];
      out2[c] += acc.s2[c];
    }
  }
}

// out = apply(op, k, x, g) over planes [begin, end).
template <typename scalar_t, typename Op, typename Apply, typename T = acc_type<scalar_t>>
GANFORGE_KERNEL void map_planes(const scalar_t* x, const scalar_t* g, scalar_t* out, int64_t begin,
                                int64_t end, int64_t C, int64_t HW, Op op, Apply apply) {
  constexpr int64_t W = kWidth<T>;
  int64_t c = begin % C;
  for (int64_t p = begin; p < end; ++p) {
    const auto k = op.template channel<T>(c);
    const int64_t base = p * HW;
    int64_t i = 0;
    for (; i + W <= HW; i += W) {
      store_lanes<T>(out + base + i,
                     apply(op, k, load_lanes<T>(x + base + i), load_lanes<T>(g + base + i)));
    }
    for (; i < HW; ++i) {
      out[base + i] = scalar_t(apply(op, k, T(x[base + i]), T(g[base + i])));
    }
    if (++c == C) {
      c = 0;
    }
  }
}

// The same over pixels [begin, end).
template <typename scalar_t, typename Op, typename Apply, typename T = acc_type<scalar_t>>
GANFORGE_KERNEL void map_pixels(const scalar_t* x, const scalar_t* g, scalar_t* out, int64_t begin,
                                int64_t end, int64_t C, Op op, Apply apply) {
  using V = Lanes<T>;
  constexpr int64_t W = kWidth<T>;
  for (int64_t r = begin; r < end; ++r) {
    const int64_t base = r * C;
    int64_t c = 0;
    for (; c + W <= C; c += W) {
      store_lanes<T>(out + base + c, apply(op, op.template channel<V>(c), load_lanes<T>(x + base + c),
                                           load_lanes<T>(g + base + c)));
    }
    for (; c < C; ++c) {
      out[base + c] =
          scalar_t(apply(op, op.template channel<T>(c), T(x[base + c]), T(g[base + c])));
    }
  }
}

template <typename scalar_t, typename Op, typename Apply>
void map(const Rows& rows, const scalar_t* x, const scalar_t* g, scalar_t* out, const Op& op,
         Apply apply) {
  parallel_for(0, rows.count, rows.grain(), [&](int64_t begin, int64_t end) {
    if (rows.pixels) {
      map_pixels(x, g, out, begin, end, rows.C, op, apply);
    } else {
      map_planes(x, g, out, begin, end, rows.C, rows.length, op, apply);
    }
  });
}

struct ForwardElement {
  template <typename Op, typename K, typename V>
  GANFORGE_INLINE V operator()(const Op& op, const K& k, V x, V g) const {
    return op.forward(k, x, g);
  }
};

struct BackwardElement {
  template <typename Op, typename K, typename V>
  GANFORGE_INLINE V operator()(const Op& op, const K& k, V x, V g) const {
    return op.backward(k, x, g);
  }
};

template <typename scalar_t>
void batch_stats_typed(const at::Tensor& y, at::Tensor& mean, at::Tensor& var) {
  const Rows rows(y);
  const int64_t C = rows.C;
  using acc_t = acc_type<scalar_t>;
  const scalar_t* data = y.const_data_ptr<scalar_t>();
  std::vector<acc_t> shift(C);
  for (int64_t c = 0; c < C; ++c) {
    shift[c] = static_cast<acc_t>(data[rows.pixels ? c : c * rows.length]);
  }
  std::vector<double> s1(C), s2(C);
  reduce(rows, data, data, Moments<acc_t>{shift.data()}, s1.data(), s2.data());
  acc_t* m = mean.data_ptr<acc_t>();
  acc_t* v = var.data_ptr<acc_t>();
  const double count = static_cast<double>(y.numel() / C);
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
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y.scalar_type(), "ganforge_batch_stats_cpu",
                             [&] { batch_stats_typed<scalar_t>(y, mean, var); });
  return {mean, var};
}

// The forward's coefficients in the compute type T (the per-channel tensors are in T too);
// the backward's (gain, c1, c2) are zero until set.
template <typename T>
Coefficients<T> make_coefficients(const at::Tensor& mean, const at::Tensor& var,
                                  const at::Tensor& gamma, const at::Tensor& beta, double eps,
                                  double slope) {
  const int64_t C = mean.numel();
  const T* m = mean.data_ptr<T>();
  const T* v = var.data_ptr<T>();
  const T* gm = gamma.data_ptr<T>();
  const T* b = beta.data_ptr<T>();
  Coefficients<T> co{std::vector<T>(C), std::vector<T>(C), std::vector<T>(C),
                     std::vector<T>(C), std::vector<T>(C), std::vector<T>(C),
                     static_cast<T>(slope)};
  for (int64_t c = 0; c < C; ++c) {
    co.mean[c] = m[c];
    co.scale[c] = static_cast<T>(gm[c] / std::sqrt(static_cast<double>(v[c]) + eps));
    co.shift[c] = b[c];
  }
  return co;
}

at::Tensor forward_apply_cpu(const at::Tensor& y, const at::Tensor& mean, const at::Tensor& var,
                             const at::Tensor& gamma, const at::Tensor& beta, double eps,
                             double slope) {
  check_cpu_input(y);
  for (const auto* t : {&mean, &var, &gamma, &beta}) {
    check_bn_act_operands(y, *t, "a per-channel operand");
  }
  at::Tensor out = at::empty_like(y);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y.scalar_type(), "ganforge_forward_apply_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    const auto co = make_coefficients<acc_t>(mean, var, gamma, beta, eps, slope);
    const scalar_t* in = y.const_data_ptr<scalar_t>();
    map(Rows(y), in, in, out.data_ptr<scalar_t>(), Normalize<acc_t>(co), ForwardElement{});
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> backward_reduce_cpu(const at::Tensor& grad_out,
                                                       const at::Tensor& y, const at::Tensor& mean,
                                                       const at::Tensor& var,
                                                       const at::Tensor& gamma,
                                                       const at::Tensor& beta, double eps,
                                                       double slope) {
  check_cpu_input(y);
  const int64_t C = y.size(1);
  const auto acc = y.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor sum_dz = at::empty({C}, y.options().dtype(acc));
  at::Tensor sum_dz_xmu = at::empty({C}, y.options().dtype(acc));
  std::vector<double> s1(C), s2(C);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y.scalar_type(), "ganforge_backward_reduce_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    const auto co = make_coefficients<acc_t>(mean, var, gamma, beta, eps, slope);
    reduce(Rows(y), y.const_data_ptr<scalar_t>(), grad_out.const_data_ptr<scalar_t>(),
           Normalize<acc_t>(co), s1.data(), s2.data());
    std::copy(s1.begin(), s1.end(), sum_dz.data_ptr<acc_t>());
    std::copy(s2.begin(), s2.end(), sum_dz_xmu.data_ptr<acc_t>());
  });
  return {sum_dz, sum_dz_xmu};
}

// grad_y = gain * (dz - c1 - (x - mean) * c2) in training, gain * dz in eval, per channel:
// gain = gamma * invstd, c1 = mean of dz, c2 = invstd^2 * mean of dz * (x - mean).
at::Tensor backward_apply_cpu(const at::Tensor& grad_out, const at::Tensor& y,
                              const at::Tensor& mean, const at::Tensor& var,
                              const at::Tensor& gamma, const at::Tensor& beta,
                              const at::Tensor& sum_dz, const at::Tensor& sum_dz_xmu, double eps,
                              double slope, bool training) {
  check_cpu_input(y);
  at::Tensor grad_y = at::empty_like(y);
  const int64_t C = y.size(1);
  const double count = static_cast<double>(y.numel() / C);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, y.scalar_type(), "ganforge_backward_apply_cpu", [&] {
    using acc_t = acc_type<scalar_t>;
    auto co = make_coefficients<acc_t>(mean, var, gamma, beta, eps, slope);
    const acc_t* sdz = sum_dz.data_ptr<acc_t>();
    const acc_t* sdzx = sum_dz_xmu.data_ptr<acc_t>();
    const acc_t* v = var.data_ptr<acc_t>();
    for (int64_t c = 0; c < C; ++c) {
      co.gain[c] = co.scale[c];
      if (training) {
        const double invvar = 1.0 / (static_cast<double>(v[c]) + eps);
        co.c1[c] = static_cast<acc_t>(sdz[c] / count);
        co.c2[c] = static_cast<acc_t>(invvar * sdzx[c] / count);
      }
    }
    map(Rows(y), y.const_data_ptr<scalar_t>(), grad_out.const_data_ptr<scalar_t>(),
        grad_y.data_ptr<scalar_t>(), Normalize<acc_t>(co), BackwardElement{});
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
