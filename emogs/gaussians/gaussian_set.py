"""A set of 3D Gaussians: the learnable parameters and their activations.

Storage follows the 3DGS convention (parameters unconstrained, activations applied on read):

| key          | shape        | activation                      |
|--------------|--------------|---------------------------------|
| means        | [N,3]        | identity (world = canonical head frame) |
| quats        | [N,4] wxyz   | normalised                      |
| log_scales   | [N,3]        | exp                             |
| opacity_logit| [N]          | sigmoid                         |
| sh0          | [N,1,3]      | DC colour coefficient           |
| shN          | [N,K-1,3]    | higher SH bands, K=(degree+1)^2 |
| delta_n      | [N,3]        | residual added to the shortest-axis normal |

Every tensor shares the first dimension N; `emogs.gaussians.strategy` keeps them (and the
optimizer state) in step when Gaussians are added or removed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

SH_C0 = 0.28209479177387814
PARAM_KEYS = ("means", "quats", "log_scales", "opacity_logit", "sh0", "shN", "delta_n")


def rgb_to_sh0(rgb: Tensor) -> Tensor:
    """[...,3] colours in [0,1] -> DC SH coefficient [...,3]."""
    return (rgb - 0.5) / SH_C0


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Quaternions [...,4] (wxyz, any norm) -> rotation matrices [...,3,3]."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)


def eval_sh_colors(degree: int, sh: Tensor, dirs: Tensor) -> Tensor:
    """Evaluate real SH up to `degree` (<=2) -> RGB in [0,inf).

    sh: [N,K,3] with K >= (degree+1)^2; dirs: [N,3] (need not be unit). Returns [N,3]
    = clamp_min(SH(dirs) + 0.5, 0) as in 3DGS.
    """
    if degree > 2:
        raise ValueError(f"SH degree {degree} is not supported here (max 2).")
    c = SH_C0 * sh[:, 0]
    if degree >= 1:
        d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        x, y, z = d[:, 0:1], d[:, 1:2], d[:, 2:3]
        c1 = 0.4886025119029199
        c = c - c1 * y * sh[:, 1] + c1 * z * sh[:, 2] - c1 * x * sh[:, 3]
        if degree >= 2:
            c = (
                c
                + 1.0925484305920792 * x * y * sh[:, 4]
                - 1.0925484305920792 * y * z * sh[:, 5]
                + 0.31539156525252005 * (2 * z * z - x * x - y * y) * sh[:, 6]
                - 1.0925484305920792 * x * z * sh[:, 7]
                + 0.5462742152960396 * (x * x - y * y) * sh[:, 8]
            )
    return (c + 0.5).clamp_min(0.0)


class GaussianSet(nn.Module):
    """Learnable Gaussians of one region (face or inside-mouth).

    Parameters live in `self.params` (an `nn.ParameterDict` with `PARAM_KEYS`), so the
    densification strategy can replace them and the optimizer state in one place.
    """

    def __init__(self, params: dict[str, Tensor], sh_degree: int = 2):
        super().__init__()
        if not 0 <= sh_degree <= 2:
            raise ValueError(f"sh_degree must be 0, 1 or 2 (got {sh_degree}).")
        missing = [k for k in PARAM_KEYS if k not in params]
        if missing:
            raise ValueError(f"GaussianSet is missing parameters {missing}; expected {PARAM_KEYS}.")
        n = params["means"].shape[0]
        for k in PARAM_KEYS:
            if params[k].shape[0] != n:
                raise ValueError(
                    f"GaussianSet parameter '{k}' has {params[k].shape[0]} rows, 'means' has {n}."
                )
        self.sh_degree = sh_degree
        self.params = nn.ParameterDict({k: nn.Parameter(params[k].detach().clone()) for k in PARAM_KEYS})

    @classmethod
    def from_points(
        cls,
        points: Tensor,
        colors: Tensor | None = None,
        sh_degree: int = 2,
        scale: float | None = None,
        opacity: float = 0.5,
        normals: Tensor | None = None,
    ) -> GaussianSet:
        """Isotropic-ish Gaussians at `points` [N,3] with `colors` [N,3] in [0,1].

        `scale` defaults to the mean nearest-neighbour distance. With `normals` [N,3], each
        Gaussian is a flat disc (shortest axis = z, set 4x thinner) oriented along the normal.
        """
        points = points.float()
        n = points.shape[0]
        if n == 0:
            raise ValueError("GaussianSet.from_points needs at least one point.")
        if scale is None:
            scale = mean_nn_distance(points)
        log_s = torch.full((n, 3), math.log(max(scale, 1e-6)))
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        if normals is not None:
            quats = quat_from_z_to(normals.float())
            log_s[:, 2] -= math.log(4.0)
        if colors is None:
            colors = torch.full((n, 3), 0.5)
        k = (sh_degree + 1) ** 2
        params = {
            "means": points,
            "quats": quats,
            "log_scales": log_s,
            "opacity_logit": torch.full((n,), math.log(opacity / (1 - opacity))),
            "sh0": rgb_to_sh0(colors.float()).reshape(n, 1, 3),
            "shN": torch.zeros(n, k - 1, 3),
            "delta_n": torch.zeros(n, 3),
        }
        return cls(params, sh_degree)

    def __len__(self) -> int:
        return self.params["means"].shape[0]

    @property
    def means(self) -> Tensor:
        return self.params["means"]

    @property
    def quats(self) -> Tensor:
        q = self.params["quats"]
        return q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    @property
    def scales(self) -> Tensor:
        return self.params["log_scales"].exp()

    @property
    def opacities(self) -> Tensor:
        return torch.sigmoid(self.params["opacity_logit"])

    @property
    def delta_n(self) -> Tensor:
        """[N,3] residuals added to the shortest-axis normals (`gaussian_normals`)."""
        return self.params["delta_n"]

    @property
    def sh(self) -> Tensor:
        """[N,(d+1)^2,3] SH coefficients."""
        return torch.cat([self.params["sh0"], self.params["shN"]], dim=1)

    def colors(self, campos: Tensor, means: Tensor | None = None) -> Tensor:
        """View-dependent RGB [N,3] seen from camera centre `campos` [3] (world)."""
        m = self.means if means is None else means
        return eval_sh_colors(self.sh_degree, self.sh, m - campos.reshape(1, 3))


def mean_nn_distance(points: Tensor, max_points: int = 4096) -> float:
    """Mean distance to the nearest other point (on a subsample for big sets)."""
    p = points.detach().float()
    if p.shape[0] < 2:
        return 0.01
    if p.shape[0] > max_points:
        p = p[torch.randperm(p.shape[0], generator=torch.Generator().manual_seed(0))[:max_points]]
    d = torch.cdist(p, p)
    d.fill_diagonal_(float("inf"))
    return float(d.min(dim=1).values.clamp_min(1e-6).mean())


def quat_from_z_to(dirs: Tensor) -> Tensor:
    """Quaternions [N,4] (wxyz) rotating +z onto the unit vectors `dirs` [N,3]."""
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    z = torch.tensor([0.0, 0.0, 1.0], dtype=d.dtype, device=d.device).expand_as(d)
    axis = torch.cross(z, d, dim=-1)
    w = 1.0 + (z * d).sum(-1, keepdim=True)
    q = torch.cat([w, axis], dim=-1)
    # antiparallel: rotate 180 degrees about x
    flip = w.squeeze(-1) < 1e-6
    q[flip] = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=q.dtype, device=q.device)
    return q / q.norm(dim=-1, keepdim=True)
