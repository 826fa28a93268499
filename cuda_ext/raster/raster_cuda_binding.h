// Torch-facing CUDA entry points (same signatures as the CPU ones in raster_cpu.h). Only declared
// and compiled when the extension is built with EMOGS_WITH_CUDA.
#pragma once

#include <torch/extension.h>

#include <vector>

namespace emogs {

std::vector<at::Tensor> project_fwd_cuda(const at::Tensor& means, const at::Tensor& quats,
                                         const at::Tensor& scales, const at::Tensor& opacities,
                                         const at::Tensor& viewmat, const at::Tensor& K, int64_t width,
                                         int64_t height, double near_plane, double far_plane, double eps2d);
std::vector<at::Tensor> project_bwd_cuda(const at::Tensor& means, const at::Tensor& quats,
                                         const at::Tensor& scales, const at::Tensor& viewmat,
                                         const at::Tensor& K, int64_t width, int64_t height, double eps2d,
                                         const at::Tensor& radii, const at::Tensor& v_means2d,
                                         const at::Tensor& v_conics, const at::Tensor& v_depths);
std::vector<at::Tensor> rasterize_fwd_cuda(const at::Tensor& means2d, const at::Tensor& conics,
                                           const at::Tensor& opacities, const at::Tensor& features,
                                           const at::Tensor& background, const at::Tensor& depths,
                                           const at::Tensor& radii, const at::Tensor& rects, int64_t width,
                                           int64_t height);
std::vector<at::Tensor> rasterize_bwd_cuda(const at::Tensor& means2d, const at::Tensor& conics,
                                           const at::Tensor& opacities, const at::Tensor& features,
                                           const at::Tensor& background, const at::Tensor& rects,
                                           const at::Tensor& tile_offsets, const at::Tensor& tile_ids,
                                           const at::Tensor& trans, const at::Tensor& last,
                                           const at::Tensor& v_image, const at::Tensor& v_alpha, int64_t width,
                                           int64_t height);

}  // namespace emogs
