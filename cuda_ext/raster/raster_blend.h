// Per-tile CPU blending kernels (forward and backward), templated on the scalar type T, the SIMD
// width W (pixels per vector = one 2-row pixel block, GCC/Clang vector extensions) and the channel
// count CT (CT = 0: any C, read at run time; CT > 0: channels unrolled, backward accumulators kept
// in registers). Gaussians visit only the blocks their ellipse touches (footprint_blocks).
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
#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
  V v = {};
  v += s;  // one broadcast (a lane loop became 4 inserts + a lane copy in the AVX2 clones); -0 -> +0
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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMOGS_X86_MOVMSK 1
// vmovmskps of 8 float lanes; only called from the AVX2 clones (W = 8 kernels). Not always_inline
// (GCC refuses to force an AVX intrinsic into the default-target templates); it is inlined into the
// clones because its target / optimize attributes match theirs (raster_cpu.cpp: avx2,fma and
// fp-contract=fast, the pragma above), else it stays a call (correct, slower).
__attribute__((target("avx2,fma"))) inline uint32_t movmsk8(__m256 f) { return uint32_t(_mm256_movemask_ps(f)); }
#endif

// Bit l = lane l of a comparison mask (-1 / 0 lanes). AVX: 8 lanes of 32 bits inside the AVX2
// clones (W = 8 kernels) use one vmovmskps; elsewhere a portable loop.
template <bool AVX, typename M> EMOGS_AI uint32_t lane_bits(const M& m) {
  constexpr int n = sizeof(M) / sizeof(m[0]);
#ifdef EMOGS_X86_MOVMSK
  if constexpr (AVX && n == 8 && sizeof(m[0]) == 4) {
    __m256 f;
    std::memcpy(&f, &m, 32);
    return movmsk8(f);
  }
#endif
  uint32_t r = 0;
  for (int l = 0; l < n; ++l) r |= uint32_t(m[l] != 0) << l;
  return r;
}

// true when any lane of a mask is set (AVX: vmovmskps; else an OR of 64-bit words)
template <bool AVX, typename M> EMOGS_AI bool any(const M& m) {
  if constexpr (AVX) {
    return lane_bits<AVX>(m) != 0;
  } else {
    uint64_t w[sizeof(M) / 8];
    std::memcpy(w, &m, sizeof(M));
    uint64_t r = 0;
    for (unsigned i = 0; i < sizeof(M) / 8; ++i) r |= w[i];
    return r != 0;
  }
}

// exp(x) for x <= 0 (clamped at -30), float lanes: exp(x) = 2^n exp(r), n = round(x / ln 2),
// r = x - n ln 2 in [-ln2/2, ln2/2] (Cody-Waite, two-part ln 2), exp(r) by its degree-6 Taylor
// polynomial evaluated in Estrin form (short dependency chain); relative error < 2e-7.
// Double lanes: libm per lane (exact).
template <int W> EMOGS_AI typename Vec<float, W>::V exp_neg(typename Vec<float, W>::V x) {
  typedef typename Vec<float, W>::V V;
  typedef typename Vec<float, W>::M M;
  const V lo = splat<V, float, W>(-30.0f);
  x = x > lo ? x : lo;  // vmaxps
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
  const T *m2, *cn, *op, *fp, *thr;  // means2d [N,2], conics [N,3], opacity [N], features [N,C], footprint threshold [N]
  const int *rc, *to, *ti;           // rects [N,4], tile offsets [tiles+1], tile ids [pairs]
  int width, height, tiles_x, C;
  const uint64_t* mk;                // backward: footprint block masks [pairs] saved by the forward (or null)
};

// Pixel blocks: a tile is cut into blocks of BH = 2 rows x BW = W / 2 columns, one W-lane vector
// each (W = 8: 4x2 blocks, 32 per tile; W = 4: 2x2 blocks, 64 per tile). A Gaussian's footprint on
// a tile is a bitmask of the blocks its ellipse touches; the kernels walk the set bits, so one
// vector covers a small footprint, no per-row loop exits, and masks of live blocks AND in for free.
// Blocks are numbered column-major, b = g * NR + rb (column group g, row group rb); per-tile scratch
// is block-major: pixel (row r, column c) of the tile lives at b * W + (r % 2) * BW + c % BW.
template <int W> struct Blocks {
  static constexpr int BW = W / 2, BH = 2;
  static constexpr int NG = kTile / BW, NR = kTile / BH, NB = NG * NR;  // column groups, row groups, blocks
  static_assert(NB <= 64 && NR == 8, "block mask is 64 bits, 8 row groups");
  static EMOGS_AI int index(int r, int c) { return ((c / BW) * NR + r / BH) * W + (r % BH) * BW + c % BW; }
  static EMOGS_AI int col0(int b) { return (b / NR) * BW; }  // first column / row of block b
  static EMOGS_AI int row0(int b) { return (b % NR) * BH; }
};

// Bitmask of the blocks of tile (px0, py0) that the pixel rect r overlaps (a cheap superset of
// footprint_blocks, to skip Gaussians that only reach stopped blocks).
template <int W> EMOGS_AI uint64_t rect_blocks(const int* r, int px0, int py0) {
  typedef Blocks<W> B;
  const int cx0 = std::max(r[0] - px0, 0), cx1 = std::min(r[2] - px0, kTile - 1);
  const int cy0 = std::max(r[1] - py0, 0), cy1 = std::min(r[3] - py0, kTile - 1);
  if (cx0 > cx1 || cy0 > cy1) return 0;
  const uint64_t rows = (uint64_t(2) << (cy1 / B::BH)) - (uint64_t(1) << (cy0 / B::BH));  // row groups (8 bits)
  const int g0 = cx0 / B::BW, ng = cx1 / B::BW - g0 + 1;
  const uint64_t cols = (ng >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * ng)) - 1) << (8 * g0);  // column-group bytes
  return cols & (rows * 0x0101010101010101ull);
}

// Bitmask of the blocks (Blocks<W> numbering) of tile (px0, py0) holding a pixel centre where
// sigma <= th for a Gaussian (mean mx, my, conic ca, cb, cc), clipped to its pixel rect r.
// Exact ellipse-vs-block test without square roots: on each row the minimum of sigma over a
// column range is at the row's minimiser dx = -cb dy / ca clamped to the range. Even and odd rows
// are two 8-lane vectors, so lane rb of (even | odd) is row group rb: no shuffles.
// th carries a small margin; the alpha test in the kernels decides exactly.
template <typename T, int W>
EMOGS_AI uint64_t footprint_blocks(const int* r, int px0, int py0, T mx, T my, T ca, T cb, T cc, T th) {
  typedef Blocks<W> B;
  typedef typename Vec<T, 8>::V V8;
  typedef typename Vec<T, 8>::M M8;
  typedef typename IntOf<T>::type S;
  const int cx0 = std::max(r[0] - px0, 0), cx1 = std::min(r[2] - px0, kTile - 1);
  const int cy0 = std::max(r[1] - py0, 0), cy1 = std::min(r[3] - py0, kTile - 1);
  if (cx0 > cx1 || cy0 > cy1 || !(ca > T(0))) return 0;
  const T ox = mx - T(0.5) - T(px0), oy = my - T(0.5) - T(py0);
  const V8 re = iota<V8, T, 8>() * T(2), ro = re + T(1);  // row of lane rb: 2 rb (even), 2 rb + 1 (odd)
  const M8 ie = iota<M8, S, 8>() * S(2), io = ie + S(1);
  const M8 oke = (ie >= S(cy0)) & (ie <= S(cy1)), oko = (io >= S(cy0)) & (io <= S(cy1));
  const V8 dye = oy - re, dyo = oy - ro;
  const T nba = -cb / ca, hca = T(0.5) * ca, hcc = T(0.5) * cc;
  const V8 qe = dye * nba, qo = dyo * nba;                              // row minimisers (dx)
  const V8 be = cb * dye, bo = cb * dyo;                                // b dy
  const V8 ce = hcc * dye * dye - th, co = hcc * dyo * dyo - th;        // c dy^2 / 2 - th
  uint64_t m = 0;
  for (int g = cx0 / B::BW; g <= cx1 / B::BW; ++g) {
    // dx = ox - column over the group's columns clipped to the rect: [d0, d1]
    const T d0 = ox - T(std::min(g * B::BW + B::BW - 1, cx1)), d1 = ox - T(std::max(g * B::BW, cx0));
    const V8 v0 = splat<V8, T, 8>(d0), v1 = splat<V8, T, 8>(d1);
    V8 xe = qe < v0 ? v0 : qe, xo = qo < v0 ? v0 : qo;
    xe = xe > v1 ? v1 : xe;
    xo = xo > v1 ? v1 : xo;
    const V8 se = xe * (hca * xe + be) + ce, so = xo * (hca * xo + bo) + co;
    const M8 hit = ((se <= T(0)) & oke) | ((so <= T(0)) & oko);
    m |= uint64_t(lane_bits<W == 8>(hit)) << (g * B::NR);
  }
  return m;
}

// Column / row offset from the tile corner of every lane of every block (lx + col0(b), ly + row0(b)):
// dx = (mx - 0.5 - px0) - LX[b] is one subtraction per block vector.
template <typename T, int W> EMOGS_AI void block_offsets(typename Vec<T, W>::V* LX, typename Vec<T, W>::V* LY) {
  typedef Blocks<W> B;
  typedef typename Vec<T, W>::V V;
  V lx, ly;  // offsets inside a block (constants)
  for (int l = 0; l < W; ++l) {
    lx[l] = T(l % B::BW);
    ly[l] = T(l / B::BW);
  }
  for (int b = 0; b < B::NB; ++b) {
    LX[b] = lx + T(B::col0(b));
    LY[b] = ly + T(B::row0(b));
  }
}

// Per-thread scratch of one tile (structure of arrays over the kTile x kTile pixels, block-major).
// Tp holds the transmittance of live pixels and -T of stopped ones (and -1 outside the image).
template <typename T> struct FwdScratch {
  static constexpr int P = kTile * kTile;
  std::vector<T> Tp, acc;
  std::vector<int> lastp;
  explicit FwdScratch(int C) : Tp(P + 16), acc(size_t(P) * C + 16), lastp(P + 16) {}
};

template <typename T> struct FwdOut {
  T *img, *tr;  // image [H,W,C], final transmittance [H,W]
  int* lp;       // last blended index (1-based position in the tile list) [H,W]; null: not needed
  const T* bg;   // background [C]
  uint64_t* mk;  // footprint block mask of every tile-list entry the forward reached [pairs] (LAST only)
};

template <typename T> EMOGS_AI T* align64(T* p) {
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// Forward blending of one tile. Adds the evaluated pixel lanes / blended pairs to *n_eval / *n_blend.
// LAST: record each pixel's last blended index (the backward needs it; inference does not).
template <typename T, int W, int CT, bool LAST>
EMOGS_AI void fwd_tile(const Scene<T>& s, const FwdOut<T>& out, int tile, FwdScratch<T>& sc, int64_t* n_eval,
                       int64_t* n_blend) {
  typedef typename Vec<T, W>::V V;
  typedef typename Vec<T, W>::M M;
  typedef typename Vec<T, W>::I I;
  typedef Blocks<W> B;
  constexpr int P = kTile * kTile;
  const int C = CT > 0 ? CT : s.C;
  const int tx = tile % s.tiles_x, ty = tile / s.tiles_x;
  const int px0 = tx * kTile, py0 = ty * kTile;
  const int nx = std::min(kTile, s.width - px0), ny = std::min(kTile, s.height - py0);
  T* TP = align64(sc.Tp.data());
  T* AC = align64(sc.acc.data());
  int* LP = align64(sc.lastp.data());
  uint64_t alive = 0;
  for (int rr = 0; rr < kTile; ++rr)
    for (int c = 0; c < kTile; ++c) {
      const bool in = rr < ny && c < nx;
      const int p = B::index(rr, c);
      TP[p] = in ? T(1) : T(-1);
      if (in) alive |= uint64_t(1) << (p / W);
    }
  std::fill(AC, AC + size_t(P) * C, T(0));
  if (LAST) std::fill(LP, LP + P, 0);
  // dx = mx - (px0 + BW g + lane % BW + 0.5) = (mx - 0.5 - px0) - LX[b], dy likewise
  V LX[B::NB], LY[B::NB];  // pixel offsets (column, row) of each lane of each block from the tile corner
  block_offsets<T, W>(LX, LY);
  const int start = s.to[tile], end = s.to[tile + 1];
  const V zero = splat<V, T, W>(T(0)), one = splat<V, T, W>(T(1)), tmin = splat<V, T, W>(T(kTransMin));
  const V amax = splat<V, T, W>(T(kAlphaMax)), amin = splat<V, T, W>(T(kAlphaMin));
  int64_t nbl = 0;  // blended pairs
  int64_t nvec = 0;
  for (int k = start; k < end && alive; ++k) {
    const int g = s.ti[k];
    // the backward only visits blocks whose pixels were still live here: masks & alive suffice
    if (!(rect_blocks<W>(s.rc + 4 * g, px0, py0) & alive)) {
      if (LAST) out.mk[k] = 0;
      continue;
    }
    const T mx = s.m2[2 * g], my = s.m2[2 * g + 1];
    const T* conic = s.cn + 3 * g;
    const T ca = conic[0], cb = conic[1], cc = conic[2];
    uint64_t m = footprint_blocks<T, W>(s.rc + 4 * g, px0, py0, mx, my, ca, cb, cc, s.thr[g]) & alive;
    if (LAST) out.mk[k] = m;
    if (!m) continue;
    nvec += __builtin_popcountll(m);
    const T o = s.op[g];
    const T* f = s.fp + C * g;
    T fc[CT > 0 ? CT : 1];
    if constexpr (CT > 0)
      for (int c = 0; c < CT; ++c) fc[c] = f[c];
    const I kk = splat<I, int32_t, W>(k - start + 1);
    const V cx = splat<V, T, W>(mx - T(0.5) - T(px0)), cy = splat<V, T, W>(my - T(0.5) - T(py0));
    const T hca = T(0.5) * ca, hcc = T(0.5) * cc;
    while (m) {
      const int b = __builtin_ctzll(m);
      m &= m - 1;
      const V dx = cx - LX[b];
      const V dy = cy - LY[b];
      const V sigma = (hca * dx * dx + hcc * dy * dy) + cb * dy * dx;
      const V ns = zero - sigma;
      V a = o * exp_neg<W>(ns < zero ? ns : zero);
      a = a < amax ? a : amax;
      const int base = b * W;
      const V tp = load<V>(TP + base);
      const M valid = (sigma >= zero) & (a >= amin) & (tp > zero);  // tp < 0: pixel stopped
      const V nT = tp * (one - a);
      const M bl = valid & (nT > tmin);
      const M term = valid & (nT <= tmin);
      const V w = bl ? a * tp : zero;
      V tn = bl ? nT : tp;
      nbl += __builtin_popcount(lane_bits<W == 8>(bl));
      if (LAST) {
        const I lp = load<I>(LP + base);
        store(LP + base, __builtin_convertvector(bl, I) ? kk : lp);
      }
      if (any<W == 8>(term)) {
        tn = term ? zero - tp : tn;
        if (!any<W == 8>(tn > zero)) alive &= ~(uint64_t(1) << b);
      }
      store(TP + base, tn);
      for (int c = 0; c < C; ++c) {
        T* ac = AC + c * P + base;
        store(ac, load<V>(ac) + w * (CT > 0 ? fc[c] : f[c]));
      }
    }
  }
  *n_eval += nvec * W;
  *n_blend += nbl;
  for (int rr = 0; rr < ny; ++rr)
    for (int c = 0; c < nx; ++c) {
      const int p = B::index(rr, c);
      const int64_t o = int64_t(py0 + rr) * s.width + px0 + c;
      const T tr = std::abs(TP[p]);
      T* px = out.img + o * C;
      for (int ch = 0; ch < C; ++ch) px[ch] = AC[ch * P + p] + tr * out.bg[ch];
      out.tr[o] = tr;
      if (LAST) out.lp[o] = LP[p];
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
      : Tc(P + 16), Tf(P + 16), GA(P + 16), R(size_t(P) * C + 16), G(size_t(P) * C + 16), vfl(size_t(W) * C),
        lastp(P + 16) {}
};

// Backward of one tile: re-walks the tile's list back to front from every pixel's last blended
// Gaussian, recovering T_i = T_{i+1} / (1 - a_i) and the normalised colour behind i, R_i
// (R = background at the back, R_{i-1} = a_i f_i + (1 - a_i) R_i): dC/da_i = T_i (f_i - R_i),
// dC/df_i = T_i a_i, d(1 - T_final)/da_i = T_final / (1 - a_i). Gradients are added to gb
// ([N, 6 + C]: mean2d, conic, opacity, features) and gbg ([C], dL/dbackground). Same pixel blocks
// as the forward; a block enters the walk only once k drops below its largest last index.
template <typename T, int W, int CT>
EMOGS_AI void bwd_tile(const Scene<T>& s, const BwdIn<T>& in, int tile, BwdScratch<T>& sc, T* gb, T* gbg) {
  typedef typename Vec<T, W>::V V;
  typedef typename Vec<T, W>::M M;
  typedef typename Vec<T, W>::I I;
  typedef Blocks<W> B;
  constexpr int P = kTile * kTile;
  const int C = CT > 0 ? CT : s.C;
  const int64_t stride = 6 + C;
  const int tx = tile % s.tiles_x, ty = tile / s.tiles_x;
  const int px0 = tx * kTile, py0 = ty * kTile;
  const int nx = std::min(kTile, s.width - px0), ny = std::min(kTile, s.height - py0);
  T *TC = align64(sc.Tc.data()), *TF = align64(sc.Tf.data()), *GA = align64(sc.GA.data());
  T *R = align64(sc.R.data()), *G = align64(sc.G.data());
  int* LP = align64(sc.lastp.data());
  std::fill(LP, LP + P, 0);
  std::fill(TC, TC + P, T(1));
  std::fill(TF, TF + P, T(1));
  std::fill(GA, GA + P, T(0));
  for (int c = 0; c < C; ++c) {
    std::fill(R + c * P, R + (c + 1) * P, in.bg[c]);
    std::fill(G + c * P, G + (c + 1) * P, T(0));
  }
  int blast[B::NB] = {};  // largest last index of each block
  // dL/dbackground = sum over pixels of dL/dimage T_final: tile sums in locals (CT > 0), then added
  T gbt[CT > 0 ? CT : 1] = {};
  for (int rr = 0; rr < ny; ++rr)
    for (int x = 0; x < nx; ++x) {
      const int p = B::index(rr, x);
      const int64_t o = int64_t(py0 + rr) * s.width + px0 + x;
      const T tr = in.tr[o];
      const int lp = in.lp[o];
      TC[p] = TF[p] = tr;
      LP[p] = lp;
      blast[p / W] = std::max(blast[p / W], lp);
      GA[p] = in.va[o];
      const T* vi = in.vi + o * C;
      for (int c = 0; c < C; ++c) {
        G[c * P + p] = vi[c];
        if constexpr (CT > 0)
          gbt[c] += vi[c] * tr;
        else
          gbg[c] += vi[c] * tr;
      }
    }
  if constexpr (CT > 0)
    for (int c = 0; c < CT; ++c) gbg[c] += gbt[c];
  // blocks by decreasing last index: walking k down, `active` gains them in this order
  int border[B::NB];
  for (int b = 0; b < B::NB; ++b) border[b] = b;
  std::sort(border, border + B::NB, [&](int a, int b) { return blast[a] > blast[b]; });
  const int kmax = blast[border[0]];
  int nact = 0;
  uint64_t active = 0;
  V LX[B::NB], LY[B::NB];
  block_offsets<T, W>(LX, LY);
  const int start = s.to[tile];
  const V zero = splat<V, T, W>(T(0)), one = splat<V, T, W>(T(1)), amax = splat<V, T, W>(T(kAlphaMax));
  const V amin = splat<V, T, W>(T(kAlphaMin));
  V vfl_reg[CT > 0 ? CT : 1];
  T* vfl_mem = sc.vfl.data();
  for (int k = kmax - 1; k >= 0; --k) {
    while (nact < B::NB && blast[border[nact]] > k) active |= uint64_t(1) << border[nact++];
    const int g = s.ti[start + k];
    const T mx = s.m2[2 * g], my = s.m2[2 * g + 1];
    const T* conic = s.cn + 3 * g;
    const T ca = conic[0], cb = conic[1], cc = conic[2];
    uint64_t m = s.mk ? s.mk[start + k] : footprint_blocks<T, W>(s.rc + 4 * g, px0, py0, mx, my, ca, cb, cc, s.thr[g]);
    m &= active;
    if (!m) continue;
    const T o = s.op[g];
    const T* f = s.fp + C * g;
    T fc[CT > 0 ? CT : 1];  // local copy: stores to the scratch could alias the features otherwise
    if constexpr (CT > 0)
      for (int c = 0; c < CT; ++c) fc[c] = f[c];
    const I kv = splat<I, int32_t, W>(k);
    const V cx = splat<V, T, W>(mx - T(0.5) - T(px0)), cy = splat<V, T, W>(my - T(0.5) - T(py0));
    const T hca = T(0.5) * ca, hcc = T(0.5) * cc;
    // lane-wise accumulators, summed over lanes once per tile-Gaussian pair: with q = a dL/da
    // (dL/dsigma = -q), sums of q dx^2, q dx dy, q dy^2, q dx, q dy and e dL/da (e = a / o)
    V sxx = zero, sxy = zero, syy = zero, sx = zero, sy = zero, so = zero;
    if constexpr (CT > 0) {
      for (int c = 0; c < CT; ++c) vfl_reg[c] = zero;
    } else {
      std::fill(sc.vfl.begin(), sc.vfl.end(), T(0));
    }
    bool hit = false;
    while (m) {
      const int b = __builtin_ctzll(m);
      m &= m - 1;
      const int base = b * W;
      const V dx = cx - LX[b];
      const V dy = cy - LY[b];
      const V dxx = dx * dx, dxy = dx * dy, dyy = dy * dy;
      const V sigma = (hca * dxx + hcc * dyy) + cb * dxy;
      const V ns = zero - sigma;
      const V e = exp_neg<W>(ns < zero ? ns : zero);
      V a = o * e;
      a = a < amax ? a : amax;
      const M valid = (sigma >= zero) & (a >= amin) & __builtin_convertvector(kv < load<I>(LP + base), M);
      if (!any<W == 8>(valid)) continue;
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
        const T fcc = CT > 0 ? fc[c] : f[c];
        T* Rc = R + c * P + base;
        const V Rv = load<V>(Rc);
        const V gt = load<V>(G + c * P + base) * Ti;
        v_alpha += gt * (fcc - Rv);
        if constexpr (CT > 0) {
          vfl_reg[c] += gt * a;
        } else {
          store(vfl_mem + c * W, load<V>(vfl_mem + c * W) + gt * a);
        }
        store(Rc, a * fcc + om * Rv);
      }
      // 3) alpha -> opacity, conic, mean2d (no gradient through a clamped alpha)
      const V v_a = (valid & (a < amax)) ? v_alpha : zero;
      const V q = a * v_a;
      so += e * v_a;  // a < kAlphaMax: da/do = e
      sxx += dxx * q;
      sxy += dxy * q;
      syy += dyy * q;
      sx += dx * q;
      sy += dy * q;
    }
    if (!hit) continue;
    T* gg = gb + int64_t(g) * stride;
    T txx = 0, txy = 0, tyy = 0, tdx = 0, tdy = 0, vo = 0;
    for (int j = 0; j < W; ++j) {
      txx += sxx[j];
      txy += sxy[j];
      tyy += syy[j];
      tdx += sx[j];
      tdy += sy[j];
      vo += so[j];
    }
    // dsigma/dconic = (dx^2 / 2, dx dy, dy^2 / 2), dsigma/dmean = (a dx + b dy, b dx + c dy), dL/dsigma = -q
    const T vca = T(-0.5) * txx, vcb = -txy, vcc = T(-0.5) * tyy;
    const T vmx = -(ca * tdx + cb * tdy), vmy = -(cb * tdx + cc * tdy);
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
