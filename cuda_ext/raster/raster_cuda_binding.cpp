// Torch side of the CUDA rasterizer (compiled only with EMOGS_WITH_CUDA): allocates outputs,
// sorts the (tile, depth) keys with torch, and calls the launchers in raster_cuda.cu.
#ifdef EMOGS_WITH_CUDA
#include "raster_cuda_binding.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "raster_cuda.h"

namespace emogs {
namespace {

constexpr int kTileSize = 16;
constexpr int kMaxChannels = 32;

// The current stream of the tensors' device (the callers hold a CUDAGuard on that device).
void* stream() { return static_cast<void*>(c10::cuda::getCurrentCUDAStream().stream()); }

cuda::CameraArgs camera_args(const at::Tensor& K, int64_t width, int64_t height, double near_plane,
                             double far_plane, double eps2d) {
  auto k = K.to(at::kCPU, at::kDouble).contiguous();
  const double* kp = k.data_ptr<double>();
  return cuda::CameraArgs{float(kp[0]), float(kp[4]), float(kp[2]), float(kp[5]), int(width), int(height),
                          float(near_plane), float(far_plane), float(eps2d)};
}

template <typename F> void dispatch(at::ScalarType st, F&& f) {
  if (st == at::kFloat) {
    f(float(0));
  } else if (st == at::kDouble) {
    f(double(0));
  } else {
    TORCH_CHECK(false, "emogs raster (CUDA): expected float32 or float64 tensors, got ", st);
  }
}

}  // namespace

std::vector<at::Tensor> project_fwd_cuda(const at::Tensor& means, const at::Tensor& quats,
                                         const at::Tensor& scales, const at::Tensor& opacities,
                                         const at::Tensor& viewmat, const at::Tensor& K, int64_t width,
                                         int64_t height, double near_plane, double far_plane, double eps2d) {
  const c10::cuda::CUDAGuard guard(means.device());
  const int64_t N = means.size(0);
  auto fopt = means.options();
  auto iopt = fopt.dtype(at::kInt);
  at::Tensor means2d = at::empty({N, 2}, fopt), conics = at::empty({N, 3}, fopt), depths = at::empty({N}, fopt),
             radii = at::empty({N}, iopt), rects = at::empty({N, 4}, iopt), touched = at::empty({N}, iopt);
  const auto cam = camera_args(K, width, height, near_plane, far_plane, eps2d);
  dispatch(means.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    cuda::project_fwd<T>(N, means.data_ptr<T>(), quats.data_ptr<T>(), scales.data_ptr<T>(), opacities.data_ptr<T>(),
                         viewmat.data_ptr<T>(), cam, means2d.data_ptr<T>(), conics.data_ptr<T>(),
                         depths.data_ptr<T>(), radii.data_ptr<int>(), rects.data_ptr<int>(), touched.data_ptr<int>(),
                         stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {means2d, conics, depths, radii, rects};
}

std::vector<at::Tensor> project_bwd_cuda(const at::Tensor& means, const at::Tensor& quats,
                                         const at::Tensor& scales, const at::Tensor& viewmat,
                                         const at::Tensor& K, int64_t width, int64_t height, double eps2d,
                                         const at::Tensor& radii, const at::Tensor& v_means2d,
                                         const at::Tensor& v_conics, const at::Tensor& v_depths) {
  const c10::cuda::CUDAGuard guard(means.device());
  at::Tensor v_means = at::zeros_like(means), v_quats = at::zeros_like(quats), v_scales = at::zeros_like(scales);
  const auto cam = camera_args(K, width, height, 0.0, 0.0, eps2d);
  dispatch(means.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    cuda::project_bwd<T>(means.size(0), means.data_ptr<T>(), quats.data_ptr<T>(), scales.data_ptr<T>(),
                         viewmat.data_ptr<T>(), cam, radii.data_ptr<int>(), v_means2d.data_ptr<T>(),
                         v_conics.data_ptr<T>(), v_depths.data_ptr<T>(), v_means.data_ptr<T>(), v_quats.data_ptr<T>(),
                         v_scales.data_ptr<T>(), stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {v_means, v_quats, v_scales};
}

std::vector<at::Tensor> rasterize_fwd_cuda(const at::Tensor& means2d, const at::Tensor& conics,
                                           const at::Tensor& opacities, const at::Tensor& features,
                                           const at::Tensor& background, const at::Tensor& depths,
                                           const at::Tensor& radii, const at::Tensor& rects, int64_t width,
                                           int64_t height) {
  const c10::cuda::CUDAGuard guard(means2d.device());
  const int64_t N = means2d.size(0), C = features.size(1);
  TORCH_CHECK(C <= kMaxChannels, "rasterize (CUDA): at most ", kMaxChannels, " feature channels, got ", C,
              "; render the channels in groups");
  const int tiles_x = int((width + kTileSize - 1) / kTileSize), tiles_y = int((height + kTileSize - 1) / kTileSize);
  const int n_tiles = tiles_x * tiles_y;
  auto iopt = means2d.options().dtype(at::kInt);
  // tiles touched per Gaussian, from the pixel rects (0 for culled ones)
  auto r = rects.to(at::kLong);
  auto touched = ((r.select(1, 2).div(kTileSize, "floor") - r.select(1, 0).div(kTileSize, "floor") + 1) *
                  (r.select(1, 3).div(kTileSize, "floor") - r.select(1, 1).div(kTileSize, "floor") + 1)) *
                 (radii > 0).to(at::kLong);
  auto offsets = touched.cumsum(0).to(at::kInt).contiguous();
  const int64_t n_pairs = N ? offsets[N - 1].item<int64_t>() : 0;
  at::Tensor keys = at::empty({n_pairs}, means2d.options().dtype(at::kLong));
  at::Tensor ids = at::empty({n_pairs}, iopt);
  at::Tensor image = at::empty({height, width, C}, means2d.options());
  at::Tensor trans = at::empty({height, width}, means2d.options());
  at::Tensor last = at::empty({height, width}, iopt);
  at::Tensor tile_offsets = at::empty({n_tiles + 1}, iopt);
  dispatch(means2d.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    auto masked_depths = (depths * (radii > 0).to(depths.scalar_type())).contiguous();
    cuda::emit_tile_pairs<T>(N, rects.data_ptr<int>(), offsets.data_ptr<int>(), masked_depths.data_ptr<T>(),
                             tiles_x, keys.data_ptr<int64_t>(), ids.data_ptr<int>(), stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  auto sorted = keys.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
  at::Tensor sorted_keys = std::get<0>(sorted).contiguous();
  at::Tensor tile_ids = ids.index_select(0, std::get<1>(sorted)).contiguous();
  cuda::tile_ranges(n_pairs, sorted_keys.data_ptr<int64_t>(), n_tiles, tile_offsets.data_ptr<int>(), stream());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  dispatch(means2d.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    cuda::rasterize_fwd<T>(N, int(C), means2d.data_ptr<T>(), conics.data_ptr<T>(), opacities.data_ptr<T>(),
                           features.data_ptr<T>(), background.data_ptr<T>(), rects.data_ptr<int>(),
                           tile_offsets.data_ptr<int>(), tile_ids.data_ptr<int>(), int(width), int(height),
                           image.data_ptr<T>(), trans.data_ptr<T>(), last.data_ptr<int>(), stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  at::Tensor stats = at::zeros({8}, at::kDouble);
  stats[5] = double(n_pairs);
  return {image, trans, last, tile_offsets, tile_ids, stats};
}

std::vector<at::Tensor> rasterize_bwd_cuda(const at::Tensor& means2d, const at::Tensor& conics,
                                           const at::Tensor& opacities, const at::Tensor& features,
                                           const at::Tensor& background, const at::Tensor& rects,
                                           const at::Tensor& tile_offsets, const at::Tensor& tile_ids,
                                           const at::Tensor& trans, const at::Tensor& last,
                                           const at::Tensor& v_image, const at::Tensor& v_alpha, int64_t width,
                                           int64_t height) {
  const c10::cuda::CUDAGuard guard(means2d.device());
  const int64_t N = means2d.size(0), C = features.size(1);
  TORCH_CHECK(C <= kMaxChannels, "rasterize backward (CUDA): at most ", kMaxChannels, " feature channels, got ", C);
  at::Tensor v_means2d = at::zeros_like(means2d), v_conics = at::zeros_like(conics),
             v_opac = at::zeros_like(opacities), v_feat = at::zeros_like(features),
             v_bg = at::zeros_like(background);
  dispatch(means2d.scalar_type(), [&](auto tag) {
    using T = decltype(tag);
    cuda::rasterize_bwd<T>(N, int(C), means2d.data_ptr<T>(), conics.data_ptr<T>(), opacities.data_ptr<T>(),
                           features.data_ptr<T>(), background.data_ptr<T>(), rects.data_ptr<int>(),
                           tile_offsets.data_ptr<int>(), tile_ids.data_ptr<int>(), trans.data_ptr<T>(),
                           last.data_ptr<int>(), v_image.data_ptr<T>(), v_alpha.data_ptr<T>(), int(width),
                           int(height), v_means2d.data_ptr<T>(), v_conics.data_ptr<T>(), v_opac.data_ptr<T>(),
                           v_feat.data_ptr<T>(), v_bg.data_ptr<T>(), stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {v_means2d, v_conics, v_opac, v_feat, v_bg};
}

}  // namespace emogs
#endif  // EMOGS_WITH_CUDA
