// Launchers of the 2-D hash-grid kernels, on raw pointers (no torch headers): the CPU ones live in
// hashgrid_cpu.cpp (OpenMP), the CUDA twins in hashgrid_cuda.cu (compiled with -DEMOGS_WITH_CUDA).
//
// Shapes (all contiguous, row-major):
//   coords [N, 2] normalised to [0, 1] (clamped), table [L, T, F], res [L] cells per side of each level,
//   out / grad_out [N, C] with C = L * F (column l * F + f), jac [N, C, 2] = d out / d (u, v),
//   grad_table [L, T, F], grad_coords [N, 2].
// The coordinate gradient is cheap to get in the forward pass (same corners, same table reads), so the
// forward optionally writes the Jacobian and the backward only contracts it with grad_out.
#pragma once

#include <cstdint>

namespace emogs {
namespace hashgrid {

// CPU kernels take strided rows so that the three planes of a tri-plane encoding read their two columns of
// one [N, 3] tensor and write their slice of one [N, 3*C] output without copies:
//   u = coords[n * cstride + cu], v = coords[n * cstride + cv]; out row n at out + n * ostride,
//   jac row n at jac + n * ostride * 2 (same layout as out, times 2); grad_out row n at grad_out + n * gstride.
// jac may be nullptr (coordinates need no gradient).
template <typename scalar_t>
void forward_cpu(const scalar_t* coords, int64_t cstride, int64_t cu, int64_t cv, const scalar_t* table,
                 const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F, scalar_t* out, int64_t ostride,
                 scalar_t* jac, int num_threads);

// Scatter-add into grad_table (zeroed by the caller). Deterministic: every level is owned by one thread,
// which visits the points in order, so the summation order never changes (whatever the thread count).
template <typename scalar_t>
void backward_table_cpu(const scalar_t* grad_out, int64_t gstride, const scalar_t* coords, int64_t cstride,
                        int64_t cu, int64_t cv, const int64_t* res, int64_t N, int64_t L, int64_t T, int64_t F,
                        scalar_t* grad_table, int num_threads);

// grad_coords[n] = sum_c grad_out[n, c] * jac[n, c, :]   (grad_out [N, C], jac [N, C, 2], grad_coords [N, 2]).
template <typename scalar_t>
void backward_coords_cpu(const scalar_t* grad_out, const scalar_t* jac, int64_t N, int64_t C,
                         scalar_t* grad_coords, int num_threads);

// Tri-plane version: grad_out [N, 3C], jac [N, 3C, 2] of the planes xy, yz, xz -> grad_xyz [N, 3].
template <typename scalar_t>
void triplane_backward_coords_cpu(const scalar_t* grad_out, const scalar_t* jac, int64_t N, int64_t C,
                                  scalar_t* grad_xyz, int num_threads);

#ifdef EMOGS_WITH_CUDA
// `stream` is a cudaStream_t. The table gradient uses atomicAdd: not bit-deterministic on the GPU.
template <typename scalar_t>
void forward_cuda(const scalar_t* coords, const scalar_t* table, const int64_t* res_host, int64_t N, int64_t L,
                  int64_t T, int64_t F, scalar_t* out, scalar_t* jac, void* stream);

template <typename scalar_t>
void backward_table_cuda(const scalar_t* grad_out, const scalar_t* coords, const int64_t* res_host, int64_t N,
                         int64_t L, int64_t T, int64_t F, scalar_t* grad_table, void* stream);

template <typename scalar_t>
void backward_coords_cuda(const scalar_t* grad_out, const scalar_t* jac, int64_t N, int64_t C,
                          scalar_t* grad_coords, void* stream);
#endif

}  // namespace hashgrid
}  // namespace emogs
