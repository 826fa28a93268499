"""f_E, the emotion branch of EmoTalkingGaussian: V/A-driven position offsets on top of the face's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from emogs.emotion.va_model import VA_AU_NAMES, va_to_aus
from emogs.fields.deform.common import INFER_CHUNK, DeformOutput, SpatialFeatures, check_spatial, check_xyz
from emogs.fields.encoding import TriplaneConfig, TriplaneEncoding
from emogs.fields.mlp import MLP

AU_MAX = 5.0  # AU intensities run 0..5 (OpenFace scale): the FACS embedding divides by this


class EmotionDeformNet(nn.Module):
    """f_E: the emotion branch, a further V/A-driven deformation with its own hash encoder H_E.

    forward(xyz [N, 3] (the face positions), va [2] in [-1, 1]^2) -> DeformOutput(d_xyz) (position
    offsets only, like the synthetic frames' edit, a pure warp: free rotation / scale residuals grew
    Gaussians up to 9x on the demo and speckled the nose and cheeks); aux["code"] [K]. A fresh
    branch is the identity (zero-initialised head).

    The offsets are *linear in an emotion code* with position-dependent coefficients:
        code(va) = [e(va), g(e(va)) - g(0)]                                  [K]
        out(x, va) = sum_k code_k * B_k(H_E(x)),  B = head MLP -> [N, K, 3]
    e(va) is the embedding (below) relative to the person's rest expression, so the rest V/A gives
    code 0 and exactly no motion (the neutral behaviour by construction, not by training); g is a
    small MLP for what is not linear in e. Each B_k is the motion field of one code component (for
    "facs": one action unit's), the form of the synthetic frames' edit (a linear AU -> mesh model),
    and learnt in a few hundred steps where a code concatenated to the input was not (docs/emotion.md).
    Inference caches B for fixed positions (`spatial`), so a frame costs one [N*3, K] x [K] product.

    embedding: "facs": the V/A model's AU intensities (emogs.emotion.va_model, `va_to_aus(va) -
    va_to_aus(rest_va)`, / 5): the expression the synthetic frames were made with; "va": va - rest_va.
    rest_va: the person's own expression ((0, 0) when None).
    """

    def __init__(
        self,
        enc: TriplaneConfig | None = None,
        hidden: int = 64,
        layers: int = 3,
        code_dim: int = 8,
        xyz_scale: float = 1e-2,
        embedding: str = "facs",
        rest_va: Sequence[float] | None = None,
    ):
        super().__init__()
        if embedding not in ("va", "facs"):
            raise ValueError(f"embedding must be 'va' or 'facs'; got {embedding!r}")
        self.encoder = TriplaneEncoding(enc if enc is not None else TriplaneConfig())
        self.embedding = embedding
        self.rest_va = tuple(float(x) for x in rest_va) if rest_va is not None else (0.0, 0.0)
        self.embed_dim = len(VA_AU_NAMES) if embedding == "facs" else 2
        self.code_net = MLP(self.embed_dim, code_dim, hidden=16, layers=2)
        self.num_codes = self.embed_dim + code_dim
        self.head = MLP(self.encoder.out_dim, self.num_codes * 3, hidden=hidden, layers=layers,
                        zero_init=True)
        self.xyz_scale = xyz_scale

    def embed(self, va: torch.Tensor) -> torch.Tensor:
        """va [2] (or [1, 2]) -> the embedding e(va) [E] (0 at the rest V/A)."""
        va = va.reshape(-1) if va.dim() == 2 and va.shape[0] == 1 else va
        if va.dim() != 1 or va.shape[0] != 2 or not va.dtype.is_floating_point:
            raise ValueError(f"va must be a float tensor [2] (valence, arousal), got shape {tuple(va.shape)}")
        v = va.detach().double().cpu().numpy()  # a condition, not optimised: no gradient needed
        rest = np.asarray(self.rest_va)
        e = (va_to_aus(v) - va_to_aus(rest)) / AU_MAX if self.embedding == "facs" else v - rest
        return torch.from_numpy(e).to(va.device, torch.float32)

    def code(self, va: torch.Tensor) -> torch.Tensor:
        """va [2] -> code [K] = [e, g(e) - g(0)] (exactly 0 at the rest V/A)."""
        e = self.embed(va)
        g = self.code_net(torch.stack([e, torch.zeros_like(e)]))
        return torch.cat([e, g[0] - g[1]])

    def _bases(self, enc_x: torch.Tensor) -> torch.Tensor:
        """Tri-plane features [N, E] -> the motion bases B [N, 3, K] (a view of the head output)."""
        return self.head(enc_x).view(len(enc_x), self.num_codes, 3).transpose(1, 2)

    def _offsets(self, h: torch.Tensor) -> DeformOutput:
        return DeformOutput(d_xyz=h * self.xyz_scale)

    def spatial(self, xyz: torch.Tensor) -> SpatialFeatures:
        """The V/A-independent part for fixed positions xyz [N, 3]: head_x = the bases [N, 3, K]
        (contiguous)."""
        check_xyz(xyz)
        enc_x = self.encoder(xyz)  # [N, E]
        return SpatialFeatures(enc_x, {}, self._bases(enc_x).contiguous())

    def forward(
        self, xyz: torch.Tensor, va: torch.Tensor, spatial: SpatialFeatures | None = None
    ) -> DeformOutput:
        check_xyz(xyz)
        code = self.code(va)
        if spatial is not None:
            check_spatial(spatial, xyz)
            bases = spatial.head_x
        else:
            bases = self._bases(self.encoder(xyz))
        out = self._offsets((bases * code.to(bases.dtype)).sum(-1))
        out.aux = {"code": code}
        return out

    @torch.no_grad()
    def infer(self, spatial: SpatialFeatures, va: torch.Tensor, chunk: int = INFER_CHUNK) -> DeformOutput:
        """Inference fast path: `forward(xyz, va)` from cached `spatial(xyz)`: one [N*3, K] x [K]
        product (`chunk` is accepted for the other nets' signature)."""
        b = spatial.head_x
        h = (b.view(-1, self.num_codes) @ self.code(va).to(b.dtype)).view(len(b), 3)
        return self._offsets(h)
