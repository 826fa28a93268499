// CPU (OpenMP) Gaussian rasterizer: projection fwd/bwd, tile binning, per-tile blending fwd/bwd.
// Templated on the scalar type (float for speed, double for gradient checks). Math: gaussian_math.h.
#include "raster_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "gaussian_math.h"
#include "raster_blend.h"

namespace emogs {
namespace {

template <typename T>
Camera<T> make_camera(const T* viewmat, const at::Tensor& K, int64_t width, int64_t height, double near_plane,
                      double far_plane, double eps2d) {
  auto k = K.to(at::kDouble).contiguous();
  const double* kp = k.data_ptr<double>();
  Camera<T> cam;
  cam.viewmat = viewmat;
  cam.fx = T(kp[0]);
  cam.fy = T(kp[4]);
  cam.cx = T(kp[2]);
  cam.cy = T(kp[5]);
  cam.width = int(width);
  cam.height = int(height);
  cam.near_plane = T(near_plane);
  cam.far_plane = T(far_plane);
  cam.eps2d = T(eps2d);
  return cam;
}

// Stable LSD radix sort of `ids` by non-negative float keys (bit patterns are monotonic).
void radix_sort_by_key(std::vector<uint32_t>& keys, std::vector<int32_t>& ids) {
  const size_t n = keys.size();
  std::vector<uint32_t> k2(n);
  std::vector<int32_t> i2(n);
  for (int shift = 0; shift < 32; shift += 11) {
    uint32_t count[2049] = {0};
    for (size_t i = 0; i < n; ++i) ++count[((keys[i] >> shift) & 2047u) + 1];
    for (int b = 0; b < 2048; ++b) count[b + 1] += count[b];
    for (size_t i = 0; i < n; ++i) {
      const uint32_t d = (keys[i] >> shift) & 2047u;
      const uint32_t dst = count[d]++;
      k2[dst] = keys[i];
      i2[dst] = ids[i];
    }
    keys.swap(k2);
    ids.swap(i2);
  }
}

inline uint32_t depth_key(float z) {
  uint32_t u;
  std::memcpy(&u, &z, 4);
  return u;  // z > 0 (near plane > 0): IEEE bits are monotonic in z
}

// Calls f(T{}) with T = float or double (a generic lambda: OpenMP pragmas cannot sit inside the
// AT_DISPATCH macro's arguments).
template <typename F> void dispatch_float(at::ScalarType st, const char* name, F&& f) {
  if (st == at::kFloat) {
    f(float(0));
  } else if (st == at::kDouble) {
    f(double(0));
  } else {
    TORCH_CHECK(false, name, ": expected float32 or float64 tensors, got ", st);
  }
}

// SIMD width of the portable pixel loops (pixels per chunk, raster_blend.h); kTile is a multiple of it.
constexpr int kVec = 4;

bool cpu_has_avx2();

// Projection of Gaussians [i0, i1) (outputs of invisible ones left untouched).
template <typename T> struct ProjFwdIO {
  const T *mp, *qp, *sp, *op;
  Camera<T> cam;
  T *m2, *cn, *dp;
  int *rp, *rc;
};
template <typename T> inline void project_fwd_range(const ProjFwdIO<T>& io, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    Projected<T> pr;
    if (!project_gaussian(io.mp + 3 * i, io.qp + 4 * i, io.sp + 3 * i, io.op[i], io.cam, pr)) continue;
    io.m2[2 * i] = pr.mean2d[0];
    io.m2[2 * i + 1] = pr.mean2d[1];
    for (int j = 0; j < 3; ++j) io.cn[3 * i + j] = pr.conic[j];
    io.dp[i] = pr.depth;
    io.rp[i] = pr.radius;
    for (int j = 0; j < 4; ++j) io.rc[4 * i + j] = pr.rect[j];
  }
}
// Projection VJP of Gaussians [i0, i1).
template <typename T> struct ProjBwdIO {
  const T *mp, *qp, *sp;
  Camera<T> cam;
  const T *vm2, *vc, *vd;
  const int* rp;
  T *gm, *gq, *gs;
};
template <typename T> inline void project_bwd_range(const ProjBwdIO<T>& io, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    if (io.rp[i] <= 0) continue;
    project_gaussian_vjp(io.mp + 3 * i, io.qp + 4 * i, io.sp + 3 * i, io.cam, io.vm2 + 2 * i, io.vc + 3 * i,
                         io.vd[i], io.gm + 3 * i, io.gq + 4 * i, io.gs + 3 * i);
  }
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The same code compiled for AVX2 CPUs (everything inlined, VEX encoding, SSE4.1 rounding instead
// of the SSE2 emulation of ceil / floor): ~1.1-1.6x faster projection. No FMA (fp-contract=off), so
// the results are bit-identical to the portable build.
template <typename T>
__attribute__((target("avx2"), flatten)) void project_fwd_range_avx2(const ProjFwdIO<T>& io, int64_t i0, int64_t i1) {
  project_fwd_range(io, i0, i1);
}
template <typename T>
__attribute__((target("avx2"), flatten)) void project_bwd_range_avx2(const ProjBwdIO<T>& io, int64_t i0, int64_t i1) {
  project_bwd_range(io, i0, i1);
}
#endif

// Splits [0, n) statically over the threads of an OpenMP team and runs f(i0, i1) or, on AVX2 CPUs,
// f_avx2(i0, i1).
template <typename F, typename G> void parallel_ranges(int64_t n, F&& f, G&& f_avx2) {
  const bool avx2 = cpu_has_avx2();
#pragma omp parallel
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
    if (avx2) {
      f_avx2(i0, i1);
    } else {
      f(i0, i1);
    }
  }
}

}  // namespace

// ------------------------------------------------------------------------------ projection
std::vector<at::Tensor> project_fwd_cpu(const at::Tensor& means, const at::Tensor& quats,
                                        const at::Tensor& scales, const at::Tensor& opacities,
                                        const at::Tensor& viewmat, const at::Tensor& K, int64_t width,
                                        int64_t height, double near_plane, double far_plane, double eps2d) {
  const int64_t N = means.size(0);
  auto fopt = means.options();
  auto iopt = fopt.dtype(at::kInt);
  at::Tensor means2d = at::zeros({N, 2}, fopt), conics = at::zeros({N, 3}, fopt),
             depths = at::zeros({N}, fopt), radii = at::zeros({N}, iopt), rects = at::zeros({N, 4}, iopt);
  dispatch_float(means.scalar_type(), "project_fwd_cpu", [&](auto tag_) {
    using T = decltype(tag_);
    auto vm = viewmat.contiguous();
    const Camera<T> cam = make_camera<T>(vm.data_ptr<T>(), K, width, height, near_plane, far_plane, eps2d);
    const ProjFwdIO<T> io{means.data_ptr<T>(), quats.data_ptr<T>(), scales.data_ptr<T>(), opacities.data_ptr<T>(),
                          cam, means2d.data_ptr<T>(), conics.data_ptr<T>(), depths.data_ptr<T>(),
                          radii.data_ptr<int>(), rects.data_ptr<int>()};
    parallel_ranges(
        N, [&](int64_t i0, int64_t i1) { project_fwd_range(io, i0, i1); },
        [&](int64_t i0, int64_t i1) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
          project_fwd_range_avx2(io, i0, i1);
#else
          project_fwd_range(io, i0, i1);
#endif
        });
  });
  return {means2d, conics, depths, radii, rects};
}

std::vector<at::Tensor> project_bwd_cpu(const at::Tensor& means, const at::Tensor& quats,
                                        const at::Tensor& scales, const at::Tensor& viewmat,
                                        const at::Tensor& K, int64_t width, int64_t height, double eps2d,
                                        const at::Tensor& radii, const at::Tensor& v_means2d,
                                        const at::Tensor& v_conics, const at::Tensor& v_depths) {
  const int64_t N = means.size(0);
  at::Tensor v_means = at::zeros_like(means), v_quats = at::zeros_like(quats), v_scales = at::zeros_like(scales);
  dispatch_float(means.scalar_type(), "project_bwd_cpu", [&](auto tag_) {
    using T = decltype(tag_);
    auto vm = viewmat.contiguous();
    const Camera<T> cam = make_camera<T>(vm.data_ptr<T>(), K, width, height, 0.0, 0.0, eps2d);
    const ProjBwdIO<T> io{means.data_ptr<T>(),      quats.data_ptr<T>(),    scales.data_ptr<T>(),
                          cam,
                          v_means2d.data_ptr<T>(),  v_conics.data_ptr<T>(), v_depths.data_ptr<T>(),
                          radii.data_ptr<int>(),    v_means.data_ptr<T>(),  v_quats.data_ptr<T>(),
                          v_scales.data_ptr<T>()};
    parallel_ranges(
        N, [&](int64_t i0, int64_t i1) { project_bwd_range(io, i0, i1); },
        [&](int64_t i0, int64_t i1) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
          project_bwd_range_avx2(io, i0, i1);
#else
          project_bwd_range(io, i0, i1);
#endif
        });
  });
  return {v_means, v_quats, v_scales};
}

// ------------------------------------------------------------------------------ binning
// Visible Gaussians sorted front to back, then appended to every 16x16 tile their pixel rect
// touches: each tile's list comes out depth-sorted without a per-tile sort. Threads own bands
// of tile rows, so both passes run in parallel without atomics.
void bin_gaussians(const at::Tensor& depths, const at::Tensor& radii, const at::Tensor& rects, int64_t width,
                   int64_t height, at::Tensor& tile_offsets, at::Tensor& tile_ids, double* t_sort,
                   double* t_bin) {
  const int64_t N = depths.size(0);
  const int tiles_x = int((width + kTile - 1) / kTile), tiles_y = int((height + kTile - 1) / kTile);
  const int n_tiles = tiles_x * tiles_y;
  const double t0 = omp_get_wtime();
  auto dz = depths.to(at::kFloat).contiguous();
  const float* dp = dz.data_ptr<float>();
  const int* rp = radii.data_ptr<int>();
  const int* rc = rects.data_ptr<int>();
  std::vector<uint32_t> keys;
  std::vector<int32_t> order;
  keys.reserve(N);
  order.reserve(N);
  for (int64_t i = 0; i < N; ++i)
    if (rp[i] > 0) {
      keys.push_back(depth_key(dp[i]));
      order.push_back(int32_t(i));
    }
  radix_sort_by_key(keys, order);
  const double t1 = omp_get_wtime();
  const int64_t nv = int64_t(order.size());
  // tile ranges of the sorted Gaussians, gathered once so both passes below read sequentially
  std::vector<int> trect(4 * nv);
  for (int64_t k = 0; k < nv; ++k) {
    const int* r = rc + 4 * order[k];
    trect[4 * k] = r[0] / kTile;
    trect[4 * k + 1] = r[1] / kTile;
    trect[4 * k + 2] = r[2] / kTile;
    trect[4 * k + 3] = r[3] / kTile;
  }
  std::vector<int64_t> counts(n_tiles + 1, 0);
  const int nthreads = std::max(1, std::min(omp_get_max_threads(), tiles_y));
#pragma omp parallel num_threads(nthreads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int r0 = int(int64_t(tiles_y) * t / nt), r1 = int(int64_t(tiles_y) * (t + 1) / nt);
    for (int64_t k = 0; k < nv; ++k) {
      const int* r = trect.data() + 4 * k;
      const int ty0 = std::max(r[1], r0), ty1 = std::min(r[3], r1 - 1);
      for (int ty = ty0; ty <= ty1; ++ty)
        for (int tx = r[0]; tx <= r[2]; ++tx) ++counts[ty * tiles_x + tx + 1];
    }
#pragma omp barrier
#pragma omp single
    {
      for (int i = 0; i < n_tiles; ++i) counts[i + 1] += counts[i];
      tile_offsets = at::empty({n_tiles + 1}, at::kInt);
      tile_ids = at::empty({counts[n_tiles]}, at::kInt);
      int* to = tile_offsets.data_ptr<int>();
      for (int i = 0; i <= n_tiles; ++i) to[i] = int(counts[i]);
    }
    int* out = tile_ids.data_ptr<int>();
    std::vector<int64_t> cursor(counts.begin() + int64_t(r0) * tiles_x, counts.begin() + int64_t(r1) * tiles_x);
    const int64_t base = int64_t(r0) * tiles_x;
    for (int64_t k = 0; k < nv; ++k) {
      const int* r = trect.data() + 4 * k;
      const int ty0 = std::max(r[1], r0), ty1 = std::min(r[3], r1 - 1);
      if (ty0 > ty1) continue;
      const int g = order[k];
      for (int ty = ty0; ty <= ty1; ++ty)
        for (int tx = r[0]; tx <= r[2]; ++tx) out[cursor[ty * tiles_x + tx - base]++] = g;
    }
  }
  *t_sort = t1 - t0;
  *t_bin = omp_get_wtime() - t1;
}

// ------------------------------------------------------------------------------ blending kernels
// Per-tile kernels (raster_blend.h) instantiated for W = 4 with the default target and, for float,
// W = 8 in AVX2+FMA clones picked at run time (one portable binary). C is the channel count
// including depth: C = 4 (RGB + depth) and 7 (RGB + normal + depth) get unrolled kernels.
namespace {

template <typename T>
using FwdTileFn = void (*)(const blend::Scene<T>&, const blend::FwdOut<T>&, int, blend::FwdScratch<T>&, int64_t*,
                           int64_t*);
template <typename T>
using BwdTileFn = void (*)(const blend::Scene<T>&, const blend::BwdIn<T>&, int, blend::BwdScratch<T>&, T*, T*);

template <typename T, int CT, bool LAST>
void fwd_tile_base(const blend::Scene<T>& s, const blend::FwdOut<T>& o, int tile, blend::FwdScratch<T>& sc,
                   int64_t* ne, int64_t* nb) {
  blend::fwd_tile<T, kVec, CT, LAST>(s, o, tile, sc, ne, nb);
}
template <typename T, int CT>
void bwd_tile_base(const blend::Scene<T>& s, const blend::BwdIn<T>& in, int tile, blend::BwdScratch<T>& sc, T* gb,
                   T* gbg) {
  blend::bwd_tile<T, kVec, CT>(s, in, tile, sc, gb, gbg);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMOGS_HAVE_AVX2_CLONES 1
// Keep these attributes equal to raster_blend.h's movmsk8 (target avx2,fma; fp-contract=fast):
// GCC inlines it only into functions with the same options.
constexpr int kVecAvx2 = 8;
template <int CT, bool LAST>
__attribute__((target("avx2,fma"), optimize("fp-contract=fast"))) void fwd_tile_avx2(
    const blend::Scene<float>& s, const blend::FwdOut<float>& o, int tile, blend::FwdScratch<float>& sc,
    int64_t* ne, int64_t* nb) {
  blend::fwd_tile<float, kVecAvx2, CT, LAST>(s, o, tile, sc, ne, nb);
}
template <int CT>
__attribute__((target("avx2,fma"), optimize("fp-contract=fast"))) void bwd_tile_avx2(const blend::Scene<float>& s, const blend::BwdIn<float>& in,
                                                       int tile, blend::BwdScratch<float>& sc, float* gb,
                                                       float* gbg) {
  blend::bwd_tile<float, kVecAvx2, CT>(s, in, tile, sc, gb, gbg);
}
bool cpu_has_avx2() {
  static const bool ok = [] {
    const char* env = std::getenv("EMOGS_NO_AVX2");  // developers: force the portable 4-lane path
    if (env && env[0] == '1') return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return ok;
}
#else
bool cpu_has_avx2() { return false; }
#endif

// SIMD width used for T on this CPU (scratch sizes depend on it)
template <typename T> int pick_width() {
#ifdef EMOGS_HAVE_AVX2_CLONES
  if (std::is_same<T, float>::value && cpu_has_avx2()) return kVecAvx2;
#endif
  return kVec;
}

template <typename T, bool LAST> FwdTileFn<T> pick_fwd(int C) {
#ifdef EMOGS_HAVE_AVX2_CLONES
  if constexpr (std::is_same<T, float>::value) {
    if (cpu_has_avx2())
      return C == 4 ? fwd_tile_avx2<4, LAST> : C == 7 ? fwd_tile_avx2<7, LAST> : fwd_tile_avx2<0, LAST>;
  }
#endif
  return C == 4 ? fwd_tile_base<T, 4, LAST> : C == 7 ? fwd_tile_base<T, 7, LAST> : fwd_tile_base<T, 0, LAST>;
}
template <typename T> BwdTileFn<T> pick_bwd(int C) {
#ifdef EMOGS_HAVE_AVX2_CLONES
  if constexpr (std::is_same<T, float>::value) {
    if (cpu_has_avx2()) return C == 4 ? bwd_tile_avx2<4> : C == 7 ? bwd_tile_avx2<7> : bwd_tile_avx2<0>;
  }
#endif
  return C == 4 ? bwd_tile_base<T, 4> : C == 7 ? bwd_tile_base<T, 7> : bwd_tile_base<T, 0>;
}

// Footprint threshold: blocks where sigma > log(255 o) + 1e-3 everywhere are skipped (a loose
// bound; the alpha test decides exactly).
template <typename T> std::vector<T> span_thresholds(const T* op, int64_t N) {
  std::vector<T> thr(N);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; ++i) thr[i] = op[i] > 0 ? T(std::log(double(op[i]) * 255.0) + 1e-3) : T(-1);
  return thr;
}

// Tiles ordered by decreasing list length: with dynamic scheduling the expensive tiles start first.
std::vector<int> tiles_by_cost(const int* to, int n_tiles) {
  std::vector<int> order(n_tiles);
  for (int i = 0; i < n_tiles; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [to](int a, int b) { return to[a + 1] - to[a] > to[b + 1] - to[b]; });
  return order;
}

}  // namespace

int64_t cpu_simd_lanes(bool float32) { return float32 ? pick_width<float>() : pick_width<double>(); }

// ------------------------------------------------------------------------------ blending forward
std::vector<at::Tensor> rasterize_fwd_cpu(const at::Tensor& means2d, const at::Tensor& conics,
                                          const at::Tensor& opacities, const at::Tensor& features,
                                          const at::Tensor& background, const at::Tensor& depths,
                                          const at::Tensor& radii, const at::Tensor& rects, int64_t width,
                                          int64_t height, bool need_last) {
  const int64_t N = means2d.size(0), C = features.size(1);
  const int tiles_x = int((width + kTile - 1) / kTile), tiles_y = int((height + kTile - 1) / kTile);
  const int n_tiles = tiles_x * tiles_y;
  at::Tensor tile_offsets, tile_ids;
  double t_sort = 0, t_bin = 0;
  bin_gaussians(depths, radii, rects, width, height, tile_offsets, tile_ids, &t_sort, &t_bin);
  auto fopt = means2d.options();
  at::Tensor image = at::empty({height, width, C}, fopt);
  at::Tensor trans = at::empty({height, width}, fopt);
  at::Tensor last = need_last ? at::empty({height, width}, fopt.dtype(at::kInt)) : at::empty({0}, fopt.dtype(at::kInt));
  at::Tensor stats = at::zeros({8}, at::kDouble);
  // footprint block masks of the tile-list entries, reused by the backward (training only)
  at::Tensor masks = at::empty({need_last ? tile_ids.size(0) : 0}, at::kLong);
  const double t2 = omp_get_wtime();
  int64_t n_eval = 0, n_blend = 0;
  dispatch_float(means2d.scalar_type(), "rasterize_fwd_cpu", [&](auto tag_) {
    using T = decltype(tag_);
    const T* op = opacities.data_ptr<T>();
    const std::vector<T> thr = span_thresholds(op, N);
    const int* to = tile_offsets.data_ptr<int>();
    const blend::Scene<T> sc{means2d.data_ptr<T>(), conics.data_ptr<T>(), op, features.data_ptr<T>(), thr.data(),
                             rects.data_ptr<int>(), to, tile_ids.data_ptr<int>(), int(width), int(height), tiles_x,
                             int(C), nullptr};
    const blend::FwdOut<T> out{image.data_ptr<T>(), trans.data_ptr<T>(), need_last ? last.data_ptr<int>() : nullptr,
                               background.data_ptr<T>(),
                               need_last ? reinterpret_cast<uint64_t*>(masks.data_ptr<int64_t>()) : nullptr};
    const FwdTileFn<T> fn = need_last ? pick_fwd<T, true>(int(C)) : pick_fwd<T, false>(int(C));
    const std::vector<int> order = tiles_by_cost(to, n_tiles);
#pragma omp parallel reduction(+ : n_eval, n_blend)
    {
      blend::FwdScratch<T> scratch{int(C)};
#pragma omp for schedule(dynamic, 1)
      for (int i = 0; i < n_tiles; ++i) fn(sc, out, order[i], scratch, &n_eval, &n_blend);
    }
  });
  double* st = stats.data_ptr<double>();
  st[0] = t_sort;
  st[1] = t_bin;
  st[2] = omp_get_wtime() - t2;
  st[3] = double(n_eval);
  st[4] = double(n_blend);
  st[5] = double(tile_ids.size(0));
  return {image, trans, last, tile_offsets, tile_ids, stats, masks};
}

// ------------------------------------------------------------------------------ blending backward
// Per tile (bwd_tile in raster_blend.h), tiles spread over threads by cost; per-thread gradient
// buffers are summed at the end (no atomics, deterministic for a fixed thread count).
std::vector<at::Tensor> rasterize_bwd_cpu(const at::Tensor& means2d, const at::Tensor& conics,
                                          const at::Tensor& opacities, const at::Tensor& features,
                                          const at::Tensor& background, const at::Tensor& rects,
                                          const at::Tensor& tile_offsets, const at::Tensor& tile_ids,
                                          const at::Tensor& trans, const at::Tensor& last, const at::Tensor& masks,
                                          const at::Tensor& v_image, const at::Tensor& v_alpha, int64_t width,
                                          int64_t height) {
  TORCH_CHECK(masks.numel() == 0 || (masks.scalar_type() == at::kLong && masks.numel() == tile_ids.numel()),
              "rasterize_bwd: masks must be the int64 [pairs] tensor returned by rasterize_fwd (or empty)");
  const int64_t N = means2d.size(0), C = features.size(1);
  const int tiles_x = int((width + kTile - 1) / kTile), tiles_y = int((height + kTile - 1) / kTile);
  const int n_tiles = tiles_x * tiles_y;
  const int nthreads = omp_get_max_threads();
  const int64_t stride = 6 + C;  // mean2d(2) conic(3) opacity(1) features(C)
  auto fopt = means2d.options();
  at::Tensor buf = at::zeros({nthreads, N, stride}, fopt);
  at::Tensor vbg = at::zeros({nthreads, C}, fopt);
  dispatch_float(means2d.scalar_type(), "rasterize_bwd_cpu", [&](auto tag_) {
    using T = decltype(tag_);
    const T* op = opacities.data_ptr<T>();
    const std::vector<T> thr = span_thresholds(op, N);
    const int* to = tile_offsets.data_ptr<int>();
    const blend::Scene<T> sc{means2d.data_ptr<T>(), conics.data_ptr<T>(), op, features.data_ptr<T>(), thr.data(),
                             rects.data_ptr<int>(), to, tile_ids.data_ptr<int>(), int(width), int(height), tiles_x,
                             int(C),
                             masks.numel() ? reinterpret_cast<const uint64_t*>(masks.data_ptr<int64_t>()) : nullptr};
    const blend::BwdIn<T> in{background.data_ptr<T>(), trans.data_ptr<T>(), v_image.data_ptr<T>(),
                             v_alpha.data_ptr<T>(), last.data_ptr<int>()};
    const BwdTileFn<T> fn = pick_bwd<T>(int(C));
    const int width_lanes = pick_width<T>();
    const std::vector<int> order = tiles_by_cost(to, n_tiles);
#pragma omp parallel num_threads(nthreads)
    {
      const int tid = omp_get_thread_num();
      T* gb = buf.data_ptr<T>() + int64_t(tid) * N * stride;
      T* gbg = vbg.data_ptr<T>() + int64_t(tid) * C;
      blend::BwdScratch<T> scratch{int(C), width_lanes};
#pragma omp for schedule(dynamic, 1)
      for (int i = 0; i < n_tiles; ++i) fn(sc, in, order[i], scratch, gb, gbg);
    }
  });
  at::Tensor total = buf.sum(0);
  return {total.narrow(1, 0, 2).contiguous(), total.narrow(1, 2, 3).contiguous(), total.select(1, 5).contiguous(),
          total.narrow(1, 6, C).contiguous(), vbg.sum(0)};
}

}  // namespace emogs
