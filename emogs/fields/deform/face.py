"""f_F, the face branch: position / rotation / scale offsets from audio and action units (TalkingGaussian's
face net), and the AU choice it reads."""

from __future__ import annotations

from collections.abc import Sequence

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

TALKINGGAUSSIAN_AUS = ("AU01", "AU04", "AU05", "AU06", "AU07")
BLINK_AU = "AU45"


def au_indices(
    names: Sequence[str], wanted: Sequence[str] = TALKINGGAUSSIAN_AUS, blink: str = BLINK_AU
) -> tuple[list[int], int]:
    """Indices of TalkingGaussian's expression AUs and of the blink AU in a dataset's AU list.

    `names` is `manifest["aus"]["names"]`. Returns (expression indices, blink index) for FaceDeformNet.
    """
    names = [str(n).upper() for n in names]
    missing = [a for a in [*wanted, blink] if a.upper() not in names]
    if missing:
        raise ValueError(
            f"the dataset's AUs {names} lack {missing}; re-run the AU stage of preprocessing or pass "
            "FaceDeformNet(aus=..., blink=...) indices explicitly"
        )
    return [names.index(a.upper()) for a in wanted], names.index(blink.upper())


AU_RANGE_OPEN = 1e4  # FaceDeformNet.au_range before set_au_range: no clamp


class FaceDeformNet(nn.Module):
    """f_F: face Gaussians, position / rotation / scale offsets from audio and action units.

    Paths (TalkingGaussian's face net): the attended audio code gated per point by an audio region
    attention; the expression AUs (default: every AU but the blink) through a small MLP, concatenated
    with the blink AU (clipped to `blink_clip`), gated per point by a non-negative eye region attention
    (ReLU, its bias starting at 1 so the gate starts open rather than dead); both concatenated with the
    spatial feature into the head MLP.

    Args:
        audio_dim: D of the dataset's audio features.
        num_aus: A, the length of the dataset's AU vector.
        aus: indices of the expression AUs in that vector; blink: index of AU45. Defaults: blink = the last
            AU (the dataset lists AU45 last), expression = all others. `au_indices(names)` gives
            TalkingGaussian's exact choice (AU01, AU04, AU05, AU06, AU07 + AU45).

    forward(xyz [N, 3], audio [2W+1, D] | [D], aus [A], spatial=None) -> DeformOutput(d_xyz [N, 3],
    d_rot [N, 4], d_scale [N, 3]); aux["audio_attention"], aux["eye_attention"] [N, 1].
    `spatial=net.spatial(xyz)` reuses the audio/AU-independent part (inference on fixed Gaussians).
    """

    def __init__(
        self,
        audio_dim: int,
        num_aus: int,
        enc: TriplaneConfig | None = None,
        hidden: int = 64,
        layers: int = 3,
        aus: Sequence[int] | None = None,
        blink: int | None = None,
        audio_code_dim: int = 32,
        window: int = 9,
        xyz_scale: float = 1e-2,
        blink_clip: tuple[float, float] = (0.0, 2.0),
    ):
        super().__init__()
        if num_aus < 1:
            raise ValueError(f"num_aus must be >= 1 (the blink AU at least), got {num_aus}")
        blink = num_aus - 1 if blink is None else int(blink)
        aus = [i for i in range(num_aus) if i != blink] if aus is None else [int(i) for i in aus]
        bad = [i for i in [*aus, blink] if not 0 <= i < num_aus]
        if bad or blink in aus:
            raise ValueError(
                f"AU indices {aus} / blink {blink} must be distinct and in [0, {num_aus}); "
                "use au_indices(names)"
            )
        self.num_aus = num_aus
        self.register_buffer("au_index", torch.tensor(aus, dtype=torch.long), persistent=False)
        # [2, A] lowest / highest AU the net accepts (`set_au_range`: the training frames' range plus a
        # margin); AUs outside are clamped to it, so unseen expressions cannot drive the head MLP into
        # the extrapolation that tears faces. Open (+-AU_RANGE_OPEN) until set; saved with the weights.
        self.register_buffer("au_range", torch.tensor([[-AU_RANGE_OPEN], [AU_RANGE_OPEN]]).repeat(1, num_aus))
        self.blink_index = blink
        self.blink_clip = blink_clip
        self.encoder = TriplaneEncoding(enc if enc is not None else TriplaneConfig())
        d = self.encoder.out_dim
        eye_dim = len(aus) + 1
        self.audio = AudioEncoder(audio_dim, audio_code_dim, window)
        self.audio_region = MLP(d, audio_code_dim, hidden=32, layers=2)
        self.au_net = MLP(len(aus), len(aus), hidden=16, layers=2) if aus else None
        self.eye_region = MLP(d, eye_dim, hidden=16, layers=2, out_activation=nn.ReLU())
        # The spatial feature is ~0 at init (tables start at +-1e-4), so a ReLU gate with a negative bias
        # would be dead for every point and never train: open the gate at 1 instead.
        nn.init.ones_(self.eye_region.output_layer.bias)
        self.head = MLP(d + audio_code_dim + eye_dim, 10, hidden=hidden, layers=layers, zero_init=True)
        self.xyz_scale = xyz_scale

    def encode_aus(self, aus: torch.Tensor) -> torch.Tensor:
        """aus [A] -> eye/AU feature [len(aus) + 1]."""
        if aus.dim() != 1 or aus.shape[0] != self.num_aus:
            raise ValueError(
                f"aus must be one frame's vector [{self.num_aus}] (the dataset's aus.npy row), "
                f"got {tuple(aus.shape)}"
            )
        rng = self.au_range.to(aus.dtype)
        aus = torch.minimum(torch.maximum(aus, rng[0]), rng[1])
        blink = aus[self.blink_index : self.blink_index + 1].clamp(*self.blink_clip)
        if self.au_net is None:
            return blink
        return torch.cat([self.au_net(aus[self.au_index]), blink])

    @torch.no_grad()
    def set_au_range(self, aus: torch.Tensor, margin: float = 0.1) -> None:
        """Accept AUs within the range of `aus` [T, A] (the training frames') widened by `margin` x its
        span on each side (at least `margin` AU): an expression stronger than any the clip shows is
        rendered as the strongest it shows, not extrapolated."""
        if aus.dim() != 2 or aus.shape[1] != self.num_aus:
            raise ValueError(f"aus must be [T, {self.num_aus}], got {tuple(aus.shape)}")
        lo, hi = aus.min(0).values.float(), aus.max(0).values.float()
        pad = torch.clamp(margin * (hi - lo), min=margin)
        self.au_range.copy_(torch.stack([lo - pad, hi + pad]))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "au_range", self.au_range.clone())  # avatars fitted before: open
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def spatial(self, xyz: torch.Tensor) -> SpatialFeatures:
        """The audio/AU-independent part for canonical positions xyz [N, 3] (cache it for inference)."""
        check_xyz(xyz)
        enc_x = self.encoder(xyz)  # [N, E]
        gates = {"audio": self.audio_region(enc_x), "eye": self.eye_region(enc_x)}  # [N, C], [N, A'+1] >= 0
        return SpatialFeatures(enc_x, gates, split_head_first(self.head, enc_x))

    def forward(
        self,
        xyz: torch.Tensor,
        audio: torch.Tensor,
        aus: torch.Tensor,
        spatial: SpatialFeatures | None = None,
    ) -> DeformOutput:
        sp = self.spatial(xyz) if spatial is None else spatial
        check_spatial(sp, xyz)
        aud_att, eye_att = sp.gates["audio"], sp.gates["eye"]
        enc_a = self.audio(audio.to(sp.enc.dtype))  # [C]
        enc_e = self.encode_aus(aus.to(sp.enc.dtype))  # [A'+1]
        h = head_rest(self.head, sp.head_x, [aud_att * enc_a, eye_att * enc_e])  # [N, 10]
        return DeformOutput(
            d_xyz=h[:, 0:3] * self.xyz_scale,
            d_rot=h[:, 3:7],
            d_scale=h[:, 7:10],
            aux={
                "audio_attention": aud_att.norm(dim=1, keepdim=True),
                "eye_attention": eye_att.norm(dim=1, keepdim=True),
            },
        )

    @torch.no_grad()
    def infer(
        self, spatial: SpatialFeatures, audio: torch.Tensor, aus: torch.Tensor, chunk: int = INFER_CHUNK
    ) -> DeformOutput:
        """Inference fast path: `forward(xyz, audio, aus, spatial=spatial)` without aux and autograd.

        spatial = `self.spatial(xyz)` of the canonical positions. Returns DeformOutput(d_xyz [N, 3],
        d_rot [N, 4], d_scale [N, 3], aux={}) (views of one [N, 10] tensor); `forward(xyz, audio, aus)`
        up to float rounding (the codes scale the head's weights instead of the gates,
        `head_rest_gated`; row blocks of `chunk` points, see `row_blocks`).
        """
        dtype = spatial.head_x.dtype
        codes = torch.cat([self.audio(audio.to(dtype)), self.encode_aus(aus.to(dtype))])  # [C + A'+1]
        gates = spatial.gates.get("audio+eye")
        if gates is None:  # both gates side by side, built once per cached `spatial`
            gates = spatial.gates["audio+eye"] = torch.cat([spatial.gates["audio"], spatial.gates["eye"]], 1)
        x = spatial.head_x

        def block(s: int, e: int) -> torch.Tensor:
            return head_rest_gated(self.head, x[s:e], gates[s:e], codes)

        h = row_blocks(len(x), chunk, block)  # [N, 10]
        return DeformOutput(d_xyz=h[:, 0:3] * self.xyz_scale, d_rot=h[:, 3:7], d_scale=h[:, 7:10])
