"""The gsplat adapter's mapping (emogs.render.api._render_gsplat), run on the CPU against a stand-in
`gsplat.rasterization` that follows gsplat 1.5's documented conventions (camera batch dim C=1,
post-activation colors with sh_degree=None, "RGB+D" appending the expected depth and a zero depth
background, radii [C,N,2], means2d [C,N,2] in the graph) computed with our torch reference. The real
gsplat needs a GPU (tests/cuda_ext/test_cuda_kernels.py compares it there)."""

import sys
import types

import torch
from render_scenes import camera, random_scene

from emogs.render import api, rasterize
from emogs.render import reference as ref


def fake_rasterization(means, quats, scales, opacities, colors, viewmats, Ks, width, height, near_plane=0.01,
                       far_plane=1e10, eps2d=0.3, sh_degree=None, packed=True, backgrounds=None,
                       render_mode="RGB", rasterize_mode="classic", **unused):
    N, D = colors.shape
    assert viewmats.shape == (1, 4, 4) and Ks.shape == (1, 3, 3)
    assert sh_degree is None and packed is False and render_mode == "RGB+D" and rasterize_mode == "classic"
    assert backgrounds.shape == (1, D) and not unused
    p = ref.project_reference(means, quats, scales, opacities, viewmats[0], Ks[0], width, height, near_plane,
                              far_plane, eps2d)
    means2d = p["means2d"][None]  # gsplat's [C,N,2], the tensor the blending uses
    feats = torch.cat([colors, p["depths"][:, None]], 1)
    bg = torch.cat([backgrounds[0], backgrounds.new_zeros(1)])
    img, alpha = ref.rasterize_reference(means2d[0], p["conics"], opacities, feats, p["depths"], p["visible"],
                                         p["rects"], bg, width, height)
    radii = p["radii"].int()[None, :, None].expand(1, N, 2)
    return img[None], alpha[None], {"radii": radii, "means2d": means2d, "depths": p["depths"][None],
                                     "conics": p["conics"][None]}


def test_adapter_maps_inputs_and_outputs_exactly(monkeypatch):
    monkeypatch.setitem(sys.modules, "gsplat", types.SimpleNamespace(rasterization=fake_rasterization))
    W, H = 40, 24
    vm, K = camera(W, H)
    s = random_scene(60, channels=5, seed=3)
    want = rasterize(**s, viewmat=vm, K=K, width=W, height=H, backend="torch")
    got = api._render_one("gsplat", s["means"], s["quats"], s["scales"], s["opacities"], s["features"], vm, K,
                          W, H, s["background"], 0.01, 1e3, 0.3)
    assert got.meta["backend"] == "gsplat"
    for k in ("image", "alpha", "depth"):
        assert getattr(got, k).shape == getattr(want, k).shape
        torch.testing.assert_close(getattr(got, k), getattr(want, k))
    assert torch.equal(got.meta["radii"], want.meta["radii"].int())
    torch.testing.assert_close(got.meta["conics"], want.meta["conics"])
    assert got.meta["num_visible"] == want.meta["num_visible"]


def test_screen_space_gradient_reaches_densification(monkeypatch):
    """meta["means2d"] is gsplat's [1,N,2] graph tensor: retain_grad works and the strategy reads it."""
    from emogs.gaussians import DensifyStrategy, GaussianSet

    monkeypatch.setitem(sys.modules, "gsplat", types.SimpleNamespace(rasterization=fake_rasterization))
    W, H = 32, 16
    vm, K = camera(W, H)
    s = random_scene(40, seed=5)
    s["means"].requires_grad_(True)
    gset = GaussianSet.from_points(s["means"].detach(), s["features"][:, :3].detach(), sh_degree=0)
    acc = {}
    for backend in ("torch", "gsplat"):
        out = api._render_one(backend, s["means"], s["quats"], s["scales"], s["opacities"], s["features"],
                              vm, K, W, H, s["background"], 0.01, 1e3, 0.3)
        strat = DensifyStrategy(refine_start=10**6)
        strat.step_pre_backward(out.meta)
        out.image.sum().backward()
        state = strat.initialize_state(40)
        strat.step_post_backward(gset, None, state, 1, {**out.meta, "width": W, "height": H})
        acc[backend] = state["grad2d"]
    assert float(acc["torch"].abs().sum()) > 0
    torch.testing.assert_close(acc["gsplat"], acc["torch"])
