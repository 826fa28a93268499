"""Backend selection; CUDA runtime tests skip without a GPU; gsplat's JIT is never triggered."""

import os
import subprocess
import sys

import pytest
import torch
from render_scenes import camera, random_scene

from emogs._ext import has_extension, load_extension
from emogs.render import available_backends, rasterize


def test_auto_picks_fastest_cpu_backend():
    avail = available_backends("cpu")
    assert avail[-1] == "torch"
    s = random_scene(10)
    vm, K = camera(8, 8)
    out = rasterize(**s, viewmat=vm, K=K, width=8, height=8)
    assert out.meta["backend"] == ("cpu" if has_extension("raster") else "torch")


@pytest.mark.skipif(not has_extension("raster"), reason="emogs._ext_raster not built")
def test_extension_reports_cuda_flag():
    assert isinstance(load_extension("raster").WITH_CUDA, bool)


def test_gsplat_cuda_backend_never_imported_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("has a GPU")
    code = (
        "import sys, torch\n"
        "from emogs.render import rasterize, available_backends\n"
        "assert 'gsplat' not in available_backends('cpu')\n"
        "s = dict(means=torch.tensor([[0., 0., 2.]]), quats=torch.tensor([[1., 0, 0, 0]]),\n"
        "         scales=torch.full((1, 3), .1), opacities=torch.tensor([.5]), features=torch.ones(1, 3))\n"
        "K = torch.tensor([[8., 0, 4], [0, 8, 4], [0, 0, 1]])\n"
        "rasterize(**s, viewmat=torch.eye(4), K=K, width=8, height=8)\n"
        "try:\n"
        "    rasterize(**s, viewmat=torch.eye(4), K=K, width=8, height=8, backend='gsplat')\n"
        "except RuntimeError:\n"
        "    pass\n"
        "assert 'gsplat.cuda._backend' not in sys.modules, 'gsplat CUDA backend was imported'\n"
        "assert 'gsplat' not in sys.modules\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300, cwd=root, env=env)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_backend_matches_cpu():
    s = random_scene(200, seed=3)
    vm, K = camera(64, 48)
    a = rasterize(**s, viewmat=vm, K=K, width=64, height=48, backend="cpu")
    sc = {k: v.cuda() for k, v in s.items()}
    b = rasterize(**sc, viewmat=vm.cuda(), K=K.cuda(), width=64, height=48)
    assert b.meta["backend"] in ("cuda", "gsplat")
    assert (a.image - b.image.cpu()).abs().max() < 1e-4
