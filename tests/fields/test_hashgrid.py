"""The 2-D hash grid: torch reference vs hand computation, compiled CPU kernels vs the reference."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from emogs._ext import has_extension
from emogs.fields import hashgrid as hg
from emogs.fields.hashgrid import hash_grid_2d, hash_grid_2d_torch, level_resolutions, vertex_rows

needs_ext = pytest.mark.skipif(
    not has_extension("hashgrid"),
    reason="emogs._ext_hashgrid not built (EMOGS_ONLY=hashgrid python setup.py build_ext --inplace)",
)

# Tiny grids mixing dense levels ((res+1)^2 <= T) and hashed ones.
T_SMALL = 64
RES_MIXED = [2, 5, 7, 13]  # 9, 36 rows dense; 64 dense (8^2 = 64 <= 64); 196 > 64 hashed


def _brute_force(u: float, v: float, table: torch.Tensor, res: list[int]) -> torch.Tensor:
    """Scalar bilinear interpolation written independently of the vectorised reference."""
    L, T, F = table.shape
    out = []
    for level, r in enumerate(res):
        uu = min(max(u, 0.0), 1.0) * r
        vv = min(max(v, 0.0), 1.0) * r
        x0, y0 = min(int(math.floor(uu)), r - 1), min(int(math.floor(vv)), r - 1)
        fx, fy = uu - x0, vv - y0

        def row(x, y, r=r):
            if (r + 1) ** 2 <= T:
                return y * (r + 1) + x
            return ((x & 0xFFFFFFFF) ^ ((y * 2654435761) & 0xFFFFFFFF)) % T

        val = (
            (1 - fx) * (1 - fy) * table[level, row(x0, y0)]
            + fx * (1 - fy) * table[level, row(x0 + 1, y0)]
            + (1 - fx) * fy * table[level, row(x0, y0 + 1)]
            + fx * fy * table[level, row(x0 + 1, y0 + 1)]
        )
        out.append(val)
    return torch.cat(out)


def test_level_resolutions_geometric():
    res = level_resolutions(12, 16, 256)
    assert res[0] == 16 and res[-1] == 256 and len(res) == 12
    assert all(b > a for a, b in zip(res, res[1:]))
    assert level_resolutions(1, 8, 8) == [8]
    dec = level_resolutions(12, 64, 57)  # TalkingGaussian's mouth: levels get coarser
    assert dec[0] == 64 and dec[-1] == 57
    with pytest.raises(ValueError, match="num_levels"):
        level_resolutions(0, 16, 256)


def test_reference_matches_brute_force():
    torch.manual_seed(1)
    table = torch.randn(len(RES_MIXED), T_SMALL, 2, dtype=torch.float64)
    pts = [(0.0, 0.0), (1.0, 1.0), (0.31, 0.77), (0.999, 0.5), (-0.3, 1.7), (0.5, 0.25)]
    coords = torch.tensor(pts, dtype=torch.float64)
    out = hash_grid_2d_torch(coords, table, RES_MIXED)
    assert out.shape == (len(pts), len(RES_MIXED) * 2)
    for i, (u, v) in enumerate(pts):
        torch.testing.assert_close(out[i], _brute_force(u, v, table, RES_MIXED), rtol=0, atol=1e-12)


def test_vertices_reproduce_table_entries():
    """At a grid vertex the encoding returns that vertex's table row (dense and hashed levels)."""
    torch.manual_seed(2)
    for r, T in [(4, 64), (13, 64)]:  # dense, hashed
        table = torch.randn(1, T, 1, dtype=torch.float64)
        x = torch.tensor([0, 3, 4, 1])
        y = torch.tensor([0, 2, 4, 4])
        x, y = x.clamp(max=r), y.clamp(max=r)
        coords = torch.stack([x, y], 1).double() / r
        out = hash_grid_2d_torch(coords, table, [r])[:, 0]
        rows = vertex_rows(x, y, r, T)
        torch.testing.assert_close(out, table[0, rows, 0])


def test_hashed_level_uses_spatial_hash_and_dense_level_direct_index():
    x = torch.arange(0, 20)
    y = torch.arange(0, 20).flip(0)
    dense = vertex_rows(x.clamp(max=7), y.clamp(max=7), 7, 64)
    assert torch.equal(dense, y.clamp(max=7) * 8 + x.clamp(max=7))
    hashed = vertex_rows(x, y, 19, 64)
    expect = torch.tensor([((int(a) ^ (int(b) * 2654435761)) & 0xFFFFFFFF) % 64 for a, b in zip(x, y)])
    assert torch.equal(hashed, expect)
    assert int(hashed.max()) < 64 and int(hashed.min()) >= 0


def test_reference_gradcheck():
    torch.manual_seed(3)
    table = torch.randn(len(RES_MIXED), T_SMALL, 2, dtype=torch.float64, requires_grad=True)
    # keep points off cell borders (the encoding is only piecewise smooth)
    coords = (torch.rand(7, 2, dtype=torch.float64) * 0.9 + 0.05).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda c, t: hash_grid_2d_torch(c, t, RES_MIXED), (coords, table))


@needs_ext
@pytest.mark.parametrize("features", [1, 2, 4])
def test_cpu_forward_matches_reference_float32(features):
    torch.manual_seed(4)
    res = level_resolutions(8, 4, 300)
    table = torch.randn(len(res), 2**12, features)  # finest levels hashed
    coords = torch.rand(5000, 2) * 1.2 - 0.1
    ref = hash_grid_2d(coords, table, res, backend="torch")
    out = hash_grid_2d(coords, table, res, backend="cpu")
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


@needs_ext
def test_cpu_gradients_match_reference_float64():
    torch.manual_seed(5)
    table = torch.randn(len(RES_MIXED), T_SMALL, 3, dtype=torch.float64)
    coords = torch.rand(400, 2, dtype=torch.float64) * 1.3 - 0.15
    coords[:4] = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.5]], dtype=torch.float64)
    grad_out = torch.randn(400, len(RES_MIXED) * 3, dtype=torch.float64)
    grads = {}
    for backend in ("torch", "cpu"):
        c = coords.clone().requires_grad_(True)
        t = table.clone().requires_grad_(True)
        out = hash_grid_2d(c, t, RES_MIXED, backend=backend)
        (out * grad_out).sum().backward()
        grads[backend] = (out.detach(), t.grad, c.grad)
    for ref, got in zip(grads["torch"], grads["cpu"]):
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
    assert grads["cpu"][1].abs().sum() > 0 and grads["cpu"][2].abs().sum() > 0


@needs_ext
def test_cpu_gradcheck_table_and_coords():
    torch.manual_seed(6)
    table = torch.randn(len(RES_MIXED), T_SMALL, 2, dtype=torch.float64, requires_grad=True)
    coords = (torch.rand(6, 2, dtype=torch.float64) * 0.9 + 0.05).requires_grad_(True)
    fn = lambda c, t: hash_grid_2d(c, t, RES_MIXED, backend="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (coords, table))


@needs_ext
def test_only_requested_gradients():
    table = torch.randn(3, T_SMALL, 1, requires_grad=True)
    coords = torch.rand(10, 2)  # no grad
    hash_grid_2d(coords, table, [2, 4, 9], backend="cpu").sum().backward()
    assert table.grad is not None and coords.grad is None
    table2 = torch.randn(3, T_SMALL, 1)  # frozen table, gradient to coords only
    c = torch.rand(10, 2, requires_grad=True)
    hash_grid_2d(c, table2, [2, 4, 9], backend="cpu").sum().backward()
    assert c.grad is not None and c.grad.abs().sum() > 0


@needs_ext
@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_boundaries_clamp(backend):
    torch.manual_seed(7)
    res = [3, 9, 20]
    table = torch.randn(3, T_SMALL, 2, dtype=torch.float64)
    outside = torch.tensor([[-0.5, 0.3], [1.5, 0.3], [0.3, -2.0], [2.0, 2.0], [float("nan"), 0.4]]).double()
    clamped = torch.tensor([[0.0, 0.3], [1.0, 0.3], [0.3, 0.0], [1.0, 1.0], [0.0, 0.4]]).double()
    c = outside.clone().requires_grad_(True)
    out = hash_grid_2d(c, table, res, backend=backend)
    torch.testing.assert_close(out, hash_grid_2d(clamped, table, res, backend=backend))
    out.sum().backward()
    # clamped coordinates get no gradient; the free coordinate of the same point does
    assert c.grad[0, 0] == 0 and c.grad[1, 0] == 0 and c.grad[2, 1] == 0 and c.grad[4, 0] == 0
    assert c.grad[3].abs().sum() == 0
    assert c.grad[0, 1] != 0 and c.grad[1, 1] != 0 and c.grad[2, 0] != 0
    # exactly 0 and 1 are inside: u = 1 lands on the last vertex, not out of the table
    edge = torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    got = hash_grid_2d(edge, table, res, backend=backend)
    for i, (u, v) in enumerate(edge.tolist()):
        torch.testing.assert_close(got[i], _brute_force(u, v, table, res))


@needs_ext
def test_cpu_backward_deterministic_and_empty():
    torch.manual_seed(8)
    res = level_resolutions(12, 16, 256)
    table = torch.randn(12, 2**14, 1, requires_grad=True)  # many collisions on the fine levels
    coords = torch.rand(20000, 2, requires_grad=True)
    g = torch.randn(20000, 12)
    grads = []
    for _ in range(2):
        table.grad = None
        coords.grad = None
        (hash_grid_2d(coords, table, res, backend="cpu") * g).sum().backward()
        grads.append((table.grad.clone(), coords.grad.clone()))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])
    empty = hash_grid_2d(torch.zeros(0, 2), table.detach(), res, backend="cpu")
    assert empty.shape == (0, 12)


def test_bad_inputs_name_the_problem():
    table = torch.zeros(2, 16, 1)
    with pytest.raises(ValueError, match=r"coords must be \[N, 2\]"):
        hash_grid_2d_torch(torch.zeros(5, 3), table, [2, 3])
    with pytest.raises(ValueError, match="resolutions given"):
        hash_grid_2d_torch(torch.zeros(5, 2), table, [2])
    with pytest.raises(TypeError, match="dtype"):
        hash_grid_2d_torch(torch.zeros(5, 2, dtype=torch.float64), table, [2, 3])
    with pytest.raises(ValueError, match=r"\[1, 2\^30\]"):
        hash_grid_2d_torch(torch.zeros(5, 2), table, [0, 3])
    with pytest.raises(ValueError, match="unknown hash-grid backend"):
        hash_grid_2d(torch.zeros(5, 2), table, [2, 3], backend="magic")
    with pytest.raises(ValueError, match="HashGrid2D"):
        hash_grid_2d(torch.zeros(5, 2), table, [2, 3], backend="tcnn")


def test_auto_falls_back_to_torch_with_one_warning(monkeypatch):
    monkeypatch.setattr(hg, "has_extension", lambda name: False)
    monkeypatch.setattr(hg, "_warned_fallback", set())
    table = torch.randn(2, 16, 1)
    coords = torch.rand(5, 2)
    with pytest.warns(RuntimeWarning, match="not built"):
        out = hash_grid_2d(coords, table, [2, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hash_grid_2d(coords, table, [2, 3])  # second call: silent
    torch.testing.assert_close(out, hash_grid_2d_torch(coords, table, [2, 3]))


@needs_ext
def test_fused_triplane_matches_three_planes_and_gradchecks():
    from emogs.fields.hashgrid import TRIPLANE_AXES, triplane_hash_grid

    torch.manual_seed(9)
    shape = (len(RES_MIXED), T_SMALL, 2)
    tables = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    uvw = (torch.rand(300, 3, dtype=torch.float64) * 1.2 - 0.1).requires_grad_(True)
    fused = triplane_hash_grid(uvw, tables, RES_MIXED, backend="cpu")
    planes = [hash_grid_2d_torch(uvw[:, list(a)], t, RES_MIXED) for a, t in zip(TRIPLANE_AXES, tables)]
    ref = torch.cat(planes, dim=1)
    torch.testing.assert_close(fused, ref)
    g = torch.randn_like(ref)
    got = torch.autograd.grad((fused * g).sum(), [uvw, *tables])
    want = torch.autograd.grad((ref * g).sum(), [uvw, *tables])
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    small = [t.detach()[:, :, :1].clone().requires_grad_(True) for t in tables]
    x = (torch.rand(5, 3, dtype=torch.float64) * 0.9 + 0.05).requires_grad_(True)
    fn = lambda x, a, b, c: triplane_hash_grid(x, [a, b, c], RES_MIXED, backend="cpu")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, *small))
