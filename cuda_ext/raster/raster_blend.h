// Per-tile CPU blending kernels (forward and backward), templated on the scalar type T, the SIMD
// width W (pixels per chunk, GCC/Clang vector extensions) and the channel count CT (CT = 0: any C,
// read at run time; CT > 0: channels unrolled, backward accumulators kept in registers).
//
// raster_cpu.cpp instantiates them twice for float: W = 4 with the default target (SSE2 / NEON)
// and W = 8 inside `__attribute__((target("avx2,fma")))` wrappers chosen at run time with
// __builtin_cpu_supports, so one portable binary uses AVX2 where the CPU has it. Everything here is
// force-inlined into those wrappers (a call across targets would not be vectorised for AVX2).
// float64 keeps libm exp per lane (exact; it serves the gradient checks). Torch-free.
//
// Semantics match gaussian_math.h: alpha = min(kAlphaMax, o exp(-sigma)), skipped when sigma < 0
// or alpha < kAlphaMin, a pixel stops before a Gaussian that would bring T to <= kTransMin.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gaussian_math.h"

#pragma GCC diagnostic ignored "-Wpsabi"  // 32-byte vectors passed between force-inlined helpers
// Float kernels may fuse multiply-adds (FMA in the AVX2 clones; setup.py builds with
// -ffp-contract=off elsewhere). The float64 path runs on the default target (no FMA instructions),
// so it stays bit-identical to the unfused arithmetic.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

#define EMOGS_AI inline __attribute__((always_inline))

namespace emogs {
namespace blend {

template <typename T> struct IntOf;
template <> struct IntOf<float> { typedef int32_t type; };
template <> struct IntOf<double> { typedef int64_t type; };

// V: W lanes of T; M: W lanes of the same-width signed int (comparison masks: -1 / 0);
// I: W lanes of int32 (the per-pixel last-index array).
template <typename T, int W> struct Vec {
  typedef T V __attribute__((vector_size(W * sizeof(T))));
  typedef typename IntOf<T>::type M __attribute__((vector_size(W * sizeof(T))));
  typedef int32_t I __attribute__((vector_size(W * 4)));
};

template <typename V, typename S, int W> EMOGS_AI V splat(S s) {
  V v;
  for (int l = 0; l < W; ++l) v[l] = s;
  return v;
}
template <typename V, typename S, int W> EMOGS_AI V iota() {
  V v;
  for (int l = 0; l < W; ++l) v[l] = S(l);
  return v;
}
template <typename V, typename S> EMOGS_AI V load(const S* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V, typename S> EMOGS_AI void store(S* p, const V& v) { std::memcpy(p, &v, sizeof(V)); }

// true when any lane of a mask is set (OR of 64-bit words: a few instructions for any width)
template <typename M> EMOGS_AI bool any(const M& m) {
  uint64_t w[sizeof(M) / 8];
  std::memcpy(w, &m, sizeof(M));
  uint64_t r = 0;
  for (unsigned i = 0; i < sizeof(M) / 8; ++i) r |= w[i];
  return r != 0;
}
template <typename M, int W> EMOGS_AI int count(const M& m) {
  int n = 0;
  for (int l = 0; l < W; ++l) n -= int(m[l]);
  return n;
}

// exp(x) for x <= 0 (clamped at -30), float lanes: exp(x) = 2^n exp(r), n = round(x / ln 2),
// r = x - n ln 2 in [-ln2/2, ln2/2] (Cody-Waite, two-part ln 2), exp(r) by its degree-6 Taylor
// polynomial evaluated in Estrin form (short dependency chain); relative error < 2e-7.
// Double lanes: libm per lane (exact).
template <int W> EMOGS_AI typename Vec<float, W>::V exp_neg(typename Vec<float, W>::V x) {
  typedef typename Vec<float, W>::V V;
  typedef typename Vec<float, W>::M M;
  const V lo = splat<V, float, W>(-30.0f);
  x = x < lo ? lo : x;
  const V t = x * 1.44269504088896341f;
  const M n = -__builtin_convertvector(0.5f - t, M);  // round(t), t <= 0
  const V fn = __builtin_convertvector(n, V);
  const V r = (x - fn * 0.693145751953125f) - fn * 1.428606765330187e-06f;
  const V r2 = r * r;
  const V r4 = r2 * r2;
  const V p01 = r + 1.0f;                                // 1 + r
  const V p23 = r * (1.0f / 6.0f) + 0.5f;                // 1/2 + r/6
  const V p45 = r * (1.0f / 120.0f) + (1.0f / 24.0f);    // 1/24 + r/120
  const V p = (p01 + r2 * p23) + r4 * (p45 + r2 * (1.0f / 720.0f));
  const M bits = (n + 127) << 23;
  V scale;
  std::memcpy(&scale, &bits, sizeof(V));
  return p * scale;
}
template <int W> EMOGS_AI typename Vec<double, W>::V exp_neg(typename Vec<double, W>::V x) {
  typename Vec<double, W>::V r;
  for (int l = 0; l < W; ++l) r[l] = std::exp(x[l]);
  return r;
}

// Read-only inputs of one blending call (pointers into contiguous torch tensors).
template <typename T> struct Scene {
  const T *m2, *cn, *op, *fp, *thr;  // means2d [N,2], conics [N,3], opacity [N], features [N,C], span threshold [N]
  const int *rc, *to, *ti;           // rects [N,4], tile offsets [tiles+1], tile ids [pairs]
  int width, height, tiles_x, C;
};

// Per-thread scratch of one tile (structure of arrays over the kTile x kTile pixels).
template <typename T> struct FwdScratch {
  static constexpr int P = kTile * kTile;
  std::vector<T> Tp, live, acc;
  std::vector<int> lastp;
  explicit FwdScratch(int C) : Tp(P), live(P), acc(size_t(P) * C), lastp(P) {}
};

template <typename T> struct FwdOut {
  T *img, *tr;  // image [H,W,C], final transmittance [H,W]
  int* lp;      // last blended index (1-based position in the tile list) [H,W]
  const T* bg;  // background [C]
};

// Alpha of W consecutive pixels of one tile row (lane j = column cx + j, valid in [la, lb]).
template <typename T, int W>
EMOGS_AI typename Vec<T, W>::V chunk_alpha(int cx, int la, int lb, T dx0, T ca, T cdy, T bdy, T o,
                                           typename Vec<T, W>::V* dx_out, typename Vec<T, W>::M* ok) {
  typedef typename Vec<T, W>::V V;
  typedef typename Vec<T, W>::M M;
  typedef typename IntOf<T>::type S;
  const M col = splat<M, S, W>(S(cx)) + iota<M, S, W>();
  const M in = (col >= splat<M, S, W>(S(la))) & (col <= splat<M, S, W>(S(lb)));
  const V dx = splat<V, T, W>(dx0) - iota<V, T, W>();
  const V sigma = (T(0.5) * ca * dx * dx + cdy) + bdy * dx;
  const V zero = splat<V, T, W>(T(0));
  V a = o * exp_neg<W>(zero - (sigma < zero ? zero : sigma));
  const V amax = splat<V, T, W>(T(kAlphaMax));
  a = a < amax ? a : amax;
  *ok = in & (sigma >= zero) & (a >= splat<V, T, W>(T(kAlphaMin)));
  *dx_out = dx;
  return *ok ? a : zero;
}

// Forward blending of one tile. Adds the evaluated / blended pair counts to *n_eval / *n_blend.
template <typename T, int W, int CT>
EMOGS_AI void fwd_tile(const Scene<T>& s, const FwdOut<T>& out, int tile, FwdScratch<T>& sc, int64_t* n_eval,
                       int64_t* n_blend) {
  typedef typename Vec<T, W>::V V;
  typedef typename Vec<T, W>::M M;
  typedef typename Vec<T, W>::I I;
  typedef typename IntOf<T>::type S;
  constexpr int P = kTile * kTile;
  const int C = CT > 0 ? CT : s.C;
  const int tx = tile % s.tiles_x, ty = tile / s.tiles_x;
  const int px0 = tx * kTile, py0 = ty * kTile;
  const int px1 = std::min(px0 + kTile, s.width) - 1, py1 = std::min(py0 + kTile, s.height) - 1;
  T* TP = sc.Tp.data();
  T* LV = sc.live.data();
  T* AC = sc.acc.data();
  int* LP = sc.lastp.data();
  std::fill(sc.Tp.begin(), sc.Tp.end(), T(1));
  std::fill(sc.live.begin(), sc.live.end(), T(1));
  std::fill(sc.acc.begin(), sc.acc.end(), T(0));
  std::fill(sc.lastp.begin(), sc.lastp.end(), 0);
  int n_live = (px1 - px0 + 1) * (py1 - py0 + 1);
  int row_live[kTile];  // pixels of each tile row still compositing
  for (int r = 0; r < kTile; ++r) row_live[r] = py0 + r <= py1 ? px1 - px0 + 1 : 0;
  const int start = s.to[tile], end = s.to[tile + 1];
  const V zero = splat<V, T, W>(T(0)), one = splat<V, T, W>(T(1)), tmin = splat<V, T, W>(T(kTransMin));
  M blended = splat<M, S, W>(S(0));  // lane-wise (negative) count of blended pairs
  int64_t ne = 0;
  for (int k = start; k < end && n_live > 0; ++k) {
    const int g = s.ti[k];
    const int* r = s.rc + 4 * g;
    const int x0 = std::max(r[0], px0), x1 = std::min(r[2], px1);
    const int y0 = std::max(r[1], py0), y1 = std::min(r[3], py1);
    const T mx = s.m2[2 * g], my = s.m2[2 * g + 1], o = s.op[g], th = s.thr[g];
    const T* conic = s.cn + 3 * g;
    const T ca = conic[0], cb = conic[1], cc = conic[2];
    const T* f = s.fp + C * g;
    const I kk = splat<I, int32_t, W>(k - start + 1);
    const T inv_a = T(1) / ca;
    for (int y = y0; y <= y1; ++y) {
      if (row_live[y - py0] == 0) continue;
      const T dy = my - (T(y) + T(0.5));
      int xa = x0, xb = x1;
#ifndef EMOGS_NOSPAN
      if (!ellipse_row_span(conic, inv_a, mx, dy, th, x0, x1, &xa, &xb)) continue;
#endif
      ne += xb - xa + 1;
      const int la = xa - px0, lb = xb - px0, rowbase = (y - py0) * kTile;
      const T cdy = T(0.5) * cc * dy * dy, bdy = cb * dy;
      for (int cx = la & ~(W - 1); cx <= lb; cx += W) {
        const int base = rowbase + cx;
        const T dx0 = mx - (T(px0 + cx) + T(0.5));
        V dx;
        M ok;
        const V a = chunk_alpha<T, W>(cx, la, lb, dx0, ca, cdy, bdy, o, &dx, &ok);
        const V lv = load<V>(LV + base);
        const M valid = ok & (lv > zero);  // no early `continue`: a data-dependent branch costs more
        const V tp = load<V>(TP + base);
        const V nT = tp * (one - a);
        const M term = valid & (nT <= tmin);
        const M bl = valid & (nT > tmin);
        const V w = bl ? a * tp : zero;
        store(TP + base, bl ? nT : tp);
        blended += bl;
        const I lp = load<I>(LP + base);
        store(LP + base, __builtin_convertvector(bl, I) ? kk : lp);
        if (any(term)) {
          store(LV + base, term ? zero : lv);
          const int nt = count<M, W>(term);
          n_live -= nt;
          row_live[y - py0] -= nt;
        }
        for (int c = 0; c < C; ++c) {
          T* ac = AC + c * P + base;
          store(ac, load<V>(ac) + w * f[c]);
        }
      }
    }
  }
  *n_eval += ne;
  *n_blend += -[&] {
    int64_t n = 0;
    for (int l = 0; l < W; ++l) n += blended[l];
    return n;
  }();
  for (int y = py0; y <= py1; ++y)
    for (int x = px0; x <= px1; ++x) {
      const int p = (y - py0) * kTile + (x - px0);
      const int64_t o = int64_t(y) * s.width + x;
      T* px = out.img + o * C;
      for (int c = 0; c < C; ++c) px[c] = AC[c * P + p] + TP[p] * out.bg[c];
      out.tr[o] = TP[p];
      out.lp[o] = LP[p];
    }
}

// Backward inputs (read-only) of one blending call.
template <typename T> struct BwdIn {
  const T *bg, *tr, *vi, *va;  // background [C], final T [H,W], dL/dimage [H,W,C], dL/dalpha [H,W]
  const int* lp;               // last blended index [H,W]
};

template <typename T> struct BwdScratch {
  static constexpr int P = kTile * kTile;
  std::vector<T> Tc, Tf, GA, R, G, vfl;
  std::vector<int> lastp;
  BwdScratch(int C, int W)
      : Tc(P), Tf(P), GA(P), R(size_t(P) * C), G(size_t(P) * C), vfl(size_t(W) * C), lastp(P) {}
};

// Backward of one tile: re-walks the tile's list back to front from every pixel's last blended
// Gaussian, recovering T_i = T_{i+1} / (1 - a_i) and the normalised colour behind i, R_i
// (R = background at the back, R_{i-1} = a_i f_i + (1 - a_i) R_i): dC/da_i = T_i (f_i - R_i),
// dC/df_i = T_i a_i, d(1 - T_final)/da_i = T_final / (1 - a_i). Gradients are added to gb
// ([N, 6 + C]: mean2d, conic, opacity, features) and gbg ([C], dL/dbackground).
template <typename T, int W, int CT>
EMOGS_AI void bwd_tile(const Scene<T>& s, const BwdIn<T>& in, int tile, BwdScratch<T>& sc, T* gb, T* gbg) {
  typedef typename Vec<T, W>::V V;
  typedef typename Vec<T, W>::M M;
  typedef typename Vec<T, W>::I I;
  constexpr int P = kTile * kTile;
  const int C = CT > 0 ? CT : s.C;
  const int64_t stride = 6 + C;
  const int tx = tile % s.tiles_x, ty = tile / s.tiles_x;
  const int px0 = tx * kTile, py0 = ty * kTile;
  const int px1 = std::min(px0 + kTile, s.width) - 1, py1 = std::min(py0 + kTile, s.height) - 1;
  int kmax = 0;
  int row_last[kTile] = {};  // largest last index of each tile row
  T *TC = sc.Tc.data(), *TF = sc.Tf.data(), *GA = sc.GA.data(), *R = sc.R.data(), *G = sc.G.data();
  int* LP = sc.lastp.data();
  std::fill(sc.lastp.begin(), sc.lastp.end(), 0);
  for (int y = py0; y <= py1; ++y)
    for (int x = px0; x <= px1; ++x) {
      const int p = (y - py0) * kTile + (x - px0);
      const int64_t o = int64_t(y) * s.width + x;
      TC[p] = TF[p] = in.tr[o];
      LP[p] = in.lp[o];
      kmax = std::max(kmax, in.lp[o]);
      row_last[y - py0] = std::max(row_last[y - py0], in.lp[o]);
      GA[p] = in.va[o];
      for (int c = 0; c < C; ++c) {
        R[c * P + p] = in.bg[c];
        G[c * P + p] = in.vi[o * C + c];
        gbg[c] += in.vi[o * C + c] * in.tr[o];
      }
    }
  const int start = s.to[tile];
  const V zero = splat<V, T, W>(T(0)), one = splat<V, T, W>(T(1)), amax = splat<V, T, W>(T(kAlphaMax));
  V vfl_reg[CT > 0 ? CT : 1];
  T* vfl_mem = sc.vfl.data();
  for (int k = kmax - 1; k >= 0; --k) {
    const int g = s.ti[start + k];
    const int* r = s.rc + 4 * g;
    const int x0 = std::max(r[0], px0), x1 = std::min(r[2], px1);
    const int y0 = std::max(r[1], py0), y1 = std::min(r[3], py1);
    const T mx = s.m2[2 * g], my = s.m2[2 * g + 1], o = s.op[g], th = s.thr[g];
    const T* conic = s.cn + 3 * g;
    const T ca = conic[0], cb = conic[1], cc = conic[2];
    const T* f = s.fp + C * g;
    const I kv = splat<I, int32_t, W>(k);
    // lane-wise gradient accumulators, summed over lanes once per tile-Gaussian pair
    V lmx = zero, lmy = zero, lca = zero, lcb = zero, lcc = zero, lo = zero;
    if constexpr (CT > 0) {
      for (int c = 0; c < CT; ++c) vfl_reg[c] = zero;
    } else {
      std::fill(sc.vfl.begin(), sc.vfl.end(), T(0));
    }
    bool hit = false;
    const T inv_a = T(1) / ca;
    for (int y = y0; y <= y1; ++y) {
      if (k >= row_last[y - py0]) continue;
      const T dy = my - (T(y) + T(0.5));
      int xa, xb;
      if (!ellipse_row_span(conic, inv_a, mx, dy, th, x0, x1, &xa, &xb)) continue;
      const int la = xa - px0, lb = xb - px0, rowbase = (y - py0) * kTile;
      const T cdy = T(0.5) * cc * dy * dy, bdy = cb * dy;
      for (int cx = la & ~(W - 1); cx <= lb; cx += W) {
        const int base = rowbase + cx;
        const T dx0 = mx - (T(px0 + cx) + T(0.5));
        V dx;
        M ok;
        V a = chunk_alpha<T, W>(cx, la, lb, dx0, ca, cdy, bdy, o, &dx, &ok);
        const M valid = ok & __builtin_convertvector(kv < load<I>(LP + base), M);
        if (!any(valid)) continue;
        hit = true;
        a = valid ? a : zero;
        // 1) recover T_i; alpha-output term gA T_final / (1 - a)
        const V om = one - a;
        const V rom = one / om;
        const V Ti = load<V>(TC + base) * rom;
        store(TC + base, Ti);
        V v_alpha = valid ? load<V>(GA + base) * load<V>(TF + base) * rom : zero;
        // 2) per channel: dL/da += g T_i (f - R), dL/df += g T_i a, R <- a f + (1 - a) R
        for (int c = 0; c < C; ++c) {
          const T fc = f[c];
          T* Rc = R + c * P + base;
          const V Rv = load<V>(Rc);
          const V gt = load<V>(G + c * P + base) * Ti;
          v_alpha += gt * (fc - Rv);
          if constexpr (CT > 0) {
            vfl_reg[c] += gt * a;
          } else {
            store(vfl_mem + c * W, load<V>(vfl_mem + c * W) + gt * a);
          }
          store(Rc, a * fc + om * Rv);
        }
        // 3) alpha -> opacity, conic, mean2d (no gradient through a clamped alpha)
        const V v_a = (valid & (a < amax)) ? v_alpha : zero;
        const V v_sigma = -a * v_a;
        lo += (a / o) * v_a;
        lca += T(0.5) * dx * dx * v_sigma;
        lcb += dx * dy * v_sigma;
        lcc += T(0.5) * dy * dy * v_sigma;
        lmx += (ca * dx + cb * dy) * v_sigma;
        lmy += (cb * dx + cc * dy) * v_sigma;
      }
    }
    if (!hit) continue;
    T* gg = gb + int64_t(g) * stride;
    T vmx = 0, vmy = 0, vca = 0, vcb = 0, vcc = 0, vo = 0;
    for (int j = 0; j < W; ++j) {
      vmx += lmx[j];
      vmy += lmy[j];
      vca += lca[j];
      vcb += lcb[j];
      vcc += lcc[j];
      vo += lo[j];
    }
    gg[0] += vmx;
    gg[1] += vmy;
    gg[2] += vca;
    gg[3] += vcb;
    gg[4] += vcc;
    gg[5] += vo;
    for (int c = 0; c < C; ++c) {
      T sum = 0;
      if constexpr (CT > 0) {
        for (int j = 0; j < W; ++j) sum += vfl_reg[c][j];
      } else {
        for (int j = 0; j < W; ++j) sum += vfl_mem[c * W + j];
      }
      gg[6 + c] += sum;
    }
  }
}

}  // namespace blend
}  // namespace emogs

#pragma GCC pop_options
