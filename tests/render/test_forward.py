"""Forward pass of the C++ kernels against the pure-torch reference (images within 1e-4)."""

import pytest
import torch
from render_scenes import camera, random_scene

from emogs._ext import has_extension
from emogs.render import rasterize

pytestmark = pytest.mark.skipif(
    not has_extension("raster"), reason="emogs._ext_raster not built (make build)"
)


def _compare(scene, width, height, f=1.0, tol=1e-4, dtype=torch.float32):
    vm, K = camera(width, height, f, dtype)
    a = rasterize(**scene, viewmat=vm, K=K, width=width, height=height, backend="cpu")
    b = rasterize(**scene, viewmat=vm, K=K, width=width, height=height, backend="torch")
    C = scene["features"].shape[1]
    assert a.image.shape == (height, width, C) and a.alpha.shape == (height, width, 1)
    assert a.depth.shape == (height, width, 1)
    assert (a.image - b.image).abs().max() <= tol
    assert (a.alpha - b.alpha).abs().max() <= tol
    assert (a.depth - b.depth).abs().max() <= tol * max(1.0, b.depth.abs().max().item())
    assert torch.equal(a.meta["radii"], b.meta["radii"])
    assert a.meta["num_visible"] == b.meta["num_visible"]
    return a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_scenes_match_reference(seed):
    a, _ = _compare(random_scene(300, seed=seed), 80, 64)
    assert a.meta["num_visible"] > 200
    assert a.alpha.max() > 0.9  # the scene really covers pixels


@pytest.mark.parametrize("channels", [1, 6])
def test_any_channel_count(channels):
    _compare(random_scene(100, channels=channels, seed=3), 40, 32)


def test_float64_matches_tightly():
    _compare(random_scene(150, seed=4, dtype=torch.float64), 48, 40, tol=1e-10, dtype=torch.float64)


@pytest.mark.parametrize("size", [(1, 1), (17, 5), (5, 33), (100, 20)])
def test_odd_and_non_square_sizes(size):
    w, h = size
    _compare(random_scene(60, seed=5, spread=0.3), w, h)


def test_behind_camera_and_off_screen_are_culled():
    s = random_scene(40, seed=6)
    s["means"][:10, 2] = -1.0  # behind the camera
    s["means"][10:20, 0] += 50.0  # far off to the side
    vm, _ = camera(32, 32)
    near_pt = torch.tensor([0.001, 0.0, 0.005])  # camera space, before the near plane (0.01)
    s["means"][20:25] = vm[:3, :3].T @ (near_pt - vm[:3, 3])
    a, _ = _compare(s, 32, 32)
    radii = a.meta["radii"]
    assert (radii[:25] == 0).all() and (radii[25:] > 0).any()


def test_huge_tiny_opaque_and_transparent():
    s = random_scene(40, seed=7, spread=0.3)
    s["scales"][:3] = 5.0  # covers the whole image
    s["scales"][3:10] = 1e-5  # sub-pixel (eps2d keeps a footprint)
    s["opacities"][10:20] = 1.0  # fully opaque
    s["opacities"][20:25] = 0.0  # invisible
    a, _ = _compare(s, 40, 30)
    assert (a.meta["radii"][20:25] == 0).all()
    assert a.alpha.min() > 0.99  # the huge ones cover everything


def test_early_termination_region_matches():
    # many opaque layers: most pixels stop long before the last Gaussian
    s = random_scene(200, seed=8, spread=0.1, scale=(0.1, 0.3), opacity=(0.9, 1.0))
    a, _ = _compare(s, 32, 32)
    assert a.meta["stats"]["pairs_blended"] < a.meta["stats"]["tile_pairs"] * 256


def test_empty_scene_gives_background():
    s = random_scene(0, seed=9)
    vm, K = camera(16, 8)
    out = rasterize(**s, viewmat=vm, K=K, width=16, height=8, backend="cpu")
    assert torch.allclose(out.image, s["background"].expand(8, 16, 3))
    assert out.alpha.abs().max() == 0 and out.depth.abs().max() == 0 and out.meta["num_visible"] == 0


def test_batched_cameras_equal_single_renders():
    s = random_scene(50, seed=10)
    vm, K = camera(24, 16)
    vm2 = vm.clone()
    vm2[0, 3] += 0.2
    out = rasterize(**s, viewmat=torch.stack([vm, vm2]), K=K, width=24, height=16, backend="cpu")
    assert out.image.shape == (2, 16, 24, 3) and out.meta["radii"].shape == (2, 50)
    for b, v in enumerate([vm, vm2]):
        one = rasterize(**s, viewmat=v, K=K, width=24, height=16, backend="cpu")
        assert torch.equal(out.image[b], one.image)


def test_depth_is_expected_depth():
    # one opaque-ish Gaussian facing the camera: depth / alpha equals its camera z
    s = random_scene(1, seed=11, spread=0.0, scale=(0.2, 0.2), opacity=(0.8, 0.8))
    vm, K = camera(16, 16)
    out = rasterize(**s, viewmat=vm, K=K, width=16, height=16, backend="cpu")
    z = (vm[:3, :3] @ s["means"][0] + vm[:3, 3])[2]
    m = out.alpha[..., 0] > 0.1
    assert torch.allclose(out.depth[..., 0][m] / out.alpha[..., 0][m], z.expand(int(m.sum())), atol=1e-5)


def test_inference_forward_matches_training_forward():
    """Under no_grad the kernel skips what only the backward needs; the render must not change,
    and a forward without grad bookkeeping cannot be back-propagated by mistake."""
    from emogs.render._kernels import RasterizeFn

    scene = random_scene(300, seed=5)
    vm, K = camera(80, 64)
    params = {k: v.clone().requires_grad_(True) for k, v in scene.items()}
    train = rasterize(**params, viewmat=vm, K=K, width=80, height=64, backend="cpu")
    with torch.no_grad():
        infer = rasterize(**scene, viewmat=vm, K=K, width=80, height=64, backend="cpu")
    assert train.image.requires_grad and not infer.image.requires_grad
    assert torch.equal(train.image.detach(), infer.image)
    assert torch.equal(train.alpha.detach(), infer.alpha)
    assert torch.equal(train.depth.detach(), infer.depth)
    m = train.meta
    feats = torch.cat([params["features"], m["depths"][:, None]], 1).detach().requires_grad_(True)
    bg = torch.zeros(feats.shape[1])
    args = (m["means2d"].detach(), m["conics"].detach(), params["opacities"].detach(), feats, bg)
    rects = torch.zeros(len(feats), 4, dtype=torch.int32)
    img, _, _ = RasterizeFn.apply(*args, m["depths"].detach(), m["radii"], rects, 80, 64, False)
    with pytest.raises(RuntimeError, match="need_grad=False"):
        img.sum().backward()
