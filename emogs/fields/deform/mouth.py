"""f_M, the inside-mouth branch: position offsets from audio (TalkingGaussian's mouth net)."""

from __future__ import annotations

import torch
from torch import nn

from emogs.fields.deform.audio import AudioEncoder
from emogs.fields.deform.common import (
    INFER_CHUNK,
    DeformOutput,
    SpatialFeatures,
    check_spatial,
    check_xyz,
    head_rest,
    head_rest_gated,
    row_blocks,
    split_head_first,
)
from emogs.fields.encoding import TriplaneConfig, TriplaneEncoding
from emogs.fields.mlp import MLP


class MouthDeformNet(nn.Module):
    """f_M: inside-mouth Gaussians, position offsets from audio (TalkingGaussian's mouth net).

    forward(xyz [N, 3], audio [2W+1, D] | [D], spatial=None) -> DeformOutput(d_xyz [N, 3]);
    aux["audio_attention"] [N, 1]. `spatial=net.spatial(xyz)` reuses the audio-independent part (inference).
    """

    def __init__(
        self,
        audio_dim: int,
        enc: TriplaneConfig | None = None,
        hidden: int = 32,
        layers: int = 3,
        audio_code_dim: int = 32,
        window: int = 9,
        xyz_scale: float = 1e-2,
    ):
        super().__init__()
        self.encoder = TriplaneEncoding(enc if enc is not None else TriplaneConfig(base_resolution=64))
        d = self.encoder.out_dim
        self.audio = AudioEncoder(audio_dim, audio_code_dim, window)
        self.audio_region = MLP(d, audio_code_dim, hidden=32, layers=2)  # per-point channel attention
        self.head = MLP(d + audio_code_dim, 3, hidden=hidden, layers=layers, zero_init=True)
        self.xyz_scale = xyz_scale

    def spatial(self, xyz: torch.Tensor) -> SpatialFeatures:
        """The audio-independent part for canonical positions xyz [N, 3] (cache it for inference)."""
        check_xyz(xyz)
        enc_x = self.encoder(xyz)  # [N, E]
        gates = {"audio": self.audio_region(enc_x)}  # [N, C]
        return SpatialFeatures(enc_x, gates, split_head_first(self.head, enc_x))

    def forward(
        self, xyz: torch.Tensor, audio: torch.Tensor, spatial: SpatialFeatures | None = None
    ) -> DeformOutput:
        sp = self.spatial(xyz) if spatial is None else spatial
        check_spatial(sp, xyz)
        att = sp.gates["audio"]  # [N, C]
        enc_a = self.audio(audio.to(sp.enc.dtype))  # [C]
        d_xyz = head_rest(self.head, sp.head_x, [att * enc_a]) * self.xyz_scale
        return DeformOutput(d_xyz=d_xyz, aux={"audio_attention": att.norm(dim=1, keepdim=True)})

    @torch.no_grad()
    def infer(self, spatial: SpatialFeatures, audio: torch.Tensor, chunk: int = INFER_CHUNK) -> DeformOutput:
        """Inference fast path: `forward(xyz, audio, spatial=spatial)` without aux and autograd.

        spatial = `self.spatial(xyz)` of the canonical positions; audio [2W+1, D] | [D].
        Returns DeformOutput(d_xyz [N, 3], aux={}); `forward(xyz, audio)` up to float rounding (the
        code scales the head's weights instead of the gates, `head_rest_gated`; row blocks of `chunk`
        points, see `row_blocks`).
        """
        enc_a = self.audio(audio.to(spatial.head_x.dtype))  # [C]
        x, g = spatial.head_x, spatial.gates["audio"]
        h = row_blocks(len(x), chunk, lambda s, e: head_rest_gated(self.head, x[s:e], g[s:e], enc_a))
        return DeformOutput(d_xyz=h * self.xyz_scale)
