"""Manipulation networks: per-Gaussian deformations driven by audio, action units and valence/arousal.

Each net owns a tri-plane hash encoder of the canonical positions and predicts offsets for every Gaussian
(TalkingGaussian's motion networks, plus the emotion branch f_E of EmoTalkingGaussian):

* `MouthDeformNet`  f_M(x, audio)          -> d_xyz                    (inside-mouth Gaussians)
* `FaceDeformNet`   f_F(x, audio, AUs)     -> d_xyz, d_rot, d_scale    (face Gaussians)
* `EmotionDeformNet` f_E(x', valence/arousal) -> d_xyz                 (on top of the face deformation)

Conventions of the outputs (applied by the avatar, not here): `xyz + d_xyz`; `normalize(rot + d_rot)`
(a residual on the unnormalised quaternion); `log_scale + d_scale`. All output layers are zero-initialised,
so an untrained net leaves the canonical Gaussians exactly in place. d_xyz is the head output times
`xyz_scale` (1e-2, as TalkingGaussian), which keeps early offsets small at the usual learning rates.

Audio input is one frame's window `[2W+1, D]` of dataset features (`audio_features.npy` is [T, D]; the
reader assembles W=4), or a single frame `[D]` (no attention then). `D` must equal the net's `audio_dim`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from emogs.emotion.va_model import VA_AU_NAMES, va_to_aus
from emogs.fields.encoding import TriplaneConfig, TriplaneEncoding
from emogs.fields.mlp import MLP

AU_MAX = 5.0  # AU intensities run 0..5 (OpenFace scale): the FACS embedding divides by this
AU_RANGE_OPEN = 1e4  # FaceDeformNet.au_range before set_au_range: no clamp

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


@dataclass
class DeformOutput:
    """Per-Gaussian offsets. d_xyz [N, 3]; d_rot [N, 4] quaternion residual; d_scale [N, 3] log-scale
    residual (None when a net does not predict them); aux: diagnostics such as the per-point attention
    norms [N, 1] that TalkingGaussian regularises ("audio_attention", "eye_attention") or the emotion
    branch's code [K] ("code")."""

    d_xyz: torch.Tensor
    d_rot: torch.Tensor | None = None
    d_scale: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class SpatialFeatures:
    """The frame-independent part of a deform net for fixed canonical positions (see `net.spatial(xyz)`).

    enc [N, E] tri-plane features; gates: per-point region attentions ("audio" [N, C], "eye" [N, A'+1]);
    head_x [N, H]: the head's first layer applied to `enc` (bias included). At inference the canonical
    Gaussians do not move, so computing this once per avatar leaves only the audio/AU-dependent part per
    frame. Not for training (the tables and positions change every step).
    """

    enc: torch.Tensor
    gates: dict[str, torch.Tensor]
    head_x: torch.Tensor



def _split_head_first(head: MLP, enc: torch.Tensor) -> torch.Tensor:
    """The head's first linear layer on the spatial columns only (+ bias): [N, E] -> [N, H]."""
    first = head.net[0]
    return torch.nn.functional.linear(enc, first.weight[:, : enc.shape[1]], first.bias)


def _head_rest(head: MLP, head_x: torch.Tensor, cond: list[torch.Tensor]) -> torch.Tensor:
    """Finish the head: add the first layer's conditional columns, then the remaining layers.

    Equals `head(cat([enc, *cond], 1))` (the first layer split by input columns).
    """
    w = head.net[0].weight
    h = head_x
    col = w.shape[1] - sum(c.shape[1] for c in cond)
    for c in cond:
        h = torch.addmm(h, c, w[:, col : col + c.shape[1]].t())
        col += c.shape[1]
    return head.net[1:](h)


def _head_rest_gated(head: MLP, head_x: torch.Tensor, gates: torch.Tensor, codes: torch.Tensor
                     ) -> torch.Tensor:
    """Inference form of `_head_rest(head, head_x, [gates * codes])` (no autograd).

    head_x [N, H] (the cached spatial part of the first layer), gates [N, G] per-point gates, codes [G]
    this frame's codes. (gates * codes) @ W.T == gates @ (W * codes).T, so the codes scale the first
    layer's G columns once per frame instead of every point's gates; ReLUs run in place.
    """
    w = head.net[0].weight
    h = torch.addmm(head_x, gates, (w[:, w.shape[1] - gates.shape[1]:] * codes).t())
    for m in head.net[1:]:
        h = h.relu_() if isinstance(m, nn.ReLU) else m(h)
    return h


INFER_CHUNK = 4096  # rows per block of the inference fast path (intermediates of ~1 MB stay in cache)


def _row_blocks(n: int, chunk: int, fn) -> torch.Tensor:
    """Evaluate a row-wise map `fn(start, stop) -> [stop - start, C]` block by block into one [n, C].

    Per-point MLPs are row-independent, so this equals `fn(0, n)` up to BLAS blocking (bit for bit
    in our MKL measurements, not guaranteed by BLAS), but the hidden activations of a block stay
    cache-sized instead of allocating several [n, H] tensors: ~4x faster for 20k points, 1 thread.
    """
    if chunk <= 0:
        raise ValueError(f"chunk must be a positive number of rows, got {chunk}")
    if n <= chunk:
        return fn(0, n)
    first = fn(0, chunk)
    out = first.new_empty(n, first.shape[1])
    out[:chunk] = first
    for s in range(chunk, n, chunk):
        e = min(s + chunk, n)
        out[s:e] = fn(s, e)
    return out


def _check_spatial(sp: SpatialFeatures, xyz: torch.Tensor) -> None:
    if sp.enc.shape[0] != xyz.shape[0]:
        raise ValueError(
            f"spatial features are for {sp.enc.shape[0]} points but xyz has {xyz.shape[0]}; recompute "
            "net.spatial(xyz) after the Gaussians change (densify / prune / load)"
        )


def _check_xyz(xyz: torch.Tensor) -> None:
    if xyz.dim() != 2 or xyz.shape[1] != 3 or not xyz.dtype.is_floating_point:
        raise ValueError(f"xyz must be a float tensor [N, 3], got {xyz.dtype} {tuple(xyz.shape)}")


def _audio_window(audio: torch.Tensor, audio_dim: int, window: int) -> torch.Tensor:
    """[2W+1, D] or [D] -> [S, D] (S = window or 1), with errors that name the fix."""
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2:
        raise ValueError(
            "audio must be one frame's window [2W+1, D] or a single frame [D], "
            f"got shape {tuple(audio.shape)}"
        )
    if audio.shape[1] != audio_dim:
        raise ValueError(
            f"audio features have D={audio.shape[1]} but the net was built with audio_dim={audio_dim}; "
            "build it "
            "with audio_dim = the dataset's manifest['audio_features']['dim']"
        )
    if audio.shape[0] not in (1, window):
        raise ValueError(
            f"audio window has {audio.shape[0]} frames but the net was built for {window} (2W+1); pass "
            "window=2W+1 of the dataset reader"
        )
    return audio


class AudioAttention(nn.Module):
    """Learned attention over a window of per-frame audio codes: [S, C] -> [C].

    A small 1-D convolution along time scores every frame, a linear layer mixes the S scores and a
    softmax turns them into weights (the smoothing window of AD-NeRF / TalkingGaussian). A window of one
    frame passes through unchanged.
    """

    def __init__(self, channels: int, window: int = 9):
        super().__init__()
        widths = [channels, 16, 8, 4, 2, 1]
        convs: list[nn.Module] = []
        for i in range(len(widths) - 1):
            convs.append(nn.Conv1d(widths[i], widths[i + 1], kernel_size=3, padding=1))
            if i < len(widths) - 2:
                convs.append(nn.LeakyReLU(0.02))
        self.score = nn.Sequential(*convs)
        self.mix = nn.Linear(window, window)
        self.window = window

    def weights(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [S, C] -> attention weights [S] (sum to 1)."""
        s = self.score(codes.t().unsqueeze(0)).reshape(-1)  # [S]
        return torch.softmax(self.mix(s), dim=0)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if codes.dim() != 2:
            raise ValueError(f"AudioAttention expects codes [S, C], got shape {tuple(codes.shape)}")
        if codes.shape[0] == 1:
            return codes[0]
        if codes.shape[0] != self.window:
            raise ValueError(f"AudioAttention was built for {self.window} frames, got {codes.shape[0]}")
        return self.weights(codes) @ codes  # [C]


class AudioEncoder(nn.Module):
    """Per-frame audio features [S, D] -> one attended code [C] (frame MLP, then AudioAttention)."""

    def __init__(self, audio_dim: int, code_dim: int = 32, window: int = 9):
        super().__init__()
        if audio_dim < 1:
            raise ValueError(f"audio_dim must be >= 1, got {audio_dim}")
        self.audio_dim, self.code_dim, self.window = audio_dim, code_dim, window
        self.frame = MLP(audio_dim, code_dim, hidden=64, layers=2, activation=nn.LeakyReLU)
        self.attention = AudioAttention(code_dim, window)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.attention(self.frame(_audio_window(audio, self.audio_dim, self.window)))


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
        _check_xyz(xyz)
        enc_x = self.encoder(xyz)  # [N, E]
        gates = {"audio": self.audio_region(enc_x)}  # [N, C]
        return SpatialFeatures(enc_x, gates, _split_head_first(self.head, enc_x))

    def forward(
        self, xyz: torch.Tensor, audio: torch.Tensor, spatial: SpatialFeatures | None = None
    ) -> DeformOutput:
        sp = self.spatial(xyz) if spatial is None else spatial
        _check_spatial(sp, xyz)
        att = sp.gates["audio"]  # [N, C]
        enc_a = self.audio(audio.to(sp.enc.dtype))  # [C]
        d_xyz = _head_rest(self.head, sp.head_x, [att * enc_a]) * self.xyz_scale
        return DeformOutput(d_xyz=d_xyz, aux={"audio_attention": att.norm(dim=1, keepdim=True)})

    @torch.no_grad()
    def infer(self, spatial: SpatialFeatures, audio: torch.Tensor, chunk: int = INFER_CHUNK) -> DeformOutput:
        """Inference fast path: `forward(xyz, audio, spatial=spatial)` without aux and autograd.

        spatial = `self.spatial(xyz)` of the canonical positions; audio [2W+1, D] | [D].
        Returns DeformOutput(d_xyz [N, 3], aux={}); `forward(xyz, audio)` up to float rounding (the
        code scales the head's weights instead of the gates, `_head_rest_gated`; row blocks of `chunk`
        points, see `_row_blocks`).
        """
        enc_a = self.audio(audio.to(spatial.head_x.dtype))  # [C]
        x, g = spatial.head_x, spatial.gates["audio"]
        h = _row_blocks(len(x), chunk, lambda s, e: _head_rest_gated(self.head, x[s:e], g[s:e], enc_a))
        return DeformOutput(d_xyz=h * self.xyz_scale)


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
        _check_xyz(xyz)
        enc_x = self.encoder(xyz)  # [N, E]
        gates = {"audio": self.audio_region(enc_x), "eye": self.eye_region(enc_x)}  # [N, C], [N, A'+1] >= 0
        return SpatialFeatures(enc_x, gates, _split_head_first(self.head, enc_x))

    def forward(
        self,
        xyz: torch.Tensor,
        audio: torch.Tensor,
        aus: torch.Tensor,
        spatial: SpatialFeatures | None = None,
    ) -> DeformOutput:
        sp = self.spatial(xyz) if spatial is None else spatial
        _check_spatial(sp, xyz)
        aud_att, eye_att = sp.gates["audio"], sp.gates["eye"]
        enc_a = self.audio(audio.to(sp.enc.dtype))  # [C]
        enc_e = self.encode_aus(aus.to(sp.enc.dtype))  # [A'+1]
        h = _head_rest(self.head, sp.head_x, [aud_att * enc_a, eye_att * enc_e])  # [N, 10]
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
        `_head_rest_gated`; row blocks of `chunk` points, see `_row_blocks`).
        """
        dtype = spatial.head_x.dtype
        codes = torch.cat([self.audio(audio.to(dtype)), self.encode_aus(aus.to(dtype))])  # [C + A'+1]
        gates = spatial.gates.get("audio+eye")
        if gates is None:  # both gates side by side, built once per cached `spatial`
            gates = spatial.gates["audio+eye"] = torch.cat([spatial.gates["audio"], spatial.gates["eye"]], 1)
        x = spatial.head_x

        def block(s: int, e: int) -> torch.Tensor:
            return _head_rest_gated(self.head, x[s:e], gates[s:e], codes)

        h = _row_blocks(len(x), chunk, block)  # [N, 10]
        return DeformOutput(d_xyz=h[:, 0:3] * self.xyz_scale, d_rot=h[:, 3:7], d_scale=h[:, 7:10])


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
        _check_xyz(xyz)
        enc_x = self.encoder(xyz)  # [N, E]
        return SpatialFeatures(enc_x, {}, self._bases(enc_x).contiguous())

    def forward(
        self, xyz: torch.Tensor, va: torch.Tensor, spatial: SpatialFeatures | None = None
    ) -> DeformOutput:
        _check_xyz(xyz)
        code = self.code(va)
        if spatial is not None:
            _check_spatial(spatial, xyz)
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
