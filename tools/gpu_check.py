"""`make gpu-check`: check the CUDA path end to end on a machine with a CUDA GPU (about 4 minutes).

1. Without a CUDA GPU it says so, prints its JSON line and exits 0 (a GPU that a CPU build of torch
   cannot use is an error: exit 2, with the fix).
2. Builds the CUDA kernels in place when the built extension lacks them (EMOGS_CUDA=1).
3. Compares every CUDA kernel with the torch reference on the CPU, forward and gradients: the
   rasterizer (projection + blending: image, alpha, depth; means, quats, scales, opacities,
   features, background) and the hash grid (output, table and coordinate gradients, tri-plane),
   float64 within --tol (1e-4), float32 reported; gsplat (float32) when installed.
4. A short fit (--steps) with the paper preset's model at 512 px on the demo dataset (out/demo/dataset
   from `make demo`, or --dataset; else a synthetic 512 px clip): training steps/s.
5. Render FPS at 512x512 of that avatar; last line: one JSON object. Exit 1 when a kernel is off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda | cuda:N")
    p.add_argument("--steps", type=int, default=300, help="training steps of the short fit")
    p.add_argument("--dataset", help="person dataset of the fit (default out/demo/dataset, else synthetic)")
    p.add_argument("--tol", type=float, default=1e-4, help="float64 tolerance of the kernel comparisons")
    p.add_argument("--no-build", action="store_true", help="do not build the CUDA kernels")
    return p


def _report(res: dict, code: int) -> int:
    print(json.dumps(res))
    return code


def _cuda_built() -> bool:
    """In a subprocess: the extension imported here could not be replaced after a rebuild."""
    code = "from emogs._ext import cuda_compiled as c; print(c('raster') and c('hashgrid'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() == "True"


def _gpu_visible() -> bool:
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    res: dict = {"gpu": False, "torch": torch.__version__, "torch_cuda": torch.version.cuda}
    if not torch.cuda.is_available():
        if torch.version.cuda is None and _gpu_visible():
            print("error: this machine has an NVIDIA GPU (nvidia-smi) but torch is a CPU build; install a "
                  "CUDA torch (README, 'GPU install') and rerun `make gpu-check`", file=sys.stderr)
            return _report({**res, "skipped": "CPU build of torch on a GPU machine"}, 2)
        print("gpu-check: no CUDA GPU here; nothing to check (the CPU path is `make test`)")
        return _report({**res, "skipped": "no CUDA GPU"}, 0)
    from emogs.device import describe_device, device_from_args

    device = device_from_args(args)
    res.update(gpu=True, device=describe_device(device))
    t0 = time.time()
    if not args.no_build and not _cuda_built():
        print("gpu-check: building the CUDA kernels (EMOGS_CUDA=1 setup.py build_ext --inplace)", flush=True)
        env = {**os.environ, "EMOGS_CUDA": "1", "MAX_JOBS": str(os.cpu_count() or 4)}
        cmd = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
        build = subprocess.run(cmd, cwd=ROOT, env=env)
        res["build_s"] = round(time.time() - t0, 1)
        if build.returncode != 0 or not _cuda_built():
            print("error: the CUDA build failed (output above); see README 'GPU install'", file=sys.stderr)
            return _report({**res, "kernels_ok": False, "failed": "CUDA build"}, 1)
    from emogs.cuda_check import compare_hash_grid, compare_rasterizer, render_fps, timed_fit
    from emogs.render import available_backends

    res["raster_backends"] = available_backends(device)
    checks, ok = {}, True
    for dtype, tol in ((torch.float64, args.tol), (torch.float32, None)):
        name = str(dtype).replace("torch.", "")
        checks[f"raster_cuda_{name}"] = compare_rasterizer("cuda", device, dtype)
        checks[f"hashgrid_cuda_{name}"] = compare_hash_grid("cuda", device, dtype)
        if tol is not None:
            for key in (f"raster_cuda_{name}", f"hashgrid_cuda_{name}"):
                worst = max(checks[key].values())
                ok &= worst <= tol
                print(f"gpu-check: {key}: worst normalised error {worst:.2e} (tolerance {tol:g})", flush=True)
    if "gsplat" in res["raster_backends"]:
        checks["raster_gsplat_float32"] = compare_rasterizer("gsplat", device, torch.float32)
    res["max_error"] = {k: max(v.values()) for k, v in checks.items()}
    res["kernels_ok"] = bool(ok)
    res["check_s"] = round(time.time() - t0, 1)

    dataset = Path(args.dataset) if args.dataset else ROOT / "out" / "demo" / "dataset"
    with tempfile.TemporaryDirectory() as tmp:
        if not (dataset / "manifest.json").exists():
            from emogs.data.synthetic import write_toy_dataset

            dataset = write_toy_dataset(Path(tmp) / "toy", num_frames=24, size=512, audio_dim=80)
            res["dataset"] = "synthetic 512 px toy clip (run `make demo` first for the real demo)"
        else:
            res["dataset"] = str(dataset)
        avatar, rate, ds = timed_fit(dataset, Path(tmp) / "fit", args.steps, device)
        res["train_steps"] = args.steps
        res["train_steps_per_s"] = round(rate, 2)
        from emogs.avatar.drive import frame_conditions

        res["render_fps_512"] = round(render_fps(avatar, frame_conditions(ds[0]), size=512), 1)
    res["total_s"] = round(time.time() - t0, 1)
    print(f"gpu-check: fit {res['train_steps_per_s']} steps/s, render {res['render_fps_512']} FPS at 512^2")
    return _report(res, 0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
