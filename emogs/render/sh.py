"""Real spherical harmonics (degrees 0..3) in the 3DGS / gsplat convention."""

from __future__ import annotations

import torch
from torch import Tensor

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def num_sh_bases(degree: int) -> int:
    return (degree + 1) ** 2


def sh_basis(dirs: Tensor, degree: int) -> Tensor:
    """Basis values [..., (degree+1)^2] at unit directions dirs [..., 3]."""
    if not 0 <= degree <= 3:
        raise ValueError(f"SH degree must be 0..3, got {degree}")
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [
            SH_C2[0] * x * y,
            SH_C2[1] * y * z,
            SH_C2[2] * (2 * zz - xx - yy),
            SH_C2[3] * x * z,
            SH_C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            SH_C3[0] * y * (3 * xx - yy),
            SH_C3[1] * x * y * z,
            SH_C3[2] * y * (4 * zz - xx - yy),
            SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            SH_C3[4] * x * (4 * zz - xx - yy),
            SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3 * yy),
        ]
    return torch.stack(out, -1)


def eval_sh(coeffs: Tensor, dirs: Tensor, degree: int | None = None) -> Tensor:
    """Evaluate SH colours.

    coeffs [N, K, C] (K >= (degree+1)^2 bases, any C), dirs [N, 3] view directions (normalised
    here; camera centre -> Gaussian) -> [N, C] = sum_k basis_k(dir) coeffs[:, k]. Like gsplat, no
    +0.5 offset and no clamping: 3DGS-style RGB is `(eval_sh(...) + 0.5).clamp_min(0)`.
    `degree` defaults to the largest one K allows.
    """
    if coeffs.dim() != 3 or dirs.shape != (coeffs.shape[0], 3):
        raise ValueError(
            "eval_sh expects coeffs [N,K,C] and dirs [N,3]; got "
            f"{tuple(coeffs.shape)} and {tuple(dirs.shape)}"
        )
    K = coeffs.shape[1]
    if degree is None:
        degree = int(K**0.5) - 1
    if num_sh_bases(degree) > K:
        raise ValueError(f"SH degree {degree} needs {num_sh_bases(degree)} coefficients, coeffs has {K}")
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_basis(d, degree)
    return torch.einsum("nk,nkc->nc", basis, coeffs[:, : basis.shape[-1]])
