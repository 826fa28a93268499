"""Kernel-vs-reference comparisons and timings behind `make gpu-check` (tools/gpu_check.py).

Each comparison runs one backend on one device against the pure-torch reference on the CPU, in
the same dtype, forward and gradients of a fixed random linear functional of every output:

    compare_rasterizer("cuda", "cuda", torch.float64)   # {"image": 3e-15, ..., "grad_means": 2e-14}
    compare_hash_grid("cuda", "cuda", torch.float64)    # {"out": ..., "grad_table": ..., "grad_coords": ...}

Errors are max |kernel - reference| / max(max |reference|, 1e-12) per tensor (a relative error at
the tensor's scale). The same functions run on the CPU with backend "cpu" (the C++ kernels), which
is how the CPU tests exercise this harness; on a GPU they check our CUDA kernels (and gsplat).
"""

from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from .device import synchronize


def _normalised_error(got: Tensor, ref: Tensor) -> float:
    got, ref = got.detach().cpu().to(torch.float64), ref.detach().cpu().to(torch.float64)
    if ref.numel() == 0:
        return 0.0
    return float((got - ref).abs().max()) / max(float(ref.abs().max()), 1e-12)


def raster_scene(n: int = 300, width: int = 64, height: int = 48, channels: int = 4, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> dict[str, Tensor]:
    """A deterministic CPU scene for `rasterize`: n Gaussians 2-3 units in front of a slightly rotated
    camera (means, quats, scales, opacities [0.05, 0.95], features [N,channels], background, viewmat, K)."""
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    means = torch.randn(n, 3, generator=g, dtype=f64) * 0.5
    means[:, 2] += 2.5
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g, dtype=f64), dim=-1)
    scales = 0.02 + 0.13 * torch.rand(n, 3, generator=g, dtype=f64)
    opacities = 0.05 + 0.9 * torch.rand(n, generator=g, dtype=f64)
    features = torch.rand(n, channels, generator=g, dtype=f64)
    background = torch.rand(channels, generator=g, dtype=f64)
    a = 0.1
    viewmat = torch.eye(4, dtype=f64)
    viewmat[1:3, 1:3] = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=f64)
    viewmat[:3, 3] = torch.tensor([0.05, -0.03, 0.1], dtype=f64)
    fx = float(max(width, height))
    K = torch.tensor([[fx, 0, width / 2], [0, fx, height / 2], [0, 0, 1]], dtype=f64)
    d = dict(means=means, quats=quats, scales=scales, opacities=opacities, features=features,
             background=background, viewmat=viewmat, K=K)
    return {k: v.to(dtype) for k, v in d.items()}


_RASTER_GRADS = ("means", "quats", "scales", "opacities", "features", "background")


def _raster_run(scene: dict, backend: str, device, width: int, height: int, seed: int) -> dict[str, Tensor]:
    from .render import rasterize

    leaves = {k: v.to(device, copy=True).requires_grad_(k in _RASTER_GRADS) for k, v in scene.items()}
    lv = leaves
    out = rasterize(lv["means"], lv["quats"], lv["scales"], lv["opacities"], lv["features"], lv["viewmat"],
                    lv["K"], width, height, background=lv["background"], backend=backend)
    g = torch.Generator().manual_seed(seed + 1)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum()
               for o in (out.image, out.alpha, out.depth))
    loss.backward()
    res = {"image": out.image, "alpha": out.alpha, "depth": out.depth}
    res.update({f"grad_{k}": leaves[k].grad for k in _RASTER_GRADS})
    res["backend"] = out.meta["backend"]
    return res


def compare_rasterizer(backend: str, device, dtype: torch.dtype, n: int = 300, width: int = 64,
                       height: int = 48, channels: int = 4, seed: int = 0) -> dict[str, float]:
    """Normalised errors of `rasterize(backend=...)` on `device` vs backend "torch" on the CPU:
    image, alpha, depth and the gradients of means, quats, scales, opacities, features, background."""
    scene = raster_scene(n, width, height, channels, seed, dtype)
    ref = _raster_run(scene, "torch", "cpu", width, height, seed)
    got = _raster_run(scene, backend, device, width, height, seed)
    if got["backend"] != backend:
        raise RuntimeError(f"asked for backend {backend!r}, rasterize ran {got['backend']!r}")
    return {k: _normalised_error(got[k], ref[k]) for k in ref if k != "backend"}


def compare_hash_grid(backend: str, device, dtype: torch.dtype, n: int = 2000, levels: int = 6,
                      log2_table: int = 10, features: int = 2, seed: int = 0) -> dict[str, float]:
    """Normalised errors of `hash_grid_2d(backend=...)` and `triplane_hash_grid` on `device` vs the
    torch reference on the CPU: outputs and the table / coordinate gradients (dense and hashed levels)."""
    from .fields.hashgrid import hash_grid_2d, hash_grid_2d_torch, level_resolutions, triplane_hash_grid

    g = torch.Generator().manual_seed(seed)
    res = level_resolutions(levels, 4, 96)  # the finer levels exceed the table: hashed
    T = 2**log2_table
    coords = torch.rand(n, 2, generator=g, dtype=torch.float64).to(dtype)
    edges = [[0, 0], [1, 1], [0, 1], [1, 0], [0.5, 1], [-0.1, 0.3], [1.2, 0.7]]  # corners, outside
    coords[:7] = torch.tensor(edges, dtype=dtype)
    table = (torch.randn(levels, T, features, generator=g, dtype=torch.float64) * 0.1).to(dtype)
    uvw = torch.rand(n, 3, generator=g, dtype=torch.float64).to(dtype)
    tables = [(torch.randn(levels, T, features, generator=g, dtype=torch.float64) * 0.1).to(dtype)
              for _ in range(3)]
    w = torch.randn(n, levels * features, generator=g, dtype=torch.float64).to(dtype)
    w3 = torch.randn(n, 3 * levels * features, generator=g, dtype=torch.float64).to(dtype)

    def run(which, dev):
        c, t = coords.to(dev, copy=True).requires_grad_(True), table.to(dev, copy=True).requires_grad_(True)
        out = hash_grid_2d_torch(c, t, res) if which == "torch" else hash_grid_2d(c, t, res, backend=which)
        (out * w.to(dev)).sum().backward()
        u = uvw.to(dev, copy=True).requires_grad_(True)
        ts = [x.to(dev, copy=True).requires_grad_(True) for x in tables]
        out3 = triplane_hash_grid(u, ts, res, backend=which)
        (out3 * w3.to(dev)).sum().backward()
        return {"out": out, "grad_table": t.grad, "grad_coords": c.grad, "triplane_out": out3,
                "triplane_grad_tables": torch.stack([x.grad for x in ts]), "triplane_grad_uvw": u.grad}

    ref = run("torch", "cpu")
    got = run(backend, device)
    return {k: _normalised_error(got[k], ref[k]) for k in ref}


def render_fps(avatar, cond, size: int = 512, frames: int = 50, warmup: int = 5) -> float:
    """Frames per second of `avatar.render_frame(cond, size)` (the viewer's / render tool's path),
    waiting for the device's queued kernels before each clock reading."""
    device = avatar.device
    with torch.no_grad():
        for _ in range(warmup):
            avatar.render_frame(cond, size, normals=False)
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(frames):
            avatar.render_frame(cond, size, normals=False)
        synchronize(device)
    return frames / (time.perf_counter() - t0)


def timed_fit(dataset_root, out_dir, steps: int, device, preset: str = "paper", warmup: int = 10):
    """A short fit with `preset`'s model, losses and training size (the paper preset: 512 px) but
    `steps` steps (half canonical, half networks; no emotion stage, no L_sync, no LPIPS) on `device`.
    Returns (avatar, training steps per second after `warmup` steps, the dataset)."""
    from .data import PersonDataset
    from .train import Trainer, load_config

    cfg = load_config(preset)
    cfg.stages = {"canonical": steps // 2, "networks": steps - steps // 2, "fuse": 0, "emotion": 0}
    cfg.sync_judge, cfg.lpips_weights, cfg.checkpoint_every = "none", None, 10 * steps
    ds = PersonDataset(dataset_root, split="train")
    cfg.train_size = min(cfg.train_size, int(ds.size))
    clock: dict[int, float] = {}

    def tick(step: int, _parts: dict) -> None:
        if step in (warmup, steps):
            synchronize(device)
            clock[step] = time.perf_counter()

    trainer = Trainer(cfg, ds, out_dir, progress=False, step_callback=tick, device=device)
    avatar = trainer.run()
    rate = (steps - warmup) / (clock[steps] - clock[warmup]) if len(clock) == 2 else float("nan")
    return avatar, rate, ds
