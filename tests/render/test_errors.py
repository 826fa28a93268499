"""Bad input gives a clear error that names the problem and the fix."""

import pytest
import torch
from render_scenes import camera, random_scene

from emogs.render import rasterize


def _call(**over):
    s = random_scene(8, seed=0)
    vm, K = camera(16, 16)
    kw = dict(**s, viewmat=vm, K=K, width=16, height=16, backend="torch")
    kw.update(over)
    return rasterize(**kw)


@pytest.mark.parametrize(
    "over, match",
    [
        (dict(means=torch.zeros(8, 2)), r"means must have shape \[N,3\]"),
        (dict(quats=torch.zeros(7, 4)), r"quats must have shape"),
        (dict(scales=torch.ones(8)), r"scales must have shape"),
        (dict(opacities=torch.ones(8, 1) * 0.5), r"squeeze a trailing 1"),
        (dict(features=torch.ones(8, 0)), r"C >= 1"),
        (dict(viewmat=torch.eye(3)), r"viewmat must have shape"),
        (dict(K=torch.eye(4)), r"K must have shape"),
        (dict(background=torch.zeros(4)), r"one value per feature channel"),
        (dict(width=0), r"positive ints"),
        (dict(near=0.0), r"0 < near < far"),
    ],
)
def test_bad_shapes(over, match):
    with pytest.raises(ValueError, match=match):
        _call(**over)


def test_bad_dtypes():
    s = random_scene(8)
    with pytest.raises(TypeError, match="share a dtype"):
        _call(features=s["features"].double())
    with pytest.raises(TypeError, match="floating-point"):
        _call(opacities=torch.ones(8, dtype=torch.int64))
    with pytest.raises(TypeError, match="float32 or float64"):
        _call(**{k: v.half() for k, v in s.items()})


def test_non_normalised_quats():
    s = random_scene(8)
    with pytest.raises(ValueError, match="normalize=True"):
        _call(quats=s["quats"] * 2)
    out = _call(quats=s["quats"] * 2, normalize=True)  # the documented alternative works
    ref = _call()
    torch.testing.assert_close(out.image, ref.image)


@pytest.mark.parametrize("name", ["means", "scales", "features", "opacities"])
def test_nan_inputs(name):
    s = random_scene(8)
    t = s[name].clone()
    t.view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match=f"{name} contains NaN"):
        _call(**{name: t})


def test_out_of_range_values():
    s = random_scene(8)
    with pytest.raises(ValueError, match="sigmoid"):
        _call(opacities=s["opacities"] + 1)
    with pytest.raises(ValueError, match="log-scales"):
        _call(scales=s["scales"].log())


def test_unknown_and_unavailable_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        _call(backend="vulkan")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            _call(backend="cuda")
        with pytest.raises(RuntimeError, match="not available"):
            _call(backend="gsplat")


def test_device_mismatch():
    meta = torch.device("meta")
    with pytest.raises(ValueError, match="one device"):
        _call(features=torch.ones(8, 3, device=meta))
