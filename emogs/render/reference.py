"""Pure-PyTorch reference of the rasterizer: readable, differentiable by autograd, slow.

It implements exactly the math of `cuda_ext/common/gaussian_math.h` (see the conventions there),
in two stages like the kernels:

1. `project_reference`: 3D Gaussians -> screen-space means, conics, depths, radii, pixel rects.
2. `rasterize_reference`: per 16x16 tile, the depth-sorted Gaussians whose rect touches the tile
   are alpha-composited densely ([pixels, gaussians] tensors). Tiling only bounds the work: a
   Gaussian outside its rect has alpha < 1/255 everywhere, so the result equals a full dense
   composite.

The tests compare the CPU kernels against these functions, and these functions against
finite differences in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

# the kernels' float constants, rounded to float32 exactly as C++ `T(1e-4f)` does
ALPHA_MIN = float(np.float32(1.0 / 255.0))
ALPHA_MAX = float(np.float32(0.999))
TRANS_MIN = float(np.float32(1e-4))
TILE = 16


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Unit quaternions [N,4] (w,x,y,z) -> rotation matrices [N,3,3] (no normalisation)."""
    w, x, y, z = quats.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*quats.shape[:-1], 3, 3)


def project_reference(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    viewmat: Tensor,
    K: Tensor,
    width: int,
    height: int,
    near: float = 0.01,
    far: float = 1e3,
    eps2d: float = 0.3,
) -> dict[str, Tensor]:
    """Project N Gaussians into one camera.

    Returns a dict with means2d [N,2], conics [N,3] (a,b,c of the inverse 2D covariance), depths [N]
    (camera z), radii [N] int32 (0 = culled), rects [N,4] int64 (inclusive pixel x0,y0,x1,y1) and
    visible [N] bool. Culled Gaussians have zero means2d/conics/depths (and get no gradient).
    """
    dtype = means.dtype
    R, t = viewmat[:3, :3].to(dtype), viewmat[:3, 3].to(dtype)
    fx, fy, cx, cy = (float(v) for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
    pc = means @ R.T + t
    x, y, z = pc.unbind(-1)
    Rq = quat_to_rotmat(quats)
    M = Rq * scales[:, None, :]
    cov_cam = R @ (M @ M.transpose(1, 2)) @ R.T
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    lim_xp, lim_xn = (width - cx) / fx + 0.3 * tan_x, cx / fx + 0.3 * tan_x
    lim_yp, lim_yn = (height - cy) / fy + 0.3 * tan_y, cy / fy + 0.3 * tan_y
    tx = z * torch.clamp(x / z, -lim_xn, lim_xp)
    ty = z * torch.clamp(y / z, -lim_yn, lim_yp)
    zero = torch.zeros_like(z)
    J = torch.stack(
        [
            torch.stack([fx / z, zero, -fx * tx / (z * z)], -1),
            torch.stack([zero, fy / z, -fy * ty / (z * z)], -1),
        ],
        dim=-2,
    )
    cov2d = J @ cov_cam @ J.transpose(1, 2)
    ca, cb, cc = cov2d[:, 0, 0] + eps2d, cov2d[:, 0, 1], cov2d[:, 1, 1] + eps2d
    det = ca * cc - cb * cb
    mean2d = torch.stack([fx * x / z + cx, fy * y / z + cy], -1)

    with torch.no_grad():
        visible = (z >= near) & (z <= far) & (opacities >= ALPHA_MIN) & (det > 0)
        r2 = 2 * torch.log(255 * opacities.clamp_min(ALPHA_MIN))
        ext_x = torch.sqrt((r2 * ca).clamp_min(0)) * 1.001 + 0.01
        ext_y = torch.sqrt((r2 * cc).clamp_min(0)) * 1.001 + 0.01
        fx0 = torch.ceil(mean2d[:, 0] - ext_x - 0.5)
        fx1 = torch.floor(mean2d[:, 0] + ext_x - 0.5)
        fy0 = torch.ceil(mean2d[:, 1] - ext_y - 0.5)
        fy1 = torch.floor(mean2d[:, 1] + ext_y - 0.5)
        visible &= (fx1 >= 0) & (fy1 >= 0) & (fx0 <= width - 1) & (fy0 <= height - 1)
        visible &= torch.isfinite(mean2d).all(-1) & torch.isfinite(ext_x) & torch.isfinite(ext_y)
        rects = torch.stack(
            [
                fx0.clamp(0, width - 1),
                fy0.clamp(0, height - 1),
                fx1.clamp(0, width - 1),
                fy1.clamp(0, height - 1),
            ],
            -1,
        )
        rects = torch.where(visible[:, None], rects, torch.zeros_like(rects)).nan_to_num(0).long()
        radii = torch.ceil(torch.maximum(ext_x, ext_y)).clamp(max=2**30)
        radii = torch.where(visible, radii, torch.zeros_like(radii)).nan_to_num(0).to(torch.int32)

    safe_det = torch.where(visible, det, torch.ones_like(det))
    conics = torch.stack([cc / safe_det, -cb / safe_det, ca / safe_det], -1)
    v = visible[:, None]
    return {
        "means2d": torch.where(v, mean2d, torch.zeros_like(mean2d)),
        "conics": torch.where(v, conics, torch.zeros_like(conics)),
        "depths": torch.where(visible, z, torch.zeros_like(z)),
        "radii": radii,
        "rects": rects,
        "visible": visible,
    }


def composite_reference(alphas: Tensor, features: Tensor, background: Tensor) -> tuple[Tensor, Tensor]:
    """Front-to-back compositing of depth-sorted alphas [P,M] (0 = skipped pair) and features [M,C].

    Implements the kernels' early stop: a Gaussian that would bring T to <= TRANS_MIN, and every
    Gaussian behind it, is left out. Returns (colour [P,C] incl. background, final T [P]).
    """
    P, M = alphas.shape
    one = torch.ones(P, 1, dtype=alphas.dtype, device=alphas.device)
    t_after = torch.cumprod(1 - alphas, dim=1)
    keep = (t_after > TRANS_MIN).to(alphas.dtype)  # T only decreases: keep is a prefix
    kept = alphas * keep
    t_before = torch.cumprod(torch.cat([one, 1 - kept[:, :-1]], 1), dim=1)
    weights = t_before * kept
    t_final = torch.prod(1 - kept, dim=1) if M else torch.ones(P, dtype=alphas.dtype, device=alphas.device)
    return weights @ features + t_final[:, None] * background[None, :], t_final


def rasterize_reference(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    features: Tensor,
    depths: Tensor,
    visible: Tensor,
    rects: Tensor,
    background: Tensor,
    width: int,
    height: int,
) -> tuple[Tensor, Tensor]:
    """Alpha-composite the visible Gaussians, front to back by depth.

    means2d [N,2], conics [N,3], opacities [N], features [N,C], depths [N], visible [N] bool,
    rects [N,4] (from `project_reference`), background [C] -> image [H,W,C], alpha [H,W,1].
    """
    C = features.shape[1]
    dtype = means2d.dtype
    order = torch.argsort(depths.detach().to(torch.float32).masked_fill(~visible, float("inf")), stable=True)
    order = order[visible[order]]
    rows, tiles = [], []
    for ty in range(math.ceil(height / TILE)):
        row = []
        for tx in range(math.ceil(width / TILE)):
            x0, y0 = tx * TILE, ty * TILE
            x1, y1 = min(x0 + TILE, width) - 1, min(y0 + TILE, height) - 1
            r = rects[order]
            hit = (r[:, 0] <= x1) & (r[:, 2] >= x0) & (r[:, 1] <= y1) & (r[:, 3] >= y0)
            ids = order[hit]
            ys, xs = torch.meshgrid(
                torch.arange(y0, y1 + 1, dtype=dtype, device=means2d.device) + 0.5,
                torch.arange(x0, x1 + 1, dtype=dtype, device=means2d.device) + 0.5,
                indexing="ij",
            )
            dx = means2d[ids, 0][None, :] - xs.reshape(-1, 1)
            dy = means2d[ids, 1][None, :] - ys.reshape(-1, 1)
            a, b, c = conics[ids].unbind(-1)
            sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
            alpha = torch.clamp(opacities[ids] * torch.exp(-sigma), max=ALPHA_MAX)
            alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
            col, t_final = composite_reference(alpha, features[ids], background)
            out = torch.cat([col, 1 - t_final[:, None]], 1)
            row.append(out.reshape(y1 - y0 + 1, x1 - x0 + 1, C + 1))
            tiles.append(len(ids))
        rows.append(torch.cat(row, 1))
    full = torch.cat(rows, 0)
    return full[..., :C], full[..., C:]
