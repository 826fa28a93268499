"""2-D multiresolution hash grid: the functional core and its backends.

`hash_grid_2d(coords, table, resolutions)` looks up, for every point and level, the four grid vertices
around the point and blends their feature vectors bilinearly (instant-ngp's encoding in 2-D). Conventions
(shared with `cuda_ext/common/hashgrid_math.h`, which the compiled kernels use):

* coords are normalised to [0, 1]; values outside are clamped (their gradient is zero), NaN counts as 0;
* level `l` has `res = resolutions[l]` cells per side, i.e. vertices 0..res per axis; a point's cell is
  `x0 = min(floor(u * res), res - 1)`, so u = 1 lands on the last vertex exactly;
* a level whose `(res + 1)^2` vertices fit the table's `T` rows is indexed directly (`y * (res+1) + x`),
  otherwise by the spatial hash `(x ^ (y * 2654435761)) mod T` (uint32 arithmetic);
* output column `l * F + f` holds feature `f` of level `l`.

Backends: "torch" (the readable reference below, differentiable to any order), "cpu" (C++/OpenMP kernels
in `emogs._ext_hashgrid`, deterministic), "cuda" (the CUDA twin, when the extension was built with it;
its table gradient uses atomicAdd), "auto" (the compiled kernels for the tensors' device when available,
else the reference with a one-time warning). tinycudann owns its own parameters, so it is offered by the
module `HashGrid2D(backend="tcnn")`, not by this function.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from emogs._ext import has_extension, load_extension

PRIME_Y = 2654435761
BACKENDS = ("auto", "cpu", "cuda", "torch", "tcnn")

_warned_fallback: set[str] = set()


def level_resolutions(num_levels: int, base_resolution: int, finest_resolution: int) -> list[int]:
    """Cells per side of each level: a geometric progression from `base` to `finest` (both included).

    Level l has `floor(base * b**l + 1e-6)` cells with `b = (finest / base) ** (1 / (L - 1))`, like
    instant-ngp's per-level scale. `finest < base` is allowed (b < 1: levels get coarser), which is what
    TalkingGaussian's mouth encoder does (base 64, finest 384 * 0.15 = 57.6).
    """
    if num_levels < 1:
        raise ValueError(f"num_levels must be >= 1, got {num_levels}")
    if base_resolution < 1 or finest_resolution < 1:
        raise ValueError(
            f"base_resolution and finest_resolution must be >= 1 cell, got {base_resolution} and "
            f"{finest_resolution}"
        )
    if num_levels == 1:
        return [int(base_resolution)]
    b = math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (num_levels - 1))
    return [int(math.floor(base_resolution * b**level + 1e-6)) for level in range(num_levels)]


def _resolution_tuple(resolutions: torch.Tensor | Sequence[int]) -> tuple[int, ...]:
    if isinstance(resolutions, torch.Tensor):
        if resolutions.dim() != 1 or resolutions.dtype.is_floating_point:
            raise ValueError(
                "resolutions must be a 1-D integer tensor [L], "
                f"got {resolutions.dtype} {tuple(resolutions.shape)}"
            )
        return tuple(int(r) for r in resolutions.tolist())
    return tuple(int(r) for r in resolutions)


def _check(coords: torch.Tensor, table: torch.Tensor, res: tuple[int, ...]) -> None:
    if coords.dim() != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must be [N, 2] in [0, 1], got shape {tuple(coords.shape)}")
    if table.dim() != 3:
        raise ValueError(f"table must be [L, T, F] (levels, rows, features), got shape {tuple(table.shape)}")
    if len(res) != table.shape[0]:
        raise ValueError(
            f"{len(res)} resolutions given for a table of {table.shape[0]} levels; pass one per level"
        )
    if any(r < 1 or r > 2**30 for r in res):
        raise ValueError(f"every resolution must be in [1, 2^30] cells, got {list(res)}")
    if table.shape[1] < 1 or table.shape[1] > 2**31:
        raise ValueError(f"table rows T must be in [1, 2^31], got {table.shape[1]}")
    if not coords.dtype.is_floating_point or coords.dtype != table.dtype:
        raise TypeError(
            f"coords ({coords.dtype}) and table ({table.dtype}) must share one floating dtype; "
            "cast the coords"
        )
    if coords.device != table.device:
        raise ValueError(f"coords on {coords.device} but table on {table.device}; move them to one device")


def vertex_rows(x: torch.Tensor, y: torch.Tensor, res: int, table_size: int) -> torch.Tensor:
    """Table rows of integer vertices (x, y) [...] on a level of `res` cells: dense or hashed."""
    if (res + 1) ** 2 <= table_size:
        return y * (res + 1) + x
    return torch.bitwise_xor(x, (y * PRIME_Y) & 0xFFFFFFFF) % table_size


def hash_grid_2d_torch(
    coords: torch.Tensor, table: torch.Tensor, resolutions: torch.Tensor | Sequence[int]
) -> torch.Tensor:
    """Pure-torch reference. coords [N, 2], table [L, T, F] -> features [N, L*F].

    All levels at once (one gather from the flattened table); differentiable to any order.
    """
    res = _resolution_tuple(resolutions)
    _check(coords, table, res)
    n = coords.shape[0]
    num_levels, table_size, feat = table.shape
    r = torch.tensor(res, dtype=torch.long, device=coords.device)  # [L]
    # NaN -> 0, then clamp with the kernels' gradient: 1 on [0, 1] inclusive, 0 outside (spelled out:
    # torch.clamp's own gradient at the bounds changed in torch 2.14, from 1 to 0).
    c = torch.nan_to_num(coords, nan=0.0)
    uv = torch.where((c >= 0.0) & (c <= 1.0), c, c.detach().clamp(0.0, 1.0))
    pos = uv[:, None, :] * r.to(uv.dtype)[None, :, None]  # [N, L, 2]
    cell = torch.minimum(pos.detach().floor().long(), (r - 1)[None, :, None])  # [N, L, 2]
    frac = pos - cell.to(pos.dtype)  # [N, L, 2]
    fx, fy = frac[..., 0], frac[..., 1]  # [N, L]
    gx, gy = 1.0 - fx, 1.0 - fy
    weights = torch.stack([gx * gy, fx * gy, gx * fy, fx * fy], dim=-1)  # [N, L, 4]

    x0, y0 = cell[..., 0], cell[..., 1]  # [N, L]
    xs = torch.stack([x0, x0 + 1, x0, x0 + 1], dim=-1)  # [N, L, 4]
    ys = torch.stack([y0, y0, y0 + 1, y0 + 1], dim=-1)
    dense = ((r + 1) ** 2 <= table_size)[None, :, None]  # [1, L, 1]
    dense_rows = ys * (r + 1)[None, :, None] + xs
    hashed_rows = torch.bitwise_xor(xs, (ys * PRIME_Y) & 0xFFFFFFFF) % table_size
    rows = torch.where(dense, dense_rows, hashed_rows)  # [N, L, 4]
    rows = rows + (torch.arange(num_levels, device=coords.device) * table_size)[None, :, None]
    feats = table.reshape(num_levels * table_size, feat)[rows.reshape(-1)].reshape(n, num_levels, 4, feat)
    out = (weights.unsqueeze(-1) * feats).sum(dim=2)  # [N, L, F]
    return out.reshape(n, num_levels * feat)


class _HashGrid2DFunction(torch.autograd.Function):
    """Autograd wrapper of the compiled kernels (first-order gradients for table and coords).

    When coords need a gradient the forward also returns the Jacobian d out / d coords [N, L*F, 2]
    (same corners and table reads), and the backward only contracts it with the incoming gradient.
    """

    @staticmethod
    def forward(ctx, coords: torch.Tensor, table: torch.Tensor, res: tuple[int, ...]) -> torch.Tensor:
        ext = load_extension("hashgrid")
        coords = coords.contiguous()
        table = table.contiguous()
        need_jac = bool(ctx.needs_input_grad[0])
        out, jac = ext.forward(coords, table, list(res), need_jac)
        ctx.save_for_backward(coords, table, jac if need_jac else None)
        ctx.res = list(res)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        coords, table, jac = ctx.saved_tensors
        need_coords, need_table = bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1])
        grad_table, grad_coords = load_extension("hashgrid").backward(
            grad_out.contiguous(), coords, table, jac, ctx.res, need_table, need_coords
        )
        return (grad_coords if need_coords else None), (grad_table if need_table else None), None


def _warn_fallback_once(reason: str) -> None:
    if reason not in _warned_fallback:
        _warned_fallback.add(reason)
        warnings.warn(
            f"hash_grid_2d: {reason}; using the slow pure-torch reference. "
            "Build the kernels with `make build` "
            "(or `EMOGS_ONLY=hashgrid python setup.py build_ext --inplace`).",
            RuntimeWarning,
            stacklevel=3,
        )


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend ("cpu" | "cuda" | "torch") that `backend` means for tensors on `device`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown hash-grid backend {backend!r}; choose one of {BACKENDS}")
    if backend == "tcnn":
        raise ValueError(
            "backend='tcnn' keeps its own parameters; "
            "use HashGrid2D(..., backend='tcnn') instead of hash_grid_2d"
        )
    if backend == "torch":
        return "torch"
    if backend == "cpu":
        if device.type != "cpu":
            raise ValueError(f"backend='cpu' needs CPU tensors, got {device}; use backend='auto'")
        load_extension("hashgrid")  # raises ExtensionNotBuilt naming the fix
        return "cpu"
    if backend == "cuda":
        if device.type != "cuda":
            raise ValueError(f"backend='cuda' needs CUDA tensors, got {device}; use backend='auto'")
        if not getattr(load_extension("hashgrid"), "WITH_CUDA", False):
            raise RuntimeError(
                "emogs._ext_hashgrid was built without CUDA; "
                "rebuild with a CUDA torch and nvcc (EMOGS_CUDA=1)"
            )
        return "cuda"
    # auto
    if not has_extension("hashgrid"):
        _warn_fallback_once("the compiled hash-grid kernels are not built")
        return "torch"
    if device.type == "cpu":
        return "cpu"
    if device.type == "cuda" and getattr(load_extension("hashgrid"), "WITH_CUDA", False):
        return "cuda"
    _warn_fallback_once(f"no compiled hash-grid kernel for device {device}")
    return "torch"


def hash_grid_2d(
    coords: torch.Tensor,
    table: torch.Tensor,
    resolutions: torch.Tensor | Sequence[int],
    backend: str = "auto",
) -> torch.Tensor:
    """Encode 2-D points with a multiresolution hash grid.

    Args:
        coords: [N, 2] points normalised to [0, 1] (clamped outside).
        table: [L, T, F] feature table: L levels of T rows with F features each.
        resolutions: [L] cells per side of each level (LongTensor or a sequence of ints).
        backend: "auto" | "cpu" | "cuda" | "torch" (see the module docstring).

    Returns:
        [N, L*F] features, column `l * F + f` = feature f of level l. Differentiable w.r.t. table and coords.
    """
    res = _resolution_tuple(resolutions)
    _check(coords, table, res)
    concrete = resolve_backend(backend, coords.device)
    if concrete == "torch":
        return hash_grid_2d_torch(coords, table, res)
    return _HashGrid2DFunction.apply(coords, table, res)


TRIPLANE_AXES = ((0, 1), (1, 2), (0, 2))  # xy, yz, xz


class _TriplaneFunction(torch.autograd.Function):
    """Autograd wrapper of the fused CPU tri-plane kernels (one output, no per-plane copies)."""

    @staticmethod
    def forward(ctx, uvw, t_xy, t_yz, t_xz, res: tuple[int, ...]) -> torch.Tensor:
        ext = load_extension("hashgrid")
        uvw = uvw.contiguous()
        tables = [t.contiguous() for t in (t_xy, t_yz, t_xz)]
        need_jac = bool(ctx.needs_input_grad[0])
        out, jac = ext.triplane_forward(uvw, tables, list(res), need_jac)
        ctx.save_for_backward(uvw, *tables, jac if need_jac else None)
        ctx.res = list(res)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        uvw, t_xy, t_yz, t_xz, jac = ctx.saved_tensors
        need = [bool(x) for x in ctx.needs_input_grad[:4]]
        g_xy, g_yz, g_xz, g_uvw = load_extension("hashgrid").triplane_backward(
            grad_out.contiguous(), uvw, [t_xy, t_yz, t_xz], jac, ctx.res, need[1:4], need[0]
        )
        return g_uvw, g_xy, g_yz, g_xz, None


def triplane_hash_grid(
    uvw: torch.Tensor,
    tables: Sequence[torch.Tensor],
    resolutions: torch.Tensor | Sequence[int],
    backend: str = "auto",
) -> torch.Tensor:
    """Three 2-D hash grids on the xy, yz, xz planes of uvw [N, 3] in [0, 1] -> [N, 3*L*F] (plane-major).

    Same as `torch.cat([hash_grid_2d(uvw[:, a], t, res) for a, t in zip(TRIPLANE_AXES, tables)], 1)`; on the
    CPU kernels it runs fused (no coordinate copies, one output, gradients straight to uvw).
    """
    if uvw.dim() != 2 or uvw.shape[1] != 3:
        raise ValueError(f"uvw must be [N, 3] in [0, 1], got shape {tuple(uvw.shape)}")
    if len(tables) != 3 or any(t.shape != tables[0].shape for t in tables):
        raise ValueError("need three tables (xy, yz, xz) of one shape [L, T, F]")
    res = _resolution_tuple(resolutions)
    for t in tables:
        _check(uvw[:0, :2], t, res)
    if resolve_backend(backend, uvw.device) == "cpu":
        return _TriplaneFunction.apply(uvw, tables[0], tables[1], tables[2], res)
    planes = [hash_grid_2d(uvw[:, list(ax)], t, res, backend) for ax, t in zip(TRIPLANE_AXES, tables)]
    return torch.cat(planes, dim=1)
