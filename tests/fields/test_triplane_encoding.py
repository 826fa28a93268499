"""HashGrid2D and TriplaneEncoding: table sizing, plane order, bound clamping, backends, gradients."""

from __future__ import annotations

import pytest
import torch

from emogs._ext import has_extension
from emogs.fields import HashGrid2D, TriplaneConfig, TriplaneEncoding, hash_grid_2d_torch

needs_ext = pytest.mark.skipif(not has_extension("hashgrid"), reason="emogs._ext_hashgrid not built")


def test_hashgrid2d_table_sizing_and_levels():
    g = HashGrid2D(num_levels=12, features_per_level=1, log2_table_size=17, base_resolution=16,
                   finest_resolution=256)
    assert g.table.shape == (12, 257 * 257, 1)  # the finest level fits densely: no unused rows
    assert all(g.dense_levels())
    h = HashGrid2D(num_levels=6, features_per_level=2, log2_table_size=10, base_resolution=8,
                   finest_resolution=128)
    assert h.table.shape == (6, 1024, 2)
    assert h.dense_levels()[0] and not h.dense_levels()[-1]  # coarse direct, fine hashed
    assert h.out_dim == 12
    assert h.table.abs().max() <= 1e-4  # instant-ngp init
    coords = torch.rand(50, 2)
    out = h(coords)
    assert out.shape == (50, 12)
    torch.testing.assert_close(out, hash_grid_2d_torch(coords, h.table, h.resolutions))


def test_hashgrid2d_bad_config():
    with pytest.raises(ValueError, match="backend"):
        HashGrid2D(backend="opengl")
    with pytest.raises(ValueError, match="log2_table_size"):
        HashGrid2D(log2_table_size=40)


def test_tcnn_backend_missing_is_explained():
    try:
        import tinycudann  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="tinycudann"):
            HashGrid2D(backend="tcnn")
    else:  # pragma: no cover - only with a CUDA GPU and tiny-cuda-nn installed
        pytest.skip("tinycudann present; covered by the CUDA tests")


def test_triplane_planes_order_and_shapes():
    torch.manual_seed(0)
    cfg = TriplaneConfig(num_levels=4, features_per_level=2, log2_table_size=12, base_resolution=4,
                         finest_resolution=32, bound=0.5, backend="torch")
    enc = TriplaneEncoding(cfg)
    assert enc.out_dim == 3 * 4 * 2
    with torch.no_grad():
        for p in enc.planes.values():
            p.table.normal_()
    xyz = torch.rand(100, 3) - 0.5
    out = enc(xyz)
    assert out.shape == (100, 24)
    uvw = xyz + 0.5  # bound 0.5: normalised = xyz + 0.5
    for k, (name, axes) in enumerate([("xy", [0, 1]), ("yz", [1, 2]), ("xz", [0, 2])]):
        plane = enc.planes[name]
        ref = hash_grid_2d_torch(uvw[:, axes], plane.table.detach(), plane.resolutions)
        torch.testing.assert_close(out[:, 8 * k : 8 * (k + 1)], ref.detach())


def test_triplane_clamps_outside_the_bound():
    torch.manual_seed(1)
    enc = TriplaneEncoding(TriplaneConfig(num_levels=3, log2_table_size=10, base_resolution=4,
                                          finest_resolution=16, backend="torch"))
    with torch.no_grad():
        for p in enc.planes.values():
            p.table.normal_()
    b = enc.cfg.bound
    far = torch.tensor([[3 * b, -5 * b, 0.01], [0.02, 0.0, 10.0]])
    on_surface = torch.tensor([[b, -b, 0.01], [0.02, 0.0, b]])
    torch.testing.assert_close(enc(far), enc(on_surface))


def test_triplane_config_validation():
    with pytest.raises(ValueError, match="bound"):
        TriplaneConfig(bound=0.0)
    with pytest.raises(ValueError, match="backend"):
        TriplaneConfig(backend="gpu")
    assert TriplaneConfig().to_dict()["log2_table_size"] == 17
    with pytest.raises(ValueError, match=r"xyz \[N, 3\]"):
        TriplaneEncoding(TriplaneConfig(backend="torch"))(torch.zeros(4, 2))


@needs_ext
def test_triplane_cpu_equals_torch_and_grads_flow():
    torch.manual_seed(2)
    cfg_t = TriplaneConfig(num_levels=6, log2_table_size=11, base_resolution=8, finest_resolution=128,
                           backend="torch")
    enc_t = TriplaneEncoding(cfg_t)
    enc_c = TriplaneEncoding(TriplaneConfig(**{**cfg_t.to_dict(), "backend": "cpu"}))
    enc_c.load_state_dict(enc_t.state_dict())
    xyz = (torch.rand(2000, 3) * 2 - 1) * 0.16  # a few points just outside the cube
    w = torch.randn(2000, enc_t.out_dim)
    results = []
    for enc in (enc_t, enc_c):
        x = xyz.clone().requires_grad_(True)
        out = enc(x)
        (out * w).sum().backward()
        results.append((out.detach(), x.grad, [p.table.grad for p in enc.planes.values()]))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=0, atol=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-3, atol=1e-3)
    for g_c, g_t in zip(results[1][2], results[0][2]):
        assert g_c.abs().sum() > 0
        torch.testing.assert_close(g_c, g_t, rtol=1e-4, atol=1e-5)
