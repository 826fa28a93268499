"""Spherical harmonics: orthonormal real basis, evaluation, errors."""

import math

import pytest
import torch

from emogs.render import eval_sh
from emogs.render.sh import sh_basis


def _sphere(n=20000):
    # Fibonacci lattice: near-uniform points on the unit sphere
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    phi = math.pi * (1 + 5**0.5) * i
    r = (1 - z * z).sqrt()
    return torch.stack([r * phi.cos(), r * phi.sin(), z], -1)


def test_basis_is_orthonormal_over_the_sphere():
    Y = sh_basis(_sphere(), 3)  # [n,16]
    gram = 4 * math.pi * (Y.T @ Y) / Y.shape[0]
    torch.testing.assert_close(gram, torch.eye(16, dtype=torch.float64), atol=2e-3, rtol=0)


def test_eval_sh_degree0_is_constant_and_linear_in_coeffs():
    g = torch.Generator().manual_seed(0)
    coeffs = torch.randn(5, 9, 3, generator=g, dtype=torch.float64)
    dirs = torch.randn(5, 3, generator=g, dtype=torch.float64)
    out0 = eval_sh(coeffs[:, :1], dirs)
    torch.testing.assert_close(out0, 0.28209479177387814 * coeffs[:, 0])
    # direction is normalised inside; degree 2 uses 9 bases
    torch.testing.assert_close(eval_sh(coeffs, dirs * 3.0), eval_sh(coeffs, dirs))
    torch.testing.assert_close(eval_sh(2 * coeffs, dirs), 2 * eval_sh(coeffs, dirs))
    # degree 1 picks up the direction: the x-like basis is -C1 * x
    c = torch.zeros(1, 4, 1, dtype=torch.float64)
    c[0, 3, 0] = 1.0
    d = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(eval_sh(c, d), torch.tensor([[-0.4886025119029199]], dtype=torch.float64))


def test_eval_sh_any_channel_count_and_gradients():
    coeffs = torch.randn(4, 16, 6, dtype=torch.float64, requires_grad=True)
    dirs = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert eval_sh(coeffs, dirs).shape == (4, 6)
    assert torch.autograd.gradcheck(lambda c, d: eval_sh(c, d), (coeffs, dirs))


def test_eval_sh_errors():
    with pytest.raises(ValueError, match="coeffs"):
        eval_sh(torch.zeros(4, 9), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="needs 16"):
        eval_sh(torch.zeros(4, 9, 3), torch.ones(4, 3), degree=3)
    with pytest.raises(ValueError, match="0..3"):
        sh_basis(torch.ones(2, 3), 4)
