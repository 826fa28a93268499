// 4-lane SIMD pixel chunks for the CPU blending loops, written with GCC/Clang vector extensions
// (portable: SSE2 on x86-64, NEON on arm64; no intrinsics). Auto-vectorisation of the scalar loops
// fails here because IEEE-strict compares/selects count as control flow, so the chunk math is
// spelled out on vectors explicitly. Torch-free; the math matches gaussian_math.h exactly
// (alpha = min(kAlphaMax, o exp(-sigma)), skipped below kAlphaMin, stop at T <= kTransMin).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "gaussian_math.h"

#pragma GCC diagnostic ignored "-Wpsabi"  // 32-byte double vectors without -mavx: fine, all inline

namespace emogs {
namespace simd {

constexpr int kLanes = 4;

template <typename T> struct Lanes;
template <> struct Lanes<float> {
  typedef float V __attribute__((vector_size(16)));
  typedef int32_t M __attribute__((vector_size(16)));
};
template <> struct Lanes<double> {
  typedef double V __attribute__((vector_size(32)));
  typedef int64_t M __attribute__((vector_size(32)));
};
typedef int32_t I4 __attribute__((vector_size(16)));

template <typename V, typename S> inline V splat(S s) {
  V v;
  for (int l = 0; l < kLanes; ++l) v[l] = s;
  return v;
}
template <typename V, typename S> inline V load(const S* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename S> inline void store(S* p, const V& v) { std::memcpy(p, &v, sizeof(V)); }

// exp(x), x <= 0 (clamped at -30): Cody-Waite reduction + degree-7 polynomial, rel. error ~2e-7.
inline Lanes<float>::V exp_neg(Lanes<float>::V x) {
  typedef Lanes<float>::V V;
  typedef Lanes<float>::M M;
  const V lo = splat<V>(-30.0f);
  x = x < lo ? lo : x;
  const V t = x * 1.44269504088896341f;
  const M n = -__builtin_convertvector(0.5f - t, M);  // round(t), t <= 0
  const V fn = __builtin_convertvector(n, V);
  const V r = (x - fn * 0.693145751953125f) - fn * 1.428606765330187e-06f;
  V p = splat<V>(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const M bits = (n + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof(V));
  return p * scale;
}
// double: libm exp per lane (the float64 path serves the gradient checks, not speed)
inline Lanes<double>::V exp_neg(Lanes<double>::V x) {
  Lanes<double>::V r;
  for (int l = 0; l < kLanes; ++l) r[l] = std::exp(x[l]);
  return r;
}

// Alpha of 4 consecutive pixels of one row: lane j is pixel column cx + j (tile-local), valid only
// for columns in [la, lb]; dx0 = mean_x - centre of column cx. Returns the alpha (0 where the pair
// is skipped) and the mask of pairs that pass the alpha test.
template <typename T>
inline typename Lanes<T>::V chunk_alpha(int cx, int la, int lb, T dx0, T ca, T cdy, T bdy, T o,
                                        typename Lanes<T>::V* dx_out, typename Lanes<T>::M* ok) {
  typedef typename Lanes<T>::V V;
  typedef typename Lanes<T>::M M;
  const V lane = {T(0), T(1), T(2), T(3)};
  const M col = splat<M>(cx) + M{0, 1, 2, 3};
  const M in = (col >= splat<M>(la)) & (col <= splat<M>(lb));
  const V dx = splat<V>(dx0) - lane;
  const V sigma = (T(0.5) * ca * dx * dx + cdy) + bdy * dx;
  const V zero = splat<V>(T(0));
  V a = splat<V>(o) * exp_neg(zero - (sigma < zero ? zero : sigma));
  const V amax = splat<V>(T(kAlphaMax));
  a = a < amax ? a : amax;
  *ok = in & (sigma >= zero) & (a >= splat<V>(T(kAlphaMin)));
  *dx_out = dx;
  return *ok ? a : zero;
}

// Forward chunk: blends the valid lanes into T (TP), live flags (LV, 1/0), last index (LP) and
// writes the blend weights a*T to WB. Returns the number blended; *n_term += pixels that stopped.
template <typename T>
inline int chunk_forward(int cx, int la, int lb, T dx0, T ca, T cdy, T bdy, T o, int kk, T* TP, T* LV, int* LP,
                         T* WB, int* n_term) {
  typedef typename Lanes<T>::V V;
  typedef typename Lanes<T>::M M;
  V dx;
  M ok;
  const V a = chunk_alpha<T>(cx, la, lb, dx0, ca, cdy, bdy, o, &dx, &ok);
  const V zero = splat<V>(T(0));
  const V tp = load<V>(TP), lv = load<V>(LV);
  const M lp = __builtin_convertvector(load<I4>(LP), M);
  const M valid = ok & (lv > zero);
  const V nT = tp * (T(1) - a);
  const V tmin = splat<V>(T(kTransMin));
  const M term = valid & (nT <= tmin);
  const M bl = valid & (nT > tmin);
  store(WB, bl ? a * tp : zero);
  store(TP, bl ? nT : tp);
  store(LV, term ? zero : lv);
  store(LP, __builtin_convertvector(bl ? splat<M>(kk) : lp, I4));
  int nb = 0, nt = 0;
  for (int l = 0; l < kLanes; ++l) {
    nb -= int(bl[l]);
    nt -= int(term[l]);
  }
  *n_term += nt;
  return nb;
}

// Backward chunk, step 1: for the pairs blended in the forward pass (k < LP), alpha AB, recovered
// T_i = T_{i+1} / (1 - a) into TIB (and TC), dx into DXB, the alpha-output term gA T_final/(1-a)
// into VAB, and LG = 1 where alpha is unclamped (gradient flows). Returns the number of valid lanes.
template <typename T>
inline int chunk_backward_alpha(int cx, int la, int lb, T dx0, T ca, T cdy, T bdy, T o, int k, T* TC, const T* TF,
                                const T* GA, const int* LP, T* AB, T* TIB, T* DXB, T* VAB, T* LG) {
  typedef typename Lanes<T>::V V;
  typedef typename Lanes<T>::M M;
  V dx;
  M ok;
  V a = chunk_alpha<T>(cx, la, lb, dx0, ca, cdy, bdy, o, &dx, &ok);
  const V zero = splat<V>(T(0)), one = splat<V>(T(1));
  const M lp = __builtin_convertvector(load<I4>(LP), M);
  const M valid = ok & (splat<M>(k) < lp);
  a = valid ? a : zero;
  const V om = one - a;
  const V Ti = load<V>(TC) / om;
  store(AB, a);
  store(TIB, Ti);
  store(DXB, dx);
  store(VAB, valid ? load<V>(GA) * load<V>(TF) / om : zero);
  store(LG, (valid & (a < splat<V>(T(kAlphaMax)))) ? one : zero);
  store(TC, Ti);
  int nv = 0;
  for (int l = 0; l < kLanes; ++l) nv -= int(valid[l]);
  return nv;
}

}  // namespace simd
}  // namespace emogs
