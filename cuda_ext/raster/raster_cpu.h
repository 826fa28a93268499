// CPU entry points of the rasterizer (torch tensors in, torch tensors out). See raster_cpu.cpp.
#pragma once

#include <torch/extension.h>

#include <vector>

namespace emogs {

// -> means2d [N,2], conics [N,3], depths [N], radii [N] int32 (0 = culled), rects [N,4] int32
std::vector<at::Tensor> project_fwd_cpu(const at::Tensor& means, const at::Tensor& quats,
                                        const at::Tensor& scales, const at::Tensor& opacities,
                                        const at::Tensor& viewmat, const at::Tensor& K, int64_t width,
                                        int64_t height, double near_plane, double far_plane, double eps2d);

// -> v_means [N,3], v_quats [N,4], v_scales [N,3]
std::vector<at::Tensor> project_bwd_cpu(const at::Tensor& means, const at::Tensor& quats,
                                        const at::Tensor& scales, const at::Tensor& viewmat,
                                        const at::Tensor& K, int64_t width, int64_t height, double eps2d,
                                        const at::Tensor& radii, const at::Tensor& v_means2d,
                                        const at::Tensor& v_conics, const at::Tensor& v_depths);

// -> image [H,W,C] (background included), trans [H,W] (final T), last [H,W] int32,
//    tile_offsets [tiles+1] int32, tile_ids [pairs] int32, stats [8] float64
//    (sort s, binning s, blending s, pixel lanes evaluated, pairs blended, tile-Gaussian pairs),
//    masks [pairs] int64 (footprint block masks for the backward). need_last = false (inference):
//    last and masks come back empty.
std::vector<at::Tensor> rasterize_fwd_cpu(const at::Tensor& means2d, const at::Tensor& conics,
                                          const at::Tensor& opacities, const at::Tensor& features,
                                          const at::Tensor& background, const at::Tensor& depths,
                                          const at::Tensor& radii, const at::Tensor& rects, int64_t width,
                                          int64_t height, bool need_last);

// -> v_means2d [N,2], v_conics [N,3], v_opacities [N], v_features [N,C], v_background [C]
std::vector<at::Tensor> rasterize_bwd_cpu(const at::Tensor& means2d, const at::Tensor& conics,
                                          const at::Tensor& opacities, const at::Tensor& features,
                                          const at::Tensor& background, const at::Tensor& rects,
                                          const at::Tensor& tile_offsets, const at::Tensor& tile_ids,
                                          const at::Tensor& trans, const at::Tensor& last, const at::Tensor& masks,
                                          const at::Tensor& v_image, const at::Tensor& v_alpha, int64_t width,
                                          int64_t height);

// Pixels per SIMD chunk of the CPU blending kernels (8: AVX2+FMA clones, float32 only; 4: portable).
int64_t cpu_simd_lanes(bool float32);

}  // namespace emogs
