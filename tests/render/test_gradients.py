"""Gradients: the torch reference against finite differences (float64 gradcheck), and the C++
hand-written backward against the reference (float64 tightly, float32 loosely)."""

import pytest
import torch
from render_scenes import camera, random_scene

from emogs._ext import has_extension
from emogs.render import rasterize
from emogs.render.reference import project_reference, rasterize_reference

needs_ext = pytest.mark.skipif(not has_extension("raster"), reason="emogs._ext_raster not built (make build)")
NAMES = ("means", "quats", "scales", "opacities", "features", "background")
W, H = 20, 14


def _loss_fn(scene, backend, weights, vm, K):
    def fn(*tensors):
        s = dict(zip(NAMES, tensors))
        out = rasterize(**s, viewmat=vm, K=K, width=W, height=H, backend=backend)
        wi, wa, wd = weights
        return (out.image * wi).sum() + (out.alpha * wa).sum() + (out.depth * wd).sum()

    return fn


def _weights(C, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(H, W, c, generator=g, dtype=torch.float64).to(dtype) for c in (C, 1, 1)]


@pytest.mark.parametrize("channels", [3, 2])
def test_reference_gradcheck_float64(channels):
    s = random_scene(6, channels=channels, dtype=torch.float64, seed=20, spread=0.25, scale=(0.05, 0.15))
    vm, K = camera(W, H, dtype=torch.float64)
    inputs = [s[n].clone().requires_grad_() for n in NAMES]
    fn = _loss_fn(s, "torch", _weights(channels, torch.float64), vm, K)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_reference_projection_gradcheck_clamped_jacobian():
    # Gaussians far outside the frustum hit the Jacobian clamp: its gradient must still be right.
    s = random_scene(5, dtype=torch.float64, seed=21)
    s["means"][:, 0] += torch.tensor([4.0, -4.0, 0.0, 0.0, 3.0], dtype=torch.float64)
    s["means"][:, 1] += torch.tensor([0.0, 0.0, 4.0, -4.0, 3.0], dtype=torch.float64)
    vm, K = camera(W, H, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    w2, w3, w1 = (torch.rand(5, k, generator=g, dtype=torch.float64) for k in (2, 3, 1))

    def fn(m, q, sc):
        p = project_reference(m, q, sc, s["opacities"], vm, K, W, H)
        return (p["means2d"] * w2).sum() + (p["conics"] * w3).sum() + (p["depths"] * w1[:, 0]).sum()

    ins = [s[n].clone().requires_grad_() for n in ("means", "quats", "scales")]
    assert torch.autograd.gradcheck(fn, ins, eps=1e-6, atol=1e-6, rtol=1e-5)


@needs_ext
@pytest.mark.parametrize("channels", [1, 3, 6])
def test_cpu_gradients_match_reference_float64(channels):
    s = random_scene(25, channels=channels, dtype=torch.float64, seed=30 + channels, spread=0.3)
    s["means"][0, 0] += 3.0  # one Gaussian with a clamped Jacobian
    s["opacities"][1] = 1.0  # one clamped alpha
    vm, K = camera(W, H, dtype=torch.float64)
    weights = _weights(channels, torch.float64, seed=channels)
    grads = {}
    for backend in ("cpu", "torch"):
        inputs = [s[n].clone().requires_grad_() for n in NAMES]
        loss = _loss_fn(s, backend, weights, vm, K)(*inputs)
        grads[backend] = torch.autograd.grad(loss, inputs)
    for name, a, b in zip(NAMES, grads["cpu"], grads["torch"]):
        assert b.abs().max() > 0, name  # the check is not vacuous
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=lambda m, n=name: f"{n}: {m}")


@needs_ext
def test_cpu_gradients_float32_close_to_reference():
    s = random_scene(80, dtype=torch.float32, seed=40)
    vm, K = camera(W, H)
    weights = _weights(3, torch.float32)
    grads = {}
    for backend in ("cpu", "torch"):
        inputs = [s[n].clone().requires_grad_() for n in NAMES]
        grads[backend] = torch.autograd.grad(_loss_fn(s, backend, weights, vm, K)(*inputs), inputs)
    for name, a, b in zip(NAMES, grads["cpu"], grads["torch"]):
        scale = b.abs().max().item()
        assert (a - b).abs().max().item() <= 2e-5 * max(scale, 1.0), name


@needs_ext
def test_means2d_retain_grad_gives_screen_space_gradient():
    s = random_scene(30, dtype=torch.float64, seed=50)
    vm, K = camera(W, H, dtype=torch.float64)
    grads = []
    for backend in ("cpu", "torch"):
        m = s["means"].clone().requires_grad_()
        out = rasterize(
            m, s["quats"], s["scales"], s["opacities"], s["features"], vm, K, W, H, backend=backend
        )
        out.meta["means2d"].retain_grad()
        out.image.sum().backward()
        grads.append(out.meta["means2d"].grad)
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-9)


def test_rasterize_reference_is_tiling_independent():
    # the tile loop only bounds work: one Gaussian whose rect spans several tiles gives the
    # same image as a dense composite over all pixels
    s = random_scene(20, dtype=torch.float64, seed=60)
    vm, K = camera(40, 36, dtype=torch.float64)
    p = project_reference(s["means"], s["quats"], s["scales"], s["opacities"], vm, K, 40, 36)
    full_rects = p["rects"].clone()
    full_rects[:, :2] = 0
    full_rects[:, 2], full_rects[:, 3] = 39, 35
    args = (p["means2d"], p["conics"], s["opacities"], s["features"], p["depths"], p["visible"])
    a = rasterize_reference(*args, p["rects"], s["background"], 40, 36)
    b = rasterize_reference(*args, full_rects, s["background"], 40, 36)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=1e-12)
