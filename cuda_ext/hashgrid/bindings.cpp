// Thin torch binding of the hash-grid kernels: checks, allocation, dispatch to the CPU or CUDA launchers.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "hashgrid_kernels.h"
#include "hashgrid_math.h"

#ifdef EMOGS_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace {

using emogs::hashgrid::kMaxLevels;

void check_inputs(const torch::Tensor& coords, const torch::Tensor& table, const std::vector<int64_t>& res) {
  TORCH_CHECK(coords.dim() == 2 && coords.size(1) == 2, "hashgrid: coords must be [N, 2], got ", coords.sizes());
  TORCH_CHECK(table.dim() == 3, "hashgrid: table must be [L, T, F], got ", table.sizes());
  TORCH_CHECK(static_cast<int64_t>(res.size()) == table.size(0), "hashgrid: ", res.size(),
              " resolutions for a table of ", table.size(0), " levels");
  TORCH_CHECK(table.size(0) <= kMaxLevels, "hashgrid: at most ", kMaxLevels, " levels");
  TORCH_CHECK(table.size(1) >= 1 && table.size(1) <= (int64_t(1) << 31), "hashgrid: table rows must be in [1, 2^31]");
  for (int64_t r : res) TORCH_CHECK(r >= 1 && r <= (int64_t(1) << 30), "hashgrid: resolutions must be in [1, 2^30], got ", r);
  TORCH_CHECK(coords.scalar_type() == table.scalar_type(), "hashgrid: coords and table dtypes differ");
  TORCH_CHECK(coords.device() == table.device(), "hashgrid: coords and table are on different devices");
  TORCH_CHECK(coords.is_contiguous() && table.is_contiguous(), "hashgrid: inputs must be contiguous");
}

int threads() { return std::max(1, at::get_num_threads()); }

[[noreturn]] void no_cuda() {
  TORCH_CHECK(false, "emogs._ext_hashgrid was built without CUDA; rebuild with a CUDA torch and nvcc "
                     "(EMOGS_CUDA=1) or use backend='torch'");
}

}  // namespace

// Returns {out [N, L*F], jac [N, L*F, 2] (undefined unless with_jacobian)}.
std::vector<torch::Tensor> hashgrid_forward(const torch::Tensor& coords, const torch::Tensor& table,
                                            std::vector<int64_t> res, bool with_jacobian) {
  check_inputs(coords, table, res);
  const int64_t N = coords.size(0), L = table.size(0), T = table.size(1), F = table.size(2);
  auto out = torch::empty({N, L * F}, coords.options());
  torch::Tensor jac;
  if (with_jacobian) jac = torch::empty({N, L * F, 2}, coords.options());
  if (N == 0) return {out, jac};
  AT_DISPATCH_FLOATING_TYPES(coords.scalar_type(), "hashgrid_forward", [&] {
    scalar_t* jac_ptr = with_jacobian ? jac.data_ptr<scalar_t>() : nullptr;
    if (coords.is_cuda()) {
#ifdef EMOGS_WITH_CUDA
      const c10::cuda::CUDAGuard guard(coords.device());
      emogs::hashgrid::forward_cuda<scalar_t>(coords.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), res.data(),
                                              N, L, T, F, out.data_ptr<scalar_t>(), jac_ptr,
                                              c10::cuda::getCurrentCUDAStream().stream());
#else
      no_cuda();
#endif
    } else {
      emogs::hashgrid::forward_cpu<scalar_t>(coords.data_ptr<scalar_t>(), 2, 0, 1, table.data_ptr<scalar_t>(),
                                             res.data(), N, L, T, F, out.data_ptr<scalar_t>(), L * F, jac_ptr,
                                             threads());
    }
  });
  return {out, jac};
}

// Returns {grad_table, grad_coords}; undefined tensors for gradients not asked for. `jac` (from the forward)
// is needed only for the coordinate gradient.
std::vector<torch::Tensor> hashgrid_backward(const torch::Tensor& grad_out, const torch::Tensor& coords,
                                             const torch::Tensor& table, const c10::optional<torch::Tensor>& jac,
                                             std::vector<int64_t> res, bool need_table, bool need_coords) {
  check_inputs(coords, table, res);
  const int64_t N = coords.size(0), L = table.size(0), T = table.size(1), F = table.size(2);
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(0) == N && grad_out.size(1) == L * F,
              "hashgrid: grad_out must be [N, L*F]");
  if (need_coords)
    TORCH_CHECK(jac.has_value() && jac->defined() && jac->sizes() == torch::IntArrayRef({N, L * F, 2}) &&
                    jac->is_contiguous(),
                "hashgrid: the coordinate gradient needs the forward's Jacobian [N, L*F, 2]");
  auto g = grad_out.contiguous().to(coords.scalar_type());
  torch::Tensor grad_table, grad_coords;
  if (need_table) grad_table = torch::zeros_like(table);
  if (need_coords) grad_coords = torch::empty_like(coords);
  if (N == 0) {
    if (need_coords) grad_coords.zero_();
    return {grad_table, grad_coords};
  }
  AT_DISPATCH_FLOATING_TYPES(coords.scalar_type(), "hashgrid_backward", [&] {
    if (coords.is_cuda()) {
#ifdef EMOGS_WITH_CUDA
      const c10::cuda::CUDAGuard guard(coords.device());
      void* stream = c10::cuda::getCurrentCUDAStream().stream();
      if (need_table)
        emogs::hashgrid::backward_table_cuda<scalar_t>(g.data_ptr<scalar_t>(), coords.data_ptr<scalar_t>(),
                                                       res.data(), N, L, T, F, grad_table.data_ptr<scalar_t>(),
                                                       stream);
      if (need_coords)
        emogs::hashgrid::backward_coords_cuda<scalar_t>(g.data_ptr<scalar_t>(), jac->data_ptr<scalar_t>(), N, L * F,
                                                        grad_coords.data_ptr<scalar_t>(), stream);
#else
      no_cuda();
#endif
    } else {
      if (need_table)
        emogs::hashgrid::backward_table_cpu<scalar_t>(g.data_ptr<scalar_t>(), L * F, coords.data_ptr<scalar_t>(), 2,
                                                      0, 1, res.data(), N, L, T, F, grad_table.data_ptr<scalar_t>(),
                                                      threads());
      if (need_coords)
        emogs::hashgrid::backward_coords_cpu<scalar_t>(g.data_ptr<scalar_t>(), jac->data_ptr<scalar_t>(), N, L * F,
                                                       grad_coords.data_ptr<scalar_t>(), threads());
    }
  });
  return {grad_table, grad_coords};
}

// ---- tri-plane (CPU): three tables of one shape [L, T, F] on the planes xy, yz, xz of uvw [N, 3] in [0, 1].
// One output [N, 3*L*F] (plane-major columns), no per-plane copies of coordinates or outputs.

void check_triplane(const torch::Tensor& uvw, const std::vector<torch::Tensor>& tables,
                    const std::vector<int64_t>& res) {
  TORCH_CHECK(uvw.dim() == 2 && uvw.size(1) == 3 && uvw.is_contiguous(), "triplane: uvw must be contiguous [N, 3]");
  TORCH_CHECK(tables.size() == 3, "triplane: need 3 tables (xy, yz, xz)");
  TORCH_CHECK(!uvw.is_cuda(), "triplane: the fused kernels are CPU only; call forward() per plane on CUDA");
  for (const auto& t : tables) {
    TORCH_CHECK(t.sizes() == tables[0].sizes(), "triplane: the 3 tables must have one shape");
    check_inputs(torch::empty({0, 2}, uvw.options()), t, res);  // table shape / levels / dtype / device
    TORCH_CHECK(t.scalar_type() == uvw.scalar_type() && !t.is_cuda(), "triplane: tables must match uvw");
  }
}

std::vector<torch::Tensor> triplane_forward(const torch::Tensor& uvw, const std::vector<torch::Tensor>& tables,
                                            std::vector<int64_t> res, bool with_jacobian) {
  check_triplane(uvw, tables, res);
  const int64_t N = uvw.size(0), L = tables[0].size(0), T = tables[0].size(1), F = tables[0].size(2), C = L * F;
  auto out = torch::empty({N, 3 * C}, uvw.options());
  torch::Tensor jac;
  if (with_jacobian) jac = torch::empty({N, 3 * C, 2}, uvw.options());
  if (N == 0) return {out, jac};
  const int64_t axes[3][2] = {{0, 1}, {1, 2}, {0, 2}};
  AT_DISPATCH_FLOATING_TYPES(uvw.scalar_type(), "triplane_forward", [&] {
    for (int p = 0; p < 3; ++p) {
      scalar_t* jac_ptr = with_jacobian ? jac.data_ptr<scalar_t>() + p * C * 2 : nullptr;
      emogs::hashgrid::forward_cpu<scalar_t>(uvw.data_ptr<scalar_t>(), 3, axes[p][0], axes[p][1],
                                             tables[p].data_ptr<scalar_t>(), res.data(), N, L, T, F,
                                             out.data_ptr<scalar_t>() + p * C, 3 * C, jac_ptr, threads());
    }
  });
  return {out, jac};
}

// Returns {grad_xy, grad_yz, grad_xz, grad_uvw} (undefined where not asked for).
std::vector<torch::Tensor> triplane_backward(const torch::Tensor& grad_out, const torch::Tensor& uvw,
                                             const std::vector<torch::Tensor>& tables,
                                             const c10::optional<torch::Tensor>& jac, std::vector<int64_t> res,
                                             std::vector<bool> need_tables, bool need_coords) {
  check_triplane(uvw, tables, res);
  const int64_t N = uvw.size(0), L = tables[0].size(0), T = tables[0].size(1), F = tables[0].size(2), C = L * F;
  TORCH_CHECK(need_tables.size() == 3, "triplane: need_tables must have 3 flags");
  TORCH_CHECK(grad_out.dim() == 2 && grad_out.size(0) == N && grad_out.size(1) == 3 * C,
              "triplane: grad_out must be [N, 3*L*F]");
  if (need_coords)
    TORCH_CHECK(jac.has_value() && jac->defined() && jac->sizes() == torch::IntArrayRef({N, 3 * C, 2}) &&
                    jac->is_contiguous(),
                "triplane: the coordinate gradient needs the forward's Jacobian [N, 3*L*F, 2]");
  auto g = grad_out.contiguous().to(uvw.scalar_type());
  std::vector<torch::Tensor> grads(4);
  const int64_t axes[3][2] = {{0, 1}, {1, 2}, {0, 2}};
  AT_DISPATCH_FLOATING_TYPES(uvw.scalar_type(), "triplane_backward", [&] {
    for (int p = 0; p < 3; ++p) {
      if (!need_tables[p]) continue;
      grads[p] = torch::zeros_like(tables[p]);
      if (N > 0)
        emogs::hashgrid::backward_table_cpu<scalar_t>(g.data_ptr<scalar_t>() + p * C, 3 * C, uvw.data_ptr<scalar_t>(),
                                                      3, axes[p][0], axes[p][1], res.data(), N, L, T, F,
                                                      grads[p].data_ptr<scalar_t>(), threads());
    }
    if (need_coords) {
      grads[3] = torch::zeros_like(uvw);
      if (N > 0)
        emogs::hashgrid::triplane_backward_coords_cpu<scalar_t>(g.data_ptr<scalar_t>(), jac->data_ptr<scalar_t>(), N,
                                                                C, grads[3].data_ptr<scalar_t>(), threads());
    }
  });
  return grads;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "emogs 2-D multiresolution hash grid (forward / backward), CPU OpenMP and optional CUDA";
#ifdef EMOGS_WITH_CUDA
  m.attr("WITH_CUDA") = true;
#else
  m.attr("WITH_CUDA") = false;
#endif
  m.def("forward", &hashgrid_forward, "coords [N,2], table [L,T,F], res [L], with_jacobian -> [out, jac]",
        py::arg("coords"), py::arg("table"), py::arg("res"), py::arg("with_jacobian") = false);
  m.def("backward", &hashgrid_backward,
        "grad_out [N,L*F], coords, table, jac|None, res, need_table, need_coords -> [grad_table, grad_coords]",
        py::arg("grad_out"), py::arg("coords"), py::arg("table"), py::arg("jac"), py::arg("res"),
        py::arg("need_table"), py::arg("need_coords"));
  m.def("triplane_forward", &triplane_forward,
        "uvw [N,3] in [0,1], [table_xy, table_yz, table_xz] each [L,T,F], res, with_jacobian -> [out, jac]",
        py::arg("uvw"), py::arg("tables"), py::arg("res"), py::arg("with_jacobian") = false);
  m.def("triplane_backward", &triplane_backward,
        "grad_out [N,3LF], uvw, tables, jac|None, res, need_tables[3], need_coords -> [g_xy, g_yz, g_xz, g_uvw]",
        py::arg("grad_out"), py::arg("uvw"), py::arg("tables"), py::arg("jac"), py::arg("res"),
        py::arg("need_tables"), py::arg("need_coords"));
}
