// CUDA kernels of the rasterizer. Free of torch headers: raw pointers in, raw pointers out; the
// math is the same `__host__ __device__` code the CPU kernels run (gaussian_math.h), so the CPU
// tests cover it. Launch layout: one thread per Gaussian for projection and pair emission; one
// 16x16 block per tile and one thread per pixel for blending (front to back) and its backward
// (back to front from each pixel's last blended Gaussian, gradients accumulated with atomics).
#include <cuda_runtime.h>

#include <cstdint>

#include "gaussian_math.h"
#include "raster_cuda.h"

namespace emogs {
namespace cuda {
namespace {

constexpr int kMaxChannels = 32;  // checked by the binding
constexpr int kBlock = 256;

inline unsigned grid_for(int64_t n) { return unsigned((n + kBlock - 1) / kBlock); }

template <typename T>
__device__ Camera<T> device_camera(const T* viewmat, const CameraArgs& c) {
  Camera<T> cam;
  cam.viewmat = viewmat;
  cam.fx = T(c.fx);
  cam.fy = T(c.fy);
  cam.cx = T(c.cx);
  cam.cy = T(c.cy);
  cam.width = c.width;
  cam.height = c.height;
  cam.near_plane = T(c.near_plane);
  cam.far_plane = T(c.far_plane);
  cam.eps2d = T(c.eps2d);
  return cam;
}

template <typename T>
__global__ void project_fwd_kernel(int64_t n, const T* __restrict__ means, const T* __restrict__ quats,
                                   const T* __restrict__ scales, const T* __restrict__ opacities,
                                   const T* __restrict__ viewmat, CameraArgs ca, T* means2d, T* conics, T* depths,
                                   int* radii, int* rects, int* tiles_touched) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const Camera<T> cam = device_camera(viewmat, ca);
  Projected<T> pr;
  radii[i] = 0;
  tiles_touched[i] = 0;
  if (!project_gaussian(means + 3 * i, quats + 4 * i, scales + 3 * i, opacities[i], cam, pr)) {
    for (int j = 0; j < 2; ++j) means2d[2 * i + j] = T(0);
    for (int j = 0; j < 3; ++j) conics[3 * i + j] = T(0);
    for (int j = 0; j < 4; ++j) rects[4 * i + j] = 0;
    depths[i] = T(0);
    return;
  }
  means2d[2 * i] = pr.mean2d[0];
  means2d[2 * i + 1] = pr.mean2d[1];
  for (int j = 0; j < 3; ++j) conics[3 * i + j] = pr.conic[j];
  depths[i] = pr.depth;
  radii[i] = pr.radius;
  for (int j = 0; j < 4; ++j) rects[4 * i + j] = pr.rect[j];
  tiles_touched[i] = (pr.rect[2] / kTile - pr.rect[0] / kTile + 1) * (pr.rect[3] / kTile - pr.rect[1] / kTile + 1);
}

template <typename T>
__global__ void project_bwd_kernel(int64_t n, const T* __restrict__ means, const T* __restrict__ quats,
                                   const T* __restrict__ scales, const T* __restrict__ viewmat, CameraArgs ca,
                                   const int* __restrict__ radii, const T* __restrict__ v_means2d,
                                   const T* __restrict__ v_conics, const T* __restrict__ v_depths, T* v_means,
                                   T* v_quats, T* v_scales) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n || radii[i] <= 0) return;
  const Camera<T> cam = device_camera(viewmat, ca);
  project_gaussian_vjp(means + 3 * i, quats + 4 * i, scales + 3 * i, cam, v_means2d + 2 * i, v_conics + 3 * i,
                       v_depths[i], v_means + 3 * i, v_quats + 4 * i, v_scales + 3 * i);
}

template <typename T>
__global__ void emit_pairs_kernel(int64_t n, const int* __restrict__ rects, const int* __restrict__ offsets,
                                  const T* __restrict__ depths, int tiles_x, int64_t* keys, int* ids) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int* r = rects + 4 * i;
  const int count = (r[2] / kTile - r[0] / kTile + 1) * (r[3] / kTile - r[1] / kTile + 1);
  const int start = offsets[i] - count;  // offsets = inclusive scan
  if (depths[i] <= T(0)) return;         // culled: emitted no pairs (count of a culled Gaussian is 0)
  const float z = float(depths[i]);
  const uint32_t zbits = __float_as_uint(z);
  int k = start;
  for (int ty = r[1] / kTile; ty <= r[3] / kTile; ++ty)
    for (int tx = r[0] / kTile; tx <= r[2] / kTile; ++tx) {
      keys[k] = (int64_t(ty * tiles_x + tx) << 32) | int64_t(zbits);
      ids[k] = int(i);
      ++k;
    }
}

__global__ void tile_ranges_kernel(int64_t n_pairs, const int64_t* __restrict__ keys, int n_tiles,
                                   int* tile_offsets) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i > n_pairs) return;
  const int cur = i < n_pairs ? int(keys[i] >> 32) : n_tiles;
  const int prev = i > 0 ? int(keys[i - 1] >> 32) : -1;
  for (int t = prev + 1; t <= cur; ++t) tile_offsets[t] = int(i);
}

template <typename T>
__global__ void rasterize_fwd_kernel(int C, const T* __restrict__ means2d, const T* __restrict__ conics,
                                     const T* __restrict__ opacities, const T* __restrict__ features,
                                     const T* __restrict__ background, const int* __restrict__ tile_offsets,
                                     const int* __restrict__ tile_ids, int width, int height, T* image, T* trans,
                                     int* last) {
  const int tiles_x = (width + kTile - 1) / kTile;
  const int tile = blockIdx.y * tiles_x + blockIdx.x;
  const int x = blockIdx.x * kTile + threadIdx.x, y = blockIdx.y * kTile + threadIdx.y;
  if (x >= width || y >= height) return;
  const T px = T(x) + T(0.5), py = T(y) + T(0.5);
  T acc[kMaxChannels];
  for (int c = 0; c < C; ++c) acc[c] = T(0);
  T Tr = T(1);
  int lastk = 0;
  const int start = tile_offsets[tile], end = tile_offsets[tile + 1];
  for (int k = start; k < end; ++k) {
    const int g = tile_ids[k];
    const T* conic = conics + 3 * g;
    const T dx = means2d[2 * g] - px, dy = means2d[2 * g + 1] - py;
    const T a = gauss_alpha(opacities[g], gauss_sigma(conic, dx, dy));
    if (a == T(0)) continue;
    const T nT = Tr * (T(1) - a);
    if (nT <= T(kTransMin)) break;
    const T w = a * Tr;
    for (int c = 0; c < C; ++c) acc[c] += w * features[int64_t(g) * C + c];
    Tr = nT;
    lastk = k - start + 1;
  }
  const int64_t o = int64_t(y) * width + x;
  for (int c = 0; c < C; ++c) image[o * C + c] = acc[c] + Tr * background[c];
  trans[o] = Tr;
  last[o] = lastk;
}

template <typename T>
__global__ void rasterize_bwd_kernel(int C, const T* __restrict__ means2d, const T* __restrict__ conics,
                                     const T* __restrict__ opacities, const T* __restrict__ features,
                                     const T* __restrict__ background, const int* __restrict__ tile_offsets,
                                     const int* __restrict__ tile_ids, const T* __restrict__ trans,
                                     const int* __restrict__ last, const T* __restrict__ v_image,
                                     const T* __restrict__ v_alpha, int width, int height, T* v_means2d,
                                     T* v_conics, T* v_opacities, T* v_features, T* v_background) {
  const int tiles_x = (width + kTile - 1) / kTile;
  const int tile = blockIdx.y * tiles_x + blockIdx.x;
  const int x = blockIdx.x * kTile + threadIdx.x, y = blockIdx.y * kTile + threadIdx.y;
  if (x >= width || y >= height) return;
  const int64_t o = int64_t(y) * width + x;
  const T px = T(x) + T(0.5), py = T(y) + T(0.5);
  const T Tf = trans[o], gA = v_alpha[o];
  T R[kMaxChannels], G[kMaxChannels];
  for (int c = 0; c < C; ++c) {
    R[c] = background[c];
    G[c] = v_image[o * C + c];
    atomicAdd(v_background + c, G[c] * Tf);
  }
  T Tc = Tf;
  const int start = tile_offsets[tile];
  for (int k = last[o] - 1; k >= 0; --k) {
    const int g = tile_ids[start + k];
    const T* conic = conics + 3 * g;
    const T o_g = opacities[g];
    const T dx = means2d[2 * g] - px, dy = means2d[2 * g + 1] - py;
    const T a = gauss_alpha(o_g, gauss_sigma(conic, dx, dy));
    if (a == T(0)) continue;
    const T om = T(1) - a;
    const T Ti = Tc / om;
    T v_a = gA * Tf / om;
    const T* f = features + int64_t(g) * C;
    for (int c = 0; c < C; ++c) {
      v_a += G[c] * Ti * (f[c] - R[c]);
      atomicAdd(v_features + int64_t(g) * C + c, G[c] * Ti * a);
      R[c] = a * f[c] + om * R[c];
    }
    Tc = Ti;
    T vm[2] = {0, 0}, vc[3] = {0, 0, 0}, vo = 0;
    gauss_alpha_vjp(conic, o_g, dx, dy, a, v_a, vm, vc, &vo);
    atomicAdd(v_means2d + 2 * g, vm[0]);
    atomicAdd(v_means2d + 2 * g + 1, vm[1]);
    for (int j = 0; j < 3; ++j) atomicAdd(v_conics + 3 * g + j, vc[j]);
    atomicAdd(v_opacities + g, vo);
  }
}

}  // namespace

template <typename T>
void project_fwd(int64_t n, const T* means, const T* quats, const T* scales, const T* opacities, const T* viewmat,
                 CameraArgs cam, T* means2d, T* conics, T* depths, int* radii, int* rects, int* tiles_touched,
                 void* stream) {
  if (n == 0) return;
  project_fwd_kernel<T><<<grid_for(n), kBlock, 0, static_cast<cudaStream_t>(stream)>>>(
      n, means, quats, scales, opacities, viewmat, cam, means2d, conics, depths, radii, rects, tiles_touched);
}

template <typename T>
void project_bwd(int64_t n, const T* means, const T* quats, const T* scales, const T* viewmat, CameraArgs cam,
                 const int* radii, const T* v_means2d, const T* v_conics, const T* v_depths, T* v_means,
                 T* v_quats, T* v_scales, void* stream) {
  if (n == 0) return;
  project_bwd_kernel<T><<<grid_for(n), kBlock, 0, static_cast<cudaStream_t>(stream)>>>(
      n, means, quats, scales, viewmat, cam, radii, v_means2d, v_conics, v_depths, v_means, v_quats, v_scales);
}

template <typename T>
void emit_tile_pairs(int64_t n, const int* rects, const int* offsets, const T* depths, int tiles_x, int64_t* keys,
                     int* ids, void* stream) {
  if (n == 0) return;
  emit_pairs_kernel<T><<<grid_for(n), kBlock, 0, static_cast<cudaStream_t>(stream)>>>(n, rects, offsets, depths,
                                                                                      tiles_x, keys, ids);
}

void tile_ranges(int64_t n_pairs, const int64_t* sorted_keys, int n_tiles, int* tile_offsets, void* stream) {
  tile_ranges_kernel<<<grid_for(n_pairs + 1), kBlock, 0, static_cast<cudaStream_t>(stream)>>>(
      n_pairs, sorted_keys, n_tiles, tile_offsets);
}

template <typename T>
void rasterize_fwd(int64_t n, int C, const T* means2d, const T* conics, const T* opacities, const T* features,
                   const T* background, const int* rects, const int* tile_offsets, const int* tile_ids, int width,
                   int height, T* image, T* trans, int* last, void* stream) {
  (void)n;
  (void)rects;
  const dim3 grid((width + kTile - 1) / kTile, (height + kTile - 1) / kTile), block(kTile, kTile);
  rasterize_fwd_kernel<T><<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(
      C, means2d, conics, opacities, features, background, tile_offsets, tile_ids, width, height, image, trans,
      last);
}

template <typename T>
void rasterize_bwd(int64_t n, int C, const T* means2d, const T* conics, const T* opacities, const T* features,
                   const T* background, const int* rects, const int* tile_offsets, const int* tile_ids,
                   const T* trans, const int* last, const T* v_image, const T* v_alpha, int width, int height,
                   T* v_means2d, T* v_conics, T* v_opacities, T* v_features, T* v_background, void* stream) {
  (void)n;
  (void)rects;
  const dim3 grid((width + kTile - 1) / kTile, (height + kTile - 1) / kTile), block(kTile, kTile);
  rasterize_bwd_kernel<T><<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(
      C, means2d, conics, opacities, features, background, tile_offsets, tile_ids, trans, last, v_image, v_alpha,
      width, height, v_means2d, v_conics, v_opacities, v_features, v_background);
}

#define EMOGS_INSTANTIATE(T)                                                                                      \
  template void project_fwd<T>(int64_t, const T*, const T*, const T*, const T*, const T*, CameraArgs, T*, T*, T*, \
                               int*, int*, int*, void*);                                                          \
  template void project_bwd<T>(int64_t, const T*, const T*, const T*, const T*, CameraArgs, const int*, const T*, \
                               const T*, const T*, T*, T*, T*, void*);                                            \
  template void emit_tile_pairs<T>(int64_t, const int*, const int*, const T*, int, int64_t*, int*, void*);        \
  template void rasterize_fwd<T>(int64_t, int, const T*, const T*, const T*, const T*, const T*, const int*,      \
                                 const int*, const int*, int, int, T*, T*, int*, void*);                          \
  template void rasterize_bwd<T>(int64_t, int, const T*, const T*, const T*, const T*, const T*, const int*,      \
                                 const int*, const int*, const T*, const int*, const T*, const T*, int, int, T*,  \
                                 T*, T*, T*, T*, void*);
EMOGS_INSTANTIATE(float)
EMOGS_INSTANTIATE(double)
#undef EMOGS_INSTANTIATE

}  // namespace cuda
}  // namespace emogs
