// Thin torch binding of the rasterizer: checks tensors, dispatches to the CPU kernels or (when
// built with EMOGS_WITH_CUDA and given CUDA tensors) to the CUDA kernels in raster_cuda.cu.
#include <torch/extension.h>

#include "raster_cpu.h"
#ifdef EMOGS_WITH_CUDA
#include "raster_cuda_binding.h"
#endif

namespace {

void check_all(const std::vector<at::Tensor>& ts, const char* fn) {
  const auto dev = ts[0].device();
  for (const auto& t : ts) {
    TORCH_CHECK(t.defined(), fn, ": undefined tensor");
    TORCH_CHECK(t.is_contiguous(), fn, ": tensors must be contiguous (call .contiguous())");
    TORCH_CHECK(t.device() == dev, fn, ": all tensors must be on one device, got ", t.device(), " and ", dev);
  }
}

bool on_cuda(const at::Tensor& t) { return t.is_cuda(); }

[[noreturn]] void no_cuda(const char* fn) {
  TORCH_CHECK(false, fn, ": CUDA tensors given but emogs._ext_raster was built without CUDA. "
              "Rebuild with a CUDA torch and nvcc (EMOGS_CUDA=1), or move the tensors to the CPU.");
}

std::vector<at::Tensor> project_fwd(const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
                                    const at::Tensor& opacities, const at::Tensor& viewmat, const at::Tensor& K,
                                    int64_t width, int64_t height, double near_plane, double far_plane,
                                    double eps2d) {
  check_all({means, quats, scales, opacities, viewmat}, "project_fwd");
  if (on_cuda(means)) {
#ifdef EMOGS_WITH_CUDA
    return emogs::project_fwd_cuda(means, quats, scales, opacities, viewmat, K, width, height, near_plane,
                                   far_plane, eps2d);
#else
    no_cuda("project_fwd");
#endif
  }
  return emogs::project_fwd_cpu(means, quats, scales, opacities, viewmat, K, width, height, near_plane, far_plane,
                                eps2d);
}

std::vector<at::Tensor> project_bwd(const at::Tensor& means, const at::Tensor& quats, const at::Tensor& scales,
                                    const at::Tensor& viewmat, const at::Tensor& K, int64_t width, int64_t height,
                                    double eps2d, const at::Tensor& radii, const at::Tensor& v_means2d,
                                    const at::Tensor& v_conics, const at::Tensor& v_depths) {
  check_all({means, quats, scales, viewmat, radii, v_means2d, v_conics, v_depths}, "project_bwd");
  if (on_cuda(means)) {
#ifdef EMOGS_WITH_CUDA
    return emogs::project_bwd_cuda(means, quats, scales, viewmat, K, width, height, eps2d, radii, v_means2d,
                                   v_conics, v_depths);
#else
    no_cuda("project_bwd");
#endif
  }
  return emogs::project_bwd_cpu(means, quats, scales, viewmat, K, width, height, eps2d, radii, v_means2d, v_conics,
                                v_depths);
}

std::vector<at::Tensor> rasterize_fwd(const at::Tensor& means2d, const at::Tensor& conics,
                                      const at::Tensor& opacities, const at::Tensor& features,
                                      const at::Tensor& background, const at::Tensor& depths, const at::Tensor& radii,
                                      const at::Tensor& rects, int64_t width, int64_t height, bool need_last) {
  check_all({means2d, conics, opacities, features, background, depths, radii, rects}, "rasterize_fwd");
  if (on_cuda(means2d)) {
#ifdef EMOGS_WITH_CUDA
    auto outs = emogs::rasterize_fwd_cuda(means2d, conics, opacities, features, background, depths, radii, rects,
                                          width, height);
    outs.push_back(at::empty({0}, at::kLong));  // no block masks on CUDA
    return outs;
#else
    no_cuda("rasterize_fwd");
#endif
  }
  return emogs::rasterize_fwd_cpu(means2d, conics, opacities, features, background, depths, radii, rects, width,
                                  height, need_last);
}

std::vector<at::Tensor> rasterize_bwd(const at::Tensor& means2d, const at::Tensor& conics,
                                      const at::Tensor& opacities, const at::Tensor& features,
                                      const at::Tensor& background, const at::Tensor& rects,
                                      const at::Tensor& tile_offsets, const at::Tensor& tile_ids,
                                      const at::Tensor& trans, const at::Tensor& last, const at::Tensor& masks,
                                      const at::Tensor& v_image, const at::Tensor& v_alpha, int64_t width,
                                      int64_t height) {
  check_all({means2d, conics, opacities, features, background, rects, tile_offsets, tile_ids, trans, last, v_image,
             v_alpha},
            "rasterize_bwd");
  if (on_cuda(means2d)) {
#ifdef EMOGS_WITH_CUDA
    return emogs::rasterize_bwd_cuda(means2d, conics, opacities, features, background, rects, tile_offsets,
                                     tile_ids, trans, last, v_image, v_alpha, width, height);
#else
    no_cuda("rasterize_bwd");
#endif
  }
  return emogs::rasterize_bwd_cpu(means2d, conics, opacities, features, background, rects, tile_offsets, tile_ids,
                                  trans, last, masks, v_image, v_alpha, width, height);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "emogs Gaussian rasterizer kernels (CPU OpenMP; CUDA when built with EMOGS_WITH_CUDA)";
#ifdef EMOGS_WITH_CUDA
  m.attr("WITH_CUDA") = true;
#else
  m.attr("WITH_CUDA") = false;
#endif
  m.def("project_fwd", &project_fwd);
  m.def("project_bwd", &project_bwd);
  m.def("rasterize_fwd", &rasterize_fwd);
  m.def("rasterize_bwd", &rasterize_bwd);
  m.def("cpu_simd_lanes", &emogs::cpu_simd_lanes,
        "pixels per SIMD chunk of the CPU blending kernels for float32 (True) or float64 (False): "
        "8 on AVX2+FMA CPUs for float32 (EMOGS_NO_AVX2=1 forces the portable 4-lane path), else 4");
}
