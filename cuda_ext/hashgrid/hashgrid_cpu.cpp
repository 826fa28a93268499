// CPU (OpenMP) kernels of the 2-D multiresolution hash grid; the math is in common/hashgrid_math.h.
#include "hashgrid_kernels.h"

#include <omp.h>

#include "hashgrid_math.h"

namespace emogs {
namespace hashgrid {
namespace {

// kF > 0: the feature count known at compile time (1, 2, 4, 8: the usual ones); kF == 0: runtime F.
template <typename scalar_t, bool kJac, int kF>
void forward_impl(const scalar_t* coords, int64_t cstride, int64_t cu, int64_t cv, const scalar_t* table,
                  const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F_rt, scalar_t* out, int64_t ostride,
                  scalar_t* jac, int num_threads) {
  const int64_t F = kF > 0 ? kF : F_rt;
#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t n = 0; n < N; ++n) {
    const scalar_t u = coords[n * cstride + cu];
    const scalar_t v = coords[n * cstride + cv];
    scalar_t* o = out + n * ostride;
    scalar_t* j = kJac ? jac + n * ostride * 2 : nullptr;
    Cell<scalar_t> c;
    for (int64_t l = 0; l < L; ++l) {
      locate(u, v, res[l], T, c);
      const scalar_t* tl = table + l * T * F;
      const scalar_t* p0 = tl + c.row[0] * F;
      const scalar_t* p1 = tl + c.row[1] * F;
      const scalar_t* p2 = tl + c.row[2] * F;
      const scalar_t* p3 = tl + c.row[3] * F;
      for (int64_t f = 0; f < F; ++f) {
        if (kJac) {
          o[l * F + f] = bilerp_grad(c, p0[f], p1[f], p2[f], p3[f], j[2 * (l * F + f)], j[2 * (l * F + f) + 1]);
        } else {
          o[l * F + f] = bilerp(c, p0[f], p1[f], p2[f], p3[f]);
        }
      }
    }
  }
}

template <typename scalar_t, int kF>
void backward_table_impl(const scalar_t* grad_out, int64_t gstride, const scalar_t* coords, int64_t cstride,
                         int64_t cu, int64_t cv, const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F_rt,
                         scalar_t* grad_table, int num_threads) {
  const int64_t F = kF > 0 ? kF : F_rt;
  // Thread `tid` owns levels tid, tid + nth, ...; it streams the points once and scatters into its levels.
  const int threads = static_cast<int>(num_threads < L ? num_threads : L);
#pragma omp parallel num_threads(threads)
  {
    const int64_t tid = omp_get_thread_num();
    const int64_t nth = omp_get_num_threads();
    Corners<scalar_t> c;
    for (int64_t n = 0; n < N; ++n) {
      const scalar_t u = coords[n * cstride + cu];
      const scalar_t v = coords[n * cstride + cv];
      const scalar_t* g = grad_out + n * gstride;
      for (int64_t l = tid; l < L; l += nth) {
        corners(u, v, res[l], T, c);
        scalar_t* gl = grad_table + l * T * F;
        scalar_t* q0 = gl + c.row[0] * F;
        scalar_t* q1 = gl + c.row[1] * F;
        scalar_t* q2 = gl + c.row[2] * F;
        scalar_t* q3 = gl + c.row[3] * F;
        for (int64_t f = 0; f < F; ++f) {
          const scalar_t gf = g[l * F + f];
          q0[f] += c.w[0] * gf;
          q1[f] += c.w[1] * gf;
          q2[f] += c.w[2] * gf;
          q3[f] += c.w[3] * gf;
        }
      }
    }
  }
}

#define EMOGS_HG_BY_F(F, FN, ...)                    \
  switch (F) {                                       \
    case 1: return FN<scalar_t, 1>(__VA_ARGS__);     \
    case 2: return FN<scalar_t, 2>(__VA_ARGS__);     \
    case 4: return FN<scalar_t, 4>(__VA_ARGS__);     \
    case 8: return FN<scalar_t, 8>(__VA_ARGS__);     \
    default: return FN<scalar_t, 0>(__VA_ARGS__);    \
  }

template <typename scalar_t, int kF>
void forward_jac(const scalar_t* coords, int64_t cstride, int64_t cu, int64_t cv, const scalar_t* table,
                 const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F, scalar_t* out, int64_t ostride,
                 scalar_t* jac, int nt) {
  forward_impl<scalar_t, true, kF>(coords, cstride, cu, cv, table, res, N, L, T, F, out, ostride, jac, nt);
}

template <typename scalar_t, int kF>
void forward_nojac(const scalar_t* coords, int64_t cstride, int64_t cu, int64_t cv, const scalar_t* table,
                   const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F, scalar_t* out, int64_t ostride,
                   scalar_t* jac, int nt) {
  forward_impl<scalar_t, false, kF>(coords, cstride, cu, cv, table, res, N, L, T, F, out, ostride, jac, nt);
}

}  // namespace

template <typename scalar_t>
void forward_cpu(const scalar_t* coords, int64_t cstride, int64_t cu, int64_t cv, const scalar_t* table,
                 const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F, scalar_t* out, int64_t ostride,
                 scalar_t* jac, int nt) {
  if (jac != nullptr) {
    EMOGS_HG_BY_F(F, forward_jac, coords, cstride, cu, cv, table, res, N, L, T, F, out, ostride, jac, nt)
  } else {
    EMOGS_HG_BY_F(F, forward_nojac, coords, cstride, cu, cv, table, res, N, L, T, F, out, ostride, jac, nt)
  }
}

template <typename scalar_t>
void backward_table_cpu(const scalar_t* grad_out, int64_t gstride, const scalar_t* coords, int64_t cstride,
                        int64_t cu, int64_t cv, const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F,
                        scalar_t* grad_table, int nt) {
  EMOGS_HG_BY_F(F, backward_table_impl, grad_out, gstride, coords, cstride, cu, cv, res, N, L, T, F, grad_table,
                nt)
}
#undef EMOGS_HG_BY_F

template <typename scalar_t>
void backward_coords_cpu(const scalar_t* grad_out, const scalar_t* jac, int64_t N, int64_t C,
                         scalar_t* grad_coords, int num_threads) {
#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t n = 0; n < N; ++n) {
    const scalar_t* g = grad_out + n * C;
    const scalar_t* j = jac + n * C * 2;
    scalar_t gu = 0, gv = 0;
    for (int64_t k = 0; k < C; ++k) {
      gu += g[k] * j[2 * k];
      gv += g[k] * j[2 * k + 1];
    }
    grad_coords[2 * n] = gu;
    grad_coords[2 * n + 1] = gv;
  }
}

template <typename scalar_t>
void triplane_backward_coords_cpu(const scalar_t* grad_out, const scalar_t* jac, int64_t N, int64_t C,
                                  scalar_t* grad_xyz, int num_threads) {
  constexpr int kAxes[3][2] = {{0, 1}, {1, 2}, {0, 2}};  // xy, yz, xz
#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int64_t n = 0; n < N; ++n) {
    scalar_t gx[3] = {0, 0, 0};
    for (int p = 0; p < 3; ++p) {
      const scalar_t* g = grad_out + n * 3 * C + p * C;
      const scalar_t* j = jac + (n * 3 * C + p * C) * 2;
      scalar_t gu = 0, gv = 0;
      for (int64_t k = 0; k < C; ++k) {
        gu += g[k] * j[2 * k];
        gv += g[k] * j[2 * k + 1];
      }
      gx[kAxes[p][0]] += gu;
      gx[kAxes[p][1]] += gv;
    }
    grad_xyz[3 * n] = gx[0];
    grad_xyz[3 * n + 1] = gx[1];
    grad_xyz[3 * n + 2] = gx[2];
  }
}

#define EMOGS_HG_INSTANTIATE(S)                                                                               \
  template void forward_cpu<S>(const S*, int64_t, int64_t, int64_t, const S*, const int64_t*, int64_t, int64_t, \
                               int64_t, int64_t, S*, int64_t, S*, int);                                        \
  template void backward_table_cpu<S>(const S*, int64_t, const S*, int64_t, int64_t, int64_t, const int64_t*,   \
                                      int64_t, int64_t, int64_t, int64_t, S*, int);                            \
  template void backward_coords_cpu<S>(const S*, const S*, int64_t, int64_t, S*, int);                         \
  template void triplane_backward_coords_cpu<S>(const S*, const S*, int64_t, int64_t, S*, int);

EMOGS_HG_INSTANTIATE(float)
EMOGS_HG_INSTANTIATE(double)
#undef EMOGS_HG_INSTANTIATE

}  // namespace hashgrid
}  // namespace emogs
