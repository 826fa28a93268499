"""Small deterministic scenes shared by the render tests."""

from __future__ import annotations

import torch


def camera(width: int, height: int, f: float = 1.0, dtype=torch.float32):
    """World->camera 4x4 (a small rotation + translation) and intrinsics for a width x height image."""
    ang = torch.tensor(0.1, dtype=torch.float64)
    R = torch.tensor([[1, 0, 0], [0, ang.cos(), -ang.sin()], [0, ang.sin(), ang.cos()]], dtype=torch.float64)
    vm = torch.eye(4, dtype=torch.float64)
    vm[:3, :3] = R
    vm[:3, 3] = torch.tensor([0.05, -0.03, 0.1])
    fx = f * max(width, height)
    K = torch.tensor([[fx, 0, width / 2], [0, fx, height / 2], [0, 0, 1]], dtype=torch.float64)
    return vm.to(dtype), K.to(dtype)


def random_scene(
    n: int,
    channels: int = 3,
    dtype=torch.float32,
    seed: int = 0,
    depth: float = 2.5,
    spread: float = 0.5,
    scale=(0.02, 0.15),
    opacity=(0.05, 0.95),
):
    """Dict of means/quats/scales/opacities/features/background for n Gaussians in front of `camera`."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g, dtype=torch.float64) * spread
    means[:, 2] += depth
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g, dtype=torch.float64), dim=-1)
    scales = scale[0] + (scale[1] - scale[0]) * torch.rand(n, 3, generator=g, dtype=torch.float64)
    opac = opacity[0] + (opacity[1] - opacity[0]) * torch.rand(n, generator=g, dtype=torch.float64)
    feats = torch.rand(n, channels, generator=g, dtype=torch.float64)
    bg = torch.rand(channels, generator=g, dtype=torch.float64)
    d = dict(means=means, quats=quats, scales=scales, opacities=opac, features=feats, background=bg)
    return {k: v.to(dtype) for k, v in d.items()}
