"""Per-Gaussian normals: the shortest scale axis plus a learned residual Delta-n."""

from __future__ import annotations

import torch
from torch import Tensor

from .gaussian_set import quat_to_rotmat


def shortest_axis(quats: Tensor, scales: Tensor) -> Tensor:
    """Unit vector [N,3] along each Gaussian's shortest axis (world frame).

    quats: [N,4] wxyz; scales: [N,3] linear.
    """
    rot = quat_to_rotmat(quats)  # [N,3,3], columns are the local axes in world
    idx = scales.argmin(dim=-1)  # [N]
    return rot.gather(2, idx.view(-1, 1, 1).expand(-1, 3, 1)).squeeze(-1)


def gaussian_normals(quats: Tensor, scales: Tensor, delta_n: Tensor, means: Tensor, campos: Tensor) -> Tensor:
    """World-frame unit normals [N,3] = normalise(shortest axis facing the camera + delta_n).

    The axis sign is chosen so the normal points towards the camera at `campos` [3]; the
    residual `delta_n` [N,3] is added after that choice (so it can learn any correction).
    """
    axis = shortest_axis(quats, scales)
    to_cam = campos.reshape(1, 3) - means
    sign = torch.where((axis * to_cam).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    n = axis * sign + delta_n
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-8)
