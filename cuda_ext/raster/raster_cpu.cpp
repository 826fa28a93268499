// CPU (OpenMP) Gaussian rasterizer: projection fwd/bwd, tile binning, per-tile blending fwd/bwd.
// Templated on the scalar type (float for speed, double for gradient checks). Math: gaussian_math.h.
#include "raster_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gaussian_math.h"
#include "raster_simd.h"

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

// SIMD width of the pixel loops (pixels per chunk, raster_simd.h); kTile is a multiple of it.
constexpr int kVec = simd::kLanes;

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
    const T *mp = means.data_ptr<T>(), *qp = quats.data_ptr<T>(), *sp = scales.data_ptr<T>(),
            *op = opacities.data_ptr<T>();
    T *m2 = means2d.data_ptr<T>(), *cn = conics.data_ptr<T>(), *dp = depths.data_ptr<T>();
    int *rp = radii.data_ptr<int>(), *rc = rects.data_ptr<int>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      Projected<T> pr;
      if (!project_gaussian(mp + 3 * i, qp + 4 * i, sp + 3 * i, op[i], cam, pr)) continue;
      m2[2 * i] = pr.mean2d[0];
      m2[2 * i + 1] = pr.mean2d[1];
      for (int j = 0; j < 3; ++j) cn[3 * i + j] = pr.conic[j];
      dp[i] = pr.depth;
      rp[i] = pr.radius;
      for (int j = 0; j < 4; ++j) rc[4 * i + j] = pr.rect[j];
    }
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
    const T *mp = means.data_ptr<T>(), *qp = quats.data_ptr<T>(), *sp = scales.data_ptr<T>();
    const T *vm2 = v_means2d.data_ptr<T>(), *vc = v_conics.data_ptr<T>(), *vd = v_depths.data_ptr<T>();
    const int* rp = radii.data_ptr<int>();
    T *gm = v_means.data_ptr<T>(), *gq = v_quats.data_ptr<T>(), *gs = v_scales.data_ptr<T>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      if (rp[i] <= 0) continue;
      project_gaussian_vjp(mp + 3 * i, qp + 4 * i, sp + 3 * i, cam, vm2 + 2 * i, vc + 3 * i, vd[i], gm + 3 * i,
                           gq + 4 * i, gs + 3 * i);
    }
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
  std::vector<int64_t> counts(n_tiles + 1, 0);
  const int nthreads = std::max(1, std::min(omp_get_max_threads(), tiles_y));
#pragma omp parallel num_threads(nthreads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int r0 = int(int64_t(tiles_y) * t / nt), r1 = int(int64_t(tiles_y) * (t + 1) / nt);
    for (int64_t k = 0; k < nv; ++k) {
      const int* r = rc + 4 * order[k];
      const int ty0 = std::max(r[1] / kTile, r0), ty1 = std::min(r[3] / kTile, r1 - 1);
      const int tx0 = r[0] / kTile, tx1 = r[2] / kTile;
      for (int ty = ty0; ty <= ty1; ++ty)
        for (int tx = tx0; tx <= tx1; ++tx) ++counts[ty * tiles_x + tx + 1];
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
      const int g = order[k];
      const int* r = rc + 4 * g;
      const int ty0 = std::max(r[1] / kTile, r0), ty1 = std::min(r[3] / kTile, r1 - 1);
      const int tx0 = r[0] / kTile, tx1 = r[2] / kTile;
      for (int ty = ty0; ty <= ty1; ++ty)
        for (int tx = tx0; tx <= tx1; ++tx) out[cursor[ty * tiles_x + tx - base]++] = g;
    }
  }
  *t_sort = t1 - t0;
  *t_bin = omp_get_wtime() - t1;
}

// ------------------------------------------------------------------------------ blending forward
std::vector<at::Tensor> rasterize_fwd_cpu(const at::Tensor& means2d, const at::Tensor& conics,
                                          const at::Tensor& opacities, const at::Tensor& features,
                                          const at::Tensor& background, const at::Tensor& depths,
                                          const at::Tensor& radii, const at::Tensor& rects, int64_t width,
                                          int64_t height) {
  const int64_t N = means2d.size(0), C = features.size(1);
  const int tiles_x = int((width + kTile - 1) / kTile), tiles_y = int((height + kTile - 1) / kTile);
  const int n_tiles = tiles_x * tiles_y;
  at::Tensor tile_offsets, tile_ids;
  double t_sort = 0, t_bin = 0;
  bin_gaussians(depths, radii, rects, width, height, tile_offsets, tile_ids, &t_sort, &t_bin);
  auto fopt = means2d.options();
  at::Tensor image = at::empty({height, width, C}, fopt);
  at::Tensor trans = at::empty({height, width}, fopt);
  at::Tensor last = at::empty({height, width}, fopt.dtype(at::kInt));
  at::Tensor stats = at::zeros({8}, at::kDouble);
  const double t2 = omp_get_wtime();
  int64_t n_eval = 0, n_blend = 0;
  dispatch_float(means2d.scalar_type(), "rasterize_fwd_cpu", [&](auto tag_) {
    using T = decltype(tag_);
    const T *m2 = means2d.data_ptr<T>(), *cn = conics.data_ptr<T>(), *op = opacities.data_ptr<T>(),
            *fp = features.data_ptr<T>(), *bg = background.data_ptr<T>();
    const int *rc = rects.data_ptr<int>(), *to = tile_offsets.data_ptr<int>(), *ti = tile_ids.data_ptr<int>();
    T *img = image.data_ptr<T>(), *tr = trans.data_ptr<T>();
    int* lp = last.data_ptr<int>();
    // skip exp() when sigma is clearly beyond the 1/255 level (loose bound; gauss_alpha decides exactly)
    std::vector<T> thr(N);
    for (int64_t i = 0; i < N; ++i) thr[i] = op[i] > 0 ? T(std::log(double(op[i]) * 255.0) + 1e-3) : T(-1);
#pragma omp parallel reduction(+ : n_eval, n_blend)
    {
      // per-tile state, structure of arrays so the loops over a row of pixels vectorise
      constexpr int P = kTile * kTile;
      std::vector<T> Tp(P), live(P), acc(P * C), wbuf(kVec);
      std::vector<int> lastp(P);
#pragma omp for schedule(dynamic, 1)
      for (int tile = 0; tile < n_tiles; ++tile) {
        const int tx = tile % tiles_x, ty = tile / tiles_x;
        const int px0 = tx * kTile, py0 = ty * kTile;
        const int px1 = std::min<int>(px0 + kTile, int(width)) - 1, py1 = std::min<int>(py0 + kTile, int(height)) - 1;
        std::fill(Tp.begin(), Tp.end(), T(1));
        std::fill(live.begin(), live.end(), T(1));
        std::fill(acc.begin(), acc.end(), T(0));
        std::fill(lastp.begin(), lastp.end(), 0);
        int n_live = (px1 - px0 + 1) * (py1 - py0 + 1);
        int row_live[kTile];  // pixels of each tile row still compositing
        for (int r = 0; r < kTile; ++r) row_live[r] = py0 + r <= py1 ? px1 - px0 + 1 : 0;
        const int start = to[tile], end = to[tile + 1];
        T* TP = Tp.data();
        T* LV = live.data();
        T* WB = wbuf.data();
        int* LP = lastp.data();
        for (int k = start; k < end && n_live > 0; ++k) {
          const int g = ti[k];
          const int* r = rc + 4 * g;
          const int x0 = std::max(r[0], px0), x1 = std::min(r[2], px1);
          const int y0 = std::max(r[1], py0), y1 = std::min(r[3], py1);
          const T mx = m2[2 * g], my = m2[2 * g + 1], o = op[g], th = thr[g];
          const T* conic = cn + 3 * g;
          const T ca = conic[0], cb = conic[1], cc = conic[2];
          const T* f = fp + C * g;
          const int kk = k - start + 1;
          const T inv_a = T(1) / ca;
          for (int y = y0; y <= y1; ++y) {
            if (row_live[y - py0] == 0) continue;
            const T dy = my - (T(y) + T(0.5));
            int xa, xb;
            if (!ellipse_row_span(conic, inv_a, mx, dy, th, x0, x1, &xa, &xb)) continue;
            n_eval += xb - xa + 1;
            const int la = xa - px0, lb = xb - px0, rowbase = (y - py0) * kTile;
            const T cdy = T(0.5) * cc * dy * dy, bdy = cb * dy;
            // fixed-width, aligned chunks of kVec pixels (masked outside [xa, xb]): fully vectorised
            for (int cx = la & ~(kVec - 1); cx <= lb; cx += kVec) {
              const int base = rowbase + cx;
              const T dx0 = mx - (T(px0 + cx) + T(0.5));
              int nterm = 0;
              const int nbl = simd::chunk_forward<T>(cx, la, lb, dx0, ca, cdy, bdy, o, kk, TP + base, LV + base,
                                                     LP + base, WB, &nterm);
              n_blend += nbl;
              n_live -= nterm;
              row_live[y - py0] -= nterm;
              if (nbl == 0) continue;
              for (int64_t c = 0; c < C; ++c) {
                const T fc = f[c];
                T* ac = acc.data() + c * P + base;
#pragma omp simd
                for (int j = 0; j < kVec; ++j) ac[j] += WB[j] * fc;
              }
            }
          }
        }
        for (int y = py0; y <= py1; ++y)
          for (int x = px0; x <= px1; ++x) {
            const int p = (y - py0) * kTile + (x - px0);
            const int64_t o = int64_t(y) * width + x;
            T* out = img + o * C;
            for (int64_t c = 0; c < C; ++c) out[c] = acc[c * P + p] + Tp[p] * bg[c];
            tr[o] = Tp[p];
            lp[o] = lastp[p];
          }
      }
    }
  });
  double* st = stats.data_ptr<double>();
  st[0] = t_sort;
  st[1] = t_bin;
  st[2] = omp_get_wtime() - t2;
  st[3] = double(n_eval);
  st[4] = double(n_blend);
  st[5] = double(tile_ids.size(0));
  return {image, trans, last, tile_offsets, tile_ids, stats};
}

// ------------------------------------------------------------------------------ blending backward
// Re-walks each tile back to front from every pixel's last blended Gaussian, recovering
// T_i = T_{i+1} / (1 - a_i) and the normalised colour behind i, R_i (R = background at the back,
// R_{i-1} = a_i f_i + (1 - a_i) R_i), so dC/da_i = T_i (f_i - R_i), dC/df_i = T_i a_i,
// d(1 - T_final)/da_i = T_final / (1 - a_i), dC/dbackground = T_final. Per-thread gradient buffers
// are summed at the end (no atomics).
std::vector<at::Tensor> rasterize_bwd_cpu(const at::Tensor& means2d, const at::Tensor& conics,
                                          const at::Tensor& opacities, const at::Tensor& features,
                                          const at::Tensor& background, const at::Tensor& rects,
                                          const at::Tensor& tile_offsets, const at::Tensor& tile_ids,
                                          const at::Tensor& trans, const at::Tensor& last,
                                          const at::Tensor& v_image, const at::Tensor& v_alpha, int64_t width,
                                          int64_t height) {
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
    const T *m2 = means2d.data_ptr<T>(), *cn = conics.data_ptr<T>(), *op = opacities.data_ptr<T>(),
            *fp = features.data_ptr<T>(), *bg = background.data_ptr<T>(), *tr = trans.data_ptr<T>(),
            *vi = v_image.data_ptr<T>(), *va = v_alpha.data_ptr<T>();
    const int *rc = rects.data_ptr<int>(), *to = tile_offsets.data_ptr<int>(), *ti = tile_ids.data_ptr<int>(),
              *lp = last.data_ptr<int>();
    std::vector<T> thr(N);
    for (int64_t i = 0; i < N; ++i) thr[i] = op[i] > 0 ? T(std::log(double(op[i]) * 255.0) + 1e-3) : T(-1);
#pragma omp parallel num_threads(nthreads)
    {
      const int tid = omp_get_thread_num();
      T* gb = buf.data_ptr<T>() + int64_t(tid) * N * stride;
      T* gbg = vbg.data_ptr<T>() + int64_t(tid) * C;
      constexpr int P = kTile * kTile;
      // per-tile pixel state (structure of arrays) and per-row scratch
      std::vector<T> Tc(P), Tf(P), GA(P), R(P * C), G(P * C), vf(C);
      std::vector<T> ab(kVec), tib(kVec), vab(kVec), dxb(kVec), lgb(kVec), vfl(kVec * C);
      std::vector<int> lastp(P);
#pragma omp for schedule(dynamic, 1)
      for (int tile = 0; tile < n_tiles; ++tile) {
        const int tx = tile % tiles_x, ty = tile / tiles_x;
        const int px0 = tx * kTile, py0 = ty * kTile;
        const int px1 = std::min<int>(px0 + kTile, int(width)) - 1, py1 = std::min<int>(py0 + kTile, int(height)) - 1;
        int kmax = 0;
        int row_last[kTile] = {};  // largest last index of each tile row
        std::fill(lastp.begin(), lastp.end(), 0);
        for (int y = py0; y <= py1; ++y)
          for (int x = px0; x <= px1; ++x) {
            const int p = (y - py0) * kTile + (x - px0);
            const int64_t o = int64_t(y) * width + x;
            Tc[p] = Tf[p] = tr[o];
            lastp[p] = lp[o];
            kmax = std::max(kmax, lp[o]);
            row_last[y - py0] = std::max(row_last[y - py0], lp[o]);
            GA[p] = va[o];
            for (int64_t c = 0; c < C; ++c) {
              R[c * P + p] = bg[c];
              G[c * P + p] = vi[o * C + c];
              gbg[c] += vi[o * C + c] * tr[o];
            }
          }
        const int start = to[tile];
        T* TC = Tc.data();
        const T* TF = Tf.data();
        const T* GAp = GA.data();
        const int* LP = lastp.data();
        T *AB = ab.data(), *TIB = tib.data(), *VAB = vab.data(), *DXB = dxb.data(), *LGB = lgb.data();
        for (int k = kmax - 1; k >= 0; --k) {
          const int g = ti[start + k];
          const int* r = rc + 4 * g;
          const int x0 = std::max(r[0], px0), x1 = std::min(r[2], px1);
          const int y0 = std::max(r[1], py0), y1 = std::min(r[3], py1);
          const T mx = m2[2 * g], my = m2[2 * g + 1], o = op[g], th = thr[g];
          const T* conic = cn + 3 * g;
          const T ca = conic[0], cb = conic[1], cc = conic[2];
          const T* f = fp + C * g;
          // lane-wise gradient accumulators (summed over lanes once per tile-Gaussian pair)
          T lmx[kVec] = {}, lmy[kVec] = {}, lca[kVec] = {}, lcb[kVec] = {}, lcc[kVec] = {}, lo[kVec] = {};
          std::fill(vfl.begin(), vfl.end(), T(0));
          bool any = false;
          const T inv_a = T(1) / ca;
          for (int y = y0; y <= y1; ++y) {
            if (k >= row_last[y - py0]) continue;
            const T dy = my - (T(y) + T(0.5));
            int xa, xb;
            if (!ellipse_row_span(conic, inv_a, mx, dy, th, x0, x1, &xa, &xb)) continue;
            const int la = xa - px0, lb = xb - px0, rowbase = (y - py0) * kTile;
            const T cdy = T(0.5) * cc * dy * dy, bdy = cb * dy;
            for (int cx = la & ~(kVec - 1); cx <= lb; cx += kVec) {
              const int base = rowbase + cx;
              const T dx0 = mx - (T(px0 + cx) + T(0.5));
              // 1) alpha of each pixel (0 where the pair was not blended), recover T_i
              const int nvalid = simd::chunk_backward_alpha<T>(cx, la, lb, dx0, ca, cdy, bdy, o, k, TC + base,
                                                                TF + base, GAp + base, LP + base, AB, TIB, DXB,
                                                                VAB, LGB);
              if (nvalid == 0) continue;
              any = true;
              // 2) per channel: dL/da += g T_i (f - R), dL/df += g T_i a, R <- a f + (1 - a) R
              for (int64_t c = 0; c < C; ++c) {
                const T fc = f[c];
                T* Rc = R.data() + c * P + base;
                const T* Gc = G.data() + c * P + base;
                T* vfc = vfl.data() + c * kVec;
#pragma omp simd
                for (int j = 0; j < kVec; ++j) {
                  const T gt = Gc[j] * TIB[j];
                  VAB[j] += gt * (fc - Rc[j]);
                  vfc[j] += gt * AB[j];
                  Rc[j] = AB[j] * fc + (T(1) - AB[j]) * Rc[j];
                }
              }
              // 3) alpha -> opacity, conic, mean2d (no gradient through a clamped alpha)
#pragma omp simd
              for (int j = 0; j < kVec; ++j) {
                const T a = AB[j];
                const T v_a = LGB[j] * VAB[j];
                const T dx = DXB[j];
                const T v_sigma = -a * v_a;
                lo[j] += (a / o) * v_a;
                lca[j] += T(0.5) * dx * dx * v_sigma;
                lcb[j] += dx * dy * v_sigma;
                lcc[j] += T(0.5) * dy * dy * v_sigma;
                lmx[j] += (ca * dx + cb * dy) * v_sigma;
                lmy[j] += (cb * dx + cc * dy) * v_sigma;
              }
            }
          }
          if (!any) continue;
          T vmx = 0, vmy = 0, vca = 0, vcb = 0, vcc = 0, vo = 0;
          for (int j = 0; j < kVec; ++j) {
            vmx += lmx[j];
            vmy += lmy[j];
            vca += lca[j];
            vcb += lcb[j];
            vcc += lcc[j];
            vo += lo[j];
          }
          for (int64_t c = 0; c < C; ++c) {
            T sum = 0;
            for (int j = 0; j < kVec; ++j) sum += vfl[c * kVec + j];
            vf[c] = sum;
          }
          T* gg = gb + int64_t(g) * stride;
          gg[0] += vmx;
          gg[1] += vmy;
          gg[2] += vca;
          gg[3] += vcb;
          gg[4] += vcc;
          gg[5] += vo;
          for (int64_t c = 0; c < C; ++c) gg[6 + c] += vf[c];
        }
      }
    }
  });
  at::Tensor total = buf.sum(0);
  return {total.narrow(1, 0, 2).contiguous(), total.narrow(1, 2, 3).contiguous(), total.select(1, 5).contiguous(),
          total.narrow(1, 6, C).contiguous(), vbg.sum(0)};
}

}  // namespace emogs
