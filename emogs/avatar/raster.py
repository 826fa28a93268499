"""One rasterizer pass over deformed Gaussian sets, shared by the training render (`Avatar.render`) and
the inference fast path (`emogs.avatar.inference`): per-Gaussian features (SH colours, camera-frame
normals, optional extra channels) and the rasterizer call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from ..gaussians import gaussian_normals
from ..gaussians.gaussian_set import eval_sh_colors


class GaussianLook(Protocol):
    """What a rasterizer pass reads of a Gaussian set besides its geometry: `GaussianSet` (parameters,
    differentiable) and the fast path's cached `SetCache` both provide it."""

    sh_degree: int
    sh: Tensor  # [N,K,3]
    opacities: Tensor  # [N] (sigmoid)
    delta_n: Tensor  # [N,3] normal residuals


@dataclass
class DeformedSet:
    """One Gaussian set ready to rasterize: its `look` (colours, opacities, normal residuals) at the
    deformed geometry means [N,3], unit quats [N,4], scales [N,3]."""

    look: GaussianLook
    means: Tensor
    quats: Tensor
    scales: Tensor


def set_features(s: DeformedSet, campos: Tensor, R: Tensor, normals: bool) -> Tensor:
    """Per-Gaussian SH colours [N,3] seen from `campos` [3] (+ camera-frame normals [N,3] with `normals`)."""
    feats = eval_sh_colors(s.look.sh_degree, s.look.sh, s.means - campos.reshape(1, 3))
    if normals:
        n = gaussian_normals(s.quats, s.scales, s.look.delta_n, s.means, campos)
        feats = torch.cat([feats, n @ R.T], dim=-1)
    return feats


def _cat(xs: list[Tensor]) -> Tensor:
    return torch.cat(xs) if len(xs) > 1 else xs[0]  # one set: its own tensor, no copy


def rasterize_sets(sets: list[DeformedSet], R: Tensor, t: Tensor, K: Tensor, width: int, height: int,
                   normals: bool, backend: str, extra: Tensor | None = None):
    """Rasterize `sets` together (depth-sorted as one set) seen through w2c = [R | t] and K [3,3].

    Features per Gaussian: colour [3], camera-frame normal [3] with `normals`, then `extra` [N0, E]
    (features of the first set; zeros for the others). Returns the rasterizer output (image [H,W,C],
    alpha, depth, meta).
    """
    from ..render import rasterize

    campos = -(R.T @ t)
    means, quats, scales = (_cat([getattr(s, k) for s in sets]) for k in ("means", "quats", "scales"))
    opacities = _cat([s.look.opacities for s in sets])
    feats = [set_features(s, campos, R, normals) for s in sets]
    if extra is not None:
        feats = [torch.cat([f, extra.to(f.dtype) if i == 0 else f.new_zeros(len(f), extra.shape[-1])], dim=-1)
                 for i, f in enumerate(feats)]
    viewmat = torch.eye(4, dtype=means.dtype, device=means.device)
    viewmat[:3, :3], viewmat[:3, 3] = R, t
    return rasterize(means, quats, scales, opacities, _cat(feats), viewmat, K, width, height,
                     background=None, backend=backend)
