"""The CPU blending kernels exist in two SIMD widths (portable 4-lane; 8-lane AVX2+FMA clones
picked at run time for float32). Both must agree with the torch reference; the portable path is
forced in a subprocess with EMOGS_NO_AVX2=1."""

import json
import os
import subprocess
import sys

import pytest
import torch

from emogs._ext import has_extension, load_extension

needs_ext = pytest.mark.skipif(not has_extension("raster"), reason="emogs._ext_raster not built (make build)")
HERE = os.path.dirname(os.path.abspath(__file__))

# Renders a few scenes (C = 3 -> unrolled kernel, C = 2 -> generic kernel) and prints the image,
# alpha and gradients as JSON, plus the SIMD width in use.
SCRIPT = r"""
import json, sys, torch
sys.path.insert(0, HERE)
from render_scenes import camera, random_scene
from emogs.render import rasterize
from emogs._ext import load_extension
out = {"lanes": load_extension("raster").cpu_simd_lanes(True)}
for C in (3, 2):
    s = random_scene(40, channels=C, seed=7 + C, spread=0.3)
    vm, K = camera(37, 29)
    p = {k: v.clone().requires_grad_() for k, v in s.items()}
    r = rasterize(**p, viewmat=vm, K=K, width=37, height=29, backend=BACKEND)
    g = torch.Generator().manual_seed(C)
    loss = (r.image * torch.rand(r.image.shape, generator=g)).sum() + r.alpha.sum() + 0.3 * r.depth.sum()
    loss.backward()
    out[str(C)] = {"image": r.image.tolist(), "alpha": r.alpha.tolist(),
                   **{k: v.grad.tolist() for k, v in p.items()}}
print(json.dumps(out))
"""


def _run(backend: str, no_avx2: bool) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if no_avx2:
        env["EMOGS_NO_AVX2"] = "1"
    code = f"HERE = {HERE!r}\nBACKEND = {backend!r}\n" + SCRIPT
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@needs_ext
def test_lanes_reported():
    ext = load_extension("raster")
    assert ext.cpu_simd_lanes(False) == 4  # float64 always takes the exact libm path
    assert ext.cpu_simd_lanes(True) in (4, 8)


@needs_ext
def test_portable_and_avx2_paths_match_reference():
    ref = _run("torch", no_avx2=False)
    portable = _run("cpu", no_avx2=True)
    native = _run("cpu", no_avx2=False)
    assert portable["lanes"] == 4
    for C in ("3", "2"):
        for key in ref[C]:
            want = torch.tensor(ref[C][key])
            scale = want.abs().max().clamp_min(1.0)
            for got in (portable, native):
                err = (torch.tensor(got[C][key]) - want).abs().max() / scale
                assert err < 2e-5, (C, key, got["lanes"], float(err))
