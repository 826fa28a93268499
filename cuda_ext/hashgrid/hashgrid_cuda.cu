// CUDA twin of hashgrid_cpu.cpp: same math (common/hashgrid_math.h), no torch headers.
// Forward: one thread per (point, level), optionally writing the Jacobian d out / d (u, v).
// Table gradient: one thread per (point, level), scattered with atomicAdd (fast; the summation order, and
// so the last bits, are not deterministic). Coordinate gradient: one thread per point (deterministic).
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "hashgrid_kernels.h"
#include "hashgrid_math.h"

namespace emogs {
namespace hashgrid {
namespace {

struct Levels {
  int64_t res[kMaxLevels];
};

constexpr int kThreads = 256;

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("hashgrid CUDA ") + what + ": " + cudaGetErrorString(err));
}

inline Levels make_levels(const int64_t* res_host, int64_t L) {
  Levels lv{};
  for (int64_t l = 0; l < L && l < kMaxLevels; ++l) lv.res[l] = res_host[l];
  return lv;
}

inline int blocks_for(int64_t work) { return static_cast<int>((work + kThreads - 1) / kThreads); }

template <typename scalar_t, bool kJac>
__global__ void forward_kernel(const scalar_t* __restrict__ coords, const scalar_t* __restrict__ table,
                               Levels lv, int64_t N, int64_t L, int64_t T, int64_t F, scalar_t* __restrict__ out,
                               scalar_t* __restrict__ jac) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * L) return;
  const int64_t n = i / L, l = i % L;
  Cell<scalar_t> c;
  locate(coords[2 * n], coords[2 * n + 1], lv.res[l], T, c);
  const scalar_t* tl = table + l * T * F;
  for (int64_t f = 0; f < F; ++f) {
    const scalar_t t0 = tl[c.row[0] * F + f], t1 = tl[c.row[1] * F + f];
    const scalar_t t2 = tl[c.row[2] * F + f], t3 = tl[c.row[3] * F + f];
    const int64_t col = n * L * F + l * F + f;
    if (kJac) {
      out[col] = bilerp_grad(c, t0, t1, t2, t3, jac[2 * col], jac[2 * col + 1]);
    } else {
      out[col] = bilerp(c, t0, t1, t2, t3);
    }
  }
}

template <typename scalar_t>
__global__ void backward_table_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ coords,
                                      Levels lv, int64_t N, int64_t L, int64_t T, int64_t F, scalar_t* grad_table) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * L) return;
  const int64_t n = i / L, l = i % L;
  Corners<scalar_t> c;
  corners(coords[2 * n], coords[2 * n + 1], lv.res[l], T, c);
  const scalar_t* g = grad_out + n * L * F + l * F;
  scalar_t* gl = grad_table + l * T * F;
  for (int64_t f = 0; f < F; ++f)
    for (int k = 0; k < 4; ++k) atomicAdd(gl + c.row[k] * F + f, c.w[k] * g[f]);
}

template <typename scalar_t>
__global__ void backward_coords_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ jac,
                                       int64_t N, int64_t C, scalar_t* __restrict__ grad_coords) {
  const int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  scalar_t gu = 0, gv = 0;
  for (int64_t k = 0; k < C; ++k) {
    gu += grad_out[n * C + k] * jac[2 * (n * C + k)];
    gv += grad_out[n * C + k] * jac[2 * (n * C + k) + 1];
  }
  grad_coords[2 * n] = gu;
  grad_coords[2 * n + 1] = gv;
}

}  // namespace

template <typename scalar_t>
void forward_cuda(const scalar_t* coords, const scalar_t* table, const int64_t* res_host, int64_t N, int64_t L,
                  int64_t T, int64_t F, scalar_t* out, scalar_t* jac, void* stream) {
  if (N * L == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  if (jac != nullptr)
    forward_kernel<scalar_t, true><<<blocks_for(N * L), kThreads, 0, s>>>(coords, table, make_levels(res_host, L),
                                                                          N, L, T, F, out, jac);
  else
    forward_kernel<scalar_t, false><<<blocks_for(N * L), kThreads, 0, s>>>(coords, table, make_levels(res_host, L),
                                                                           N, L, T, F, out, nullptr);
  check(cudaGetLastError(), "forward launch");
}

template <typename scalar_t>
void backward_table_cuda(const scalar_t* grad_out, const scalar_t* coords, const int64_t* res_host, int64_t N,
                         int64_t L, int64_t T, int64_t F, scalar_t* grad_table, void* stream) {
  if (N * L == 0) return;
  backward_table_kernel<scalar_t><<<blocks_for(N * L), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      grad_out, coords, make_levels(res_host, L), N, L, T, F, grad_table);
  check(cudaGetLastError(), "backward (table) launch");
}

template <typename scalar_t>
void backward_coords_cuda(const scalar_t* grad_out, const scalar_t* jac, int64_t N, int64_t C,
                          scalar_t* grad_coords, void* stream) {
  if (N == 0) return;
  backward_coords_kernel<scalar_t><<<blocks_for(N), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      grad_out, jac, N, C, grad_coords);
  check(cudaGetLastError(), "backward (coords) launch");
}

#define EMOGS_HG_INSTANTIATE(S)                                                                               \
  template void forward_cuda<S>(const S*, const S*, const int64_t*, int64_t, int64_t, int64_t, int64_t, S*, S*, \
                                void*);                                                                        \
  template void backward_table_cuda<S>(const S*, const S*, const int64_t*, int64_t, int64_t, int64_t, int64_t, \
                                       S*, void*);                                                             \
  template void backward_coords_cuda<S>(const S*, const S*, int64_t, int64_t, S*, void*);

EMOGS_HG_INSTANTIATE(float)
EMOGS_HG_INSTANTIATE(double)
#undef EMOGS_HG_INSTANTIATE

}  // namespace hashgrid
}  // namespace emogs
