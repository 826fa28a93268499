// CUDA launchers of the rasterizer: raw device pointers only (no torch, no CUDA headers), so the
// .cu file stays free of torch and the torch binding (raster_cuda_binding.cpp) stays free of CUDA
// syntax. `stream` is a cudaStream_t passed as void*. Layouts match the CPU kernels (raster_cpu.h).
#pragma once

#include <cstdint>

namespace emogs {
namespace cuda {

struct CameraArgs {
  float fx, fy, cx, cy;
  int width, height;
  float near_plane, far_plane, eps2d;
};

// means [N,3], quats [N,4], scales [N,3], opacities [N], viewmat [16] (device) ->
// means2d [N,2], conics [N,3], depths [N], radii [N], rects [N,4], tiles_touched [N] (int32)
template <typename T>
void project_fwd(int64_t n, const T* means, const T* quats, const T* scales, const T* opacities, const T* viewmat,
                 CameraArgs cam, T* means2d, T* conics, T* depths, int* radii, int* rects, int* tiles_touched,
                 void* stream);

// accumulates v_means [N,3], v_quats [N,4], v_scales [N,3] (zero-initialised by the caller)
template <typename T>
void project_bwd(int64_t n, const T* means, const T* quats, const T* scales, const T* viewmat, CameraArgs cam,
                 const int* radii, const T* v_means2d, const T* v_conics, const T* v_depths, T* v_means,
                 T* v_quats, T* v_scales, void* stream);

// For every visible Gaussian, writes one (key, id) per touched tile at offsets[i] (exclusive scan
// of tiles_touched): key = tile << 32 | float bits of depth (depth > 0, so keys sort by tile then depth).
template <typename T>
void emit_tile_pairs(int64_t n, const int* rects, const int* offsets, const T* depths, int tiles_x,
                     int64_t* keys, int* ids, void* stream);

// tile_offsets [n_tiles + 1] from the sorted keys (n_pairs of them).
void tile_ranges(int64_t n_pairs, const int64_t* sorted_keys, int n_tiles, int* tile_offsets, void* stream);

// image [H,W,C] (background included), trans [H,W], last [H,W]
template <typename T>
void rasterize_fwd(int64_t n, int C, const T* means2d, const T* conics, const T* opacities, const T* features,
                   const T* background, const int* rects, const int* tile_offsets, const int* tile_ids, int width,
                   int height, T* image, T* trans, int* last, void* stream);

// accumulates (atomics) v_means2d [N,2], v_conics [N,3], v_opacities [N], v_features [N,C],
// v_background [C] (zero-initialised by the caller)
template <typename T>
void rasterize_bwd(int64_t n, int C, const T* means2d, const T* conics, const T* opacities, const T* features,
                   const T* background, const int* rects, const int* tile_offsets, const int* tile_ids,
                   const T* trans, const int* last, const T* v_image, const T* v_alpha, int width, int height,
                   T* v_means2d, T* v_conics, T* v_opacities, T* v_features, T* v_background, void* stream);

}  // namespace cuda
}  // namespace emogs
