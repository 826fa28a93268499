"""Benchmark of the rasterizer on a deterministic face-like scene (not a timed test).

    python tools/bench_render.py [--json] [--png out.png] [--repeats 10]

Absolute figures at 512x512 with 30,000 Gaussians (cpu backend); the side-by-side speedup against
the pure-torch reference in the same run at 256x256 with 10,000 Gaussians. Prints the time split
(sorting, binning, blending, backward) and, last, one JSON line. Threads = torch/OpenMP threads
(set OMP_NUM_THREADS). Reported times are the minimum over repeats (the machine is shared).
`cpu_fwd_ms` is the inference forward (torch.no_grad: nothing kept for a backward),
`cpu_fwd_grad_ms` the forward of a training step, `cpu_fwd_bwd_ms` the whole training step.
`pairs_per_frame` counts evaluated pixel lanes (SIMD blocks x lanes); `pairs_blended` the
Gaussian-pixel pairs actually composited (the same for every implementation: ns_per_blended_*).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch

from emogs.render import rasterize


def face_scene(n: int, size: int, seed: int = 0, dtype=torch.float32) -> dict:
    """n Gaussians on a head-sized ellipsoid shell (semi-axes 7.5 x 10 x 9 cm, world units = metres),
    flattened along the surface normal, seen frontally from 0.55 m at talking-head framing."""
    g = torch.Generator().manual_seed(seed)
    axes = torch.tensor([0.075, 0.10, 0.09], dtype=torch.float64)
    # area-uniform-ish points: uniform directions on the sphere mapped onto the ellipsoid
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1)
    means = d * axes
    normal = torch.nn.functional.normalize(d / axes, dim=-1)
    # rotation whose local z is the surface normal
    up = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand(n, 3)
    t1 = torch.nn.functional.normalize(torch.cross(up, normal, dim=-1) + 1e-9, dim=-1)
    t2 = torch.cross(normal, t1, dim=-1)
    R = torch.stack([t1, t2, normal], -1)
    quats = _rotmat_to_quat(R)
    area = 4 * math.pi * (axes.prod() ** (2 / 3)).item()
    spacing = math.sqrt(area / n)
    tang = spacing * (0.6 + 0.8 * torch.rand(n, 2, generator=g, dtype=torch.float64))
    scales = torch.cat([tang, 0.1 * spacing * torch.ones(n, 1, dtype=torch.float64)], -1)
    opac = torch.sigmoid(torch.randn(n, generator=g, dtype=torch.float64) * 1.5 + 1.5)
    # skin-like colours with a little shading variation, plus a second (normal-like) feature set
    base = torch.tensor([0.85, 0.64, 0.52], dtype=torch.float64)
    colors = (
        base * (0.75 + 0.25 * normal[:, 2:3].abs())
        + 0.05 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    ).clamp(0, 1)
    vm = torch.eye(4, dtype=torch.float64)
    vm[2, 3] = 0.55  # head centre 0.55 m in front of the camera
    f = 0.75 * size * 0.55 / 0.2  # the 20 cm head height fills ~75% of the frame
    K = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=torch.float64)
    out = dict(
        means=means,
        quats=quats,
        scales=scales,
        opacities=opac,
        features=colors,
        background=torch.ones(3, dtype=torch.float64),
        viewmat=vm,
        K=K,
    )
    return {k: v.to(dtype) for k, v in out.items()}


def _rotmat_to_quat(R: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [N,3,3] -> unit quaternions [N,4] (w,x,y,z), robust branch per element."""
    m = R
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cands = torch.stack(
        [
            torch.stack(
                [1 + tr, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1
            ),
            torch.stack(
                [
                    m[:, 2, 1] - m[:, 1, 2],
                    1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2],
                    m[:, 0, 1] + m[:, 1, 0],
                    m[:, 0, 2] + m[:, 2, 0],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[:, 0, 2] - m[:, 2, 0],
                    m[:, 0, 1] + m[:, 1, 0],
                    1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2],
                    m[:, 1, 2] + m[:, 2, 1],
                ],
                -1,
            ),
            torch.stack(
                [
                    m[:, 1, 0] - m[:, 0, 1],
                    m[:, 0, 2] + m[:, 2, 0],
                    m[:, 1, 2] + m[:, 2, 1],
                    1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2],
                ],
                -1,
            ),
        ],
        1,
    )  # [N,4 candidates,4]
    best = cands.norm(dim=-1).argmax(-1)
    q = cands[torch.arange(len(m)), best]
    return torch.nn.functional.normalize(q, dim=-1)


def _render(scene, size, backend, grad):
    params = {
        k: scene[k].clone().requires_grad_(grad)
        for k in ("means", "quats", "scales", "opacities", "features", "background")
    }
    c0 = time.process_time()
    t0 = time.perf_counter()
    out = rasterize(
        **params, viewmat=scene["viewmat"], K=scene["K"], width=size, height=size, backend=backend
    )
    t1 = time.perf_counter()
    if grad:
        loss = out.image.sum() + out.alpha.sum() + 0.1 * out.depth.sum()
        loss.backward()
    t2 = time.perf_counter()
    _render.cpu_s = time.process_time() - c0  # CPU time of all threads (robust on a shared machine)
    return out, t1 - t0, t2 - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print only the final JSON line")
    ap.add_argument("--png", default="/tmp/bench_render.png", help="where to write the 512^2 render")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--ref-repeats", type=int, default=1)
    ap.add_argument("--skip-ref", action="store_true", help="skip the (slow) torch-reference comparison")
    args = ap.parse_args(argv)
    say = (lambda *a: None) if args.json else print
    threads = int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads()))
    torch.set_num_threads(threads)

    size, n = 512, 30_000
    scene = face_scene(n, size)
    with torch.no_grad():
        _render(scene, size, "cpu", False)  # warm-up
        fwd = min(_render(scene, size, "cpu", False)[1] for _ in range(args.repeats))
        fwd_cpu = min(_render(scene, size, "cpu", False) and _render.cpu_s for _ in range(args.repeats))
    runs, cpu_times = [], []
    for _ in range(args.repeats):
        runs.append(_render(scene, size, "cpu", True))
        cpu_times.append(_render.cpu_s)
    fwd_bwd = min(r[2] for r in runs)
    fwd_grad = min(r[1] for r in runs)  # forward of a training step (keeps what the backward needs)
    fwd_bwd_cpu = min(cpu_times)
    out = runs[0][0]
    st = out.meta["stats"]
    pairs = st["pairs_evaluated"]
    split = {}
    with torch.no_grad():
        best = None
        for _ in range(args.repeats):
            o = _render(scene, size, "cpu", False)[0].meta["stats"]
            best = o if best is None or o["blend_ms"] < best["blend_ms"] else best
        split = {k: round(best[k], 3) for k in ("sort_ms", "bin_ms", "blend_ms")}
    split["backward_ms"] = round(1e3 * (fwd_bwd - fwd_grad), 3)
    say(
        f"{n} Gaussians at {size}x{size}, {threads} threads: fwd {1e3 * fwd:.2f} ms (no grad), "
        f"fwd with grad {1e3 * fwd_grad:.2f} ms, fwd+bwd {1e3 * fwd_bwd:.2f} ms"
    )
    say(f"  CPU time (all threads, min): fwd {1e3 * fwd_cpu:.2f} ms, fwd+bwd {1e3 * fwd_bwd_cpu:.2f} ms")
    say(f"  split: {split}  (projection + Python glue = fwd - sort - bin - blend)")
    say(
        f"  pixel lanes evaluated {pairs}, pairs blended {st['pairs_blended']}, "
        f"tile-Gaussian pairs {st['tile_pairs']}, "
        f"visible {out.meta['num_visible']}"
    )
    if args.png:
        import numpy as np
        from PIL import Image

        img = (out.image.detach().clamp(0, 1).numpy() * 255).astype(np.uint8)
        Image.fromarray(img).save(args.png)
        say(f"  wrote {args.png}")

    res = dict(
        gaussians=n,
        width=size,
        height=size,
        threads=threads,
        cpu_fwd_ms=round(1e3 * fwd, 3),
        cpu_fwd_grad_ms=round(1e3 * fwd_grad, 3),
        cpu_fwd_bwd_ms=round(1e3 * fwd_bwd, 3),
        pairs_per_frame=pairs,
        pairs_blended=st["pairs_blended"],
        tile_pairs=st["tile_pairs"],
        ns_per_pair_fwd=round(1e9 * fwd / max(pairs, 1), 3),
        ns_per_pair_fwd_bwd=round(1e9 * fwd_bwd / max(pairs, 1), 3),
        ns_per_blended_fwd=round(1e9 * fwd / max(st["pairs_blended"], 1), 3),
        ns_per_blended_fwd_bwd=round(1e9 * fwd_bwd / max(st["pairs_blended"], 1), 3),
        cpu_time_fwd_ms=round(1e3 * fwd_cpu, 3),
        cpu_time_fwd_bwd_ms=round(1e3 * fwd_bwd_cpu, 3),
        **split,
    )
    if args.skip_ref:
        print(json.dumps(res))
        return res
    # side by side against the pure-torch reference
    rsize, rn = 256, 10_000
    rscene = face_scene(rn, rsize, seed=1)
    cpu_runs = [_render(rscene, rsize, "cpu", True) for _ in range(max(3, args.repeats))]
    cpu_fb = min(r[2] for r in cpu_runs)
    ref_runs = [_render(rscene, rsize, "torch", True) for _ in range(args.ref_repeats)]
    ref_fb = min(r[2] for r in ref_runs)
    err = (cpu_runs[0][0].image - ref_runs[0][0].image).abs().max().item()
    say(
        f"{rn} Gaussians at {rsize}x{rsize}: cpu fwd+bwd {1e3 * cpu_fb:.1f} ms, torch reference "
        f"{1e3 * ref_fb:.0f} ms, speedup {ref_fb / cpu_fb:.1f}x, max |cpu - ref| {err:.2e}"
    )
    res.update(
        ref_gaussians=rn,
        ref_size=rsize,
        cpu_fwd_bwd_ms_ref_scene=round(1e3 * cpu_fb, 3),
        ref_fwd_bwd_ms=round(1e3 * ref_fb, 1),
        speedup=round(ref_fb / cpu_fb, 2),
        max_abs_err=err,
    )
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
