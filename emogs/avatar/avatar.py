"""The talking avatar: face, inside-mouth and eyeball Gaussians, the face's and mouth's
manipulation networks, an optional emotion branch, and the compositor.

    avatar = build_avatar(AvatarConfig(...), template=..., audio_dim=D, aus_names=[...])
    out = avatar.render_frame(FrameConditions(w2c, K, audio, aus, va, background), 512, 512)
    out["rgb"]  # [512,512,3]

Deformations follow TalkingGaussian: means += d_xyz; quats = normalise(q + d_rot);
scales = exp(log_s + d_scale). The emotion branch deforms the audio/AU-deformed face again.
The eyeballs do not deform (the eyes keep looking where they looked in the video); they are
rasterized with the face, a little behind the lids, and seen where the lids open wider than in the
video (the emotion branch raising them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ..fields.deform.common import deform_gaussians
from ..fields.encoding import TriplaneConfig
from ..gaussians import (
    GaussianSet,
    init_eye_gaussians,
    init_face_gaussians,
    init_mouth_gaussians,
)
from .compositor import background_at, composite, composite_alpha
from .raster import DeformedSet, rasterize_sets


@dataclass
class AvatarOptions:
    """The avatar's choices that do not depend on the dataset (the training preset's `model` section
    extends these; see emogs.train.config.ModelConfig)."""

    sh_degree: int = 2
    num_face: int = 10_000
    num_mouth: int = 2_000
    num_eyes: int = 1_000  # eyeball Gaussians at initialisation (0: none)
    face_shell_fraction: float = 0.3
    face_hidden: int = 64
    mouth_hidden: int = 32
    emotion_hidden: int = 32
    # the emotion branch's V/A embedding: "facs" (the V/A model's AU intensities) or "va" (raw), both
    # relative to the person's rest expression emotion_rest_va (see EmotionDeformNet)
    emotion_embedding: str = "facs"
    backend: str = "auto"  # rasterizer backend


@dataclass
class AvatarConfig(AvatarOptions):
    """Everything needed to rebuild an avatar's modules (saved as JSON beside the weights): the
    `AvatarOptions`, the dataset's dimensions and the encoders."""

    audio_dim: int = 0
    aus_names: list[str] = field(default_factory=list)
    # TalkingGaussian's encoders: finest resolution = torch-ngp's `256 * bound` (face) / `384 * bound` (mouth)
    face_encoder: TriplaneConfig = field(default_factory=lambda: TriplaneConfig(finest_resolution=38))
    mouth_encoder: TriplaneConfig = field(default_factory=lambda: TriplaneConfig(base_resolution=64,
                                                                                 finest_resolution=57))
    emotion_encoder: TriplaneConfig = field(default_factory=lambda: TriplaneConfig(log2_table_size=15,
                                                                                   finest_resolution=38))
    with_emotion: bool = False
    emotion_rest_va: list[float] | None = None
    audio_window: int = 4
    audio_extractor: str = ""
    fps: float = 25.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AvatarConfig:
        d = dict(d)
        for k in ("face_encoder", "mouth_encoder", "emotion_encoder"):
            if isinstance(d.get(k), dict):
                d[k] = TriplaneConfig(**d[k])
        if d.get("with_emotion") and "emotion_embedding" not in d:
            raise ValueError("this avatar's emotion branch has an older layout (V/A concatenated to the "
                             "input) that emogs no longer builds; refit it with tools/fit_person.py, or "
                             "set with_emotion to false in its avatar.json to use it without emotions.")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown avatar config keys {sorted(unknown)}; the avatar was saved by another "
                             "emogs version.")
        return cls(**d)


@dataclass
class FrameConditions:
    """What one frame is rendered from.

    w2c [4,4] world->camera (OpenCV); K [3,3] for a `size`x`size` image (the dataset's S);
    audio [2W+1,D] window of audio features; aus [A]; va [2] or None (no emotion edit);
    background [H,W,3] in [0,1] (torso / background plate) or None (black).
    """

    w2c: Tensor
    K: Tensor
    audio: Tensor
    aus: Tensor
    va: Tensor | None = None
    background: Tensor | None = None

    def to(self, device: torch.device | str) -> FrameConditions:
        """The same conditions on `device` (itself when every tensor is already there)."""
        device = torch.device(device)
        tensors = (self.w2c, self.K, self.audio, self.aus, self.va, self.background)
        if all(t is None or t.device == device for t in tensors):
            return self
        return FrameConditions(*(None if t is None else t.to(device) for t in tensors))


def scale_intrinsics(K: Tensor, factor: float) -> Tensor:
    """K of an image resized by `factor` (pixel centres at i+0.5 scale exactly)."""
    K2 = K.clone().float()
    K2[:2] *= factor
    return K2


def project_points(xyz: Tensor, R: Tensor, t: Tensor, K: Tensor) -> Tensor:
    """Pinhole projection of world points xyz [N,3] (camera x_c = R x + t, K [3,3]) -> pixels [N,2]."""
    xc = xyz @ R.T + t
    uv = xc @ K.T
    return uv[:, :2] / uv[:, 2:3].clamp_min(1e-6)


class _EncodingCache:
    """Memoises a net's hash encoding of the (constant) canonical positions at inference.

    Installed as the encoder's `forward`; bypassed whenever autograd is on or the encoder is in
    training mode, and keyed on the input's storage, version, shape and sum plus the encoder
    parameters' versions, so any change of positions or weights recomputes it.
    """

    def __init__(self, encoder: nn.Module):
        self.encoder = encoder
        self.forward = encoder.forward
        self.key = None
        self.value = None

    def __call__(self, xyz: Tensor) -> Tensor:
        if torch.is_grad_enabled() or self.encoder.training:
            return self.forward(xyz)
        key = (xyz.data_ptr(), xyz._version, tuple(xyz.shape), float(xyz.sum()),
               tuple(p._version for p in self.encoder.parameters()))
        if key != self.key:
            self.value, self.key = self.forward(xyz), key
        return self.value


class Avatar(nn.Module):
    """Face, inside-mouth and (optional) eyeball Gaussian sets with their deformation networks.

    face_net(xyz, audio [2W+1,D], aus [A]) -> .d_xyz [N,3], .d_rot [N,4], .d_scale [N,3]
    mouth_net(xyz, audio) -> .d_xyz [M,3]
    emotion_net(xyz, va [2]) -> .d_xyz, .d_rot, .d_scale   (optional)
    The eyes do not deform and are rasterized with the face. Layers: face (+ eyes) over mouth
    over background.
    """

    def __init__(
        self,
        config: AvatarConfig,
        face: GaussianSet,
        mouth: GaussianSet,
        face_net: nn.Module | None = None,
        mouth_net: nn.Module | None = None,
        emotion_net: nn.Module | None = None,
        eyes: GaussianSet | None = None,
    ):
        super().__init__()
        self.config = config
        self.face = face
        self.mouth = mouth
        self.eyes = eyes
        self.face_net = face_net
        self.mouth_net = mouth_net
        self.emotion_net = emotion_net
        for net in (face_net, mouth_net, emotion_net):
            enc = getattr(net, "encoder", None)
            if isinstance(enc, nn.Module):
                enc.forward = _EncodingCache(enc)

    @property
    def device(self) -> torch.device:
        """Where the avatar's tensors live (`avatar.to(device)` moves it); frames render there."""
        return self.face.params["means"].device

    # -- deformation ----------------------------------------------------------------------------
    def _deformed(self, g: GaussianSet, net, args, emotion_va: Tensor | None):
        """(means, unit quats, scales, offsets for the regularisers) of set `g` deformed by `net(means,
        *args)` and, with `emotion_va`, the emotion branch (`deform_gaussians`, as the fast path)."""
        offsets: dict[str, Tensor] = {}
        d = e = None
        if net is not None:
            d = net(g.means, *args)
            offsets["d_xyz"] = d.d_xyz
            if getattr(d, "d_rot", None) is not None:
                offsets["d_rot"] = d.d_rot
            if getattr(d, "d_scale", None) is not None:
                offsets["d_scale"] = d.d_scale
        if emotion_va is not None and self.emotion_net is not None:
            # f_E's offsets compose on top of the audio/AU deformation; its hash grid is queried at the
            # canonical positions (the audio offsets are far below a grid cell), which keeps the
            # per-frame cost of a stream at the MLPs alone (the encoding is cached at inference).
            e = self.emotion_net(g.means, emotion_va)
            offsets["e_xyz"] = e.d_xyz
        means, q, s = deform_gaussians(g.means, g.params["quats"], g.params["log_scales"], d, e)
        return means, q, s, offsets

    def _render_set(self, sets: list[DeformedSet], R, t, K, width, height, normals=True, extra=None):
        """Rasterize deformed sets together (`rasterize_sets`; `extra` [N, E] features of the first set
        are alpha-blended too). -> rgb, normal (or None), alpha, depth, info (meta; its "rows" is the
        first set's slice of the per-Gaussian entries), and the blended `extra` ([H,W,E], or None)."""
        out = rasterize_sets(sets, R, t, K, width, height, normals, self.config.backend, extra)
        info = dict(out.meta)
        info.update(width=width, height=height, rows=slice(0, len(sets[0].means)))
        n_img = out.image[..., 3:6] if normals else None
        e_img = out.image[..., out.image.shape[-1] - extra.shape[-1]:] if extra is not None else None
        return out.image[..., :3], n_img, out.alpha, out.depth, info, e_img

    def render(
        self,
        cond: FrameConditions,
        width: int,
        height: int | None = None,
        deform: bool = True,
        emotion: bool = True,
        image_size: int | None = None,
        normals: bool = True,
        emotion_flow: bool = False,
    ) -> dict:
        """Render one frame (differentiable).

        `image_size` is the size the conditions' K refers to (default: width); the image is
        rendered at `width` x `height` with K rescaled. Returns a dict of [H,W,*] tensors:
        rgb (composited), alpha, normal (camera frame, unit where covered), depth, face_rgb,
        face_alpha, mouth_rgb, mouth_alpha (face_* include the eyeballs; normal is None with
        normals=False, which skips the normal channels for speed), plus "face_info"/"mouth_info"
        (rasterizer meta for densification) and "offsets" (deformation tensors for regularisers).
        With `emotion_flow`, also "emotion_flow" [H,W,2]: the image motion (px at `width`) the
        emotion branch gives the face, alpha-blended like a colour (each face Gaussian carries
        projection(with the branch's offset) - projection(without); the still eyeballs carry 0);
        zeros when the branch is off.
        """
        height = height or width
        cond = cond.to(self.device)
        K = scale_intrinsics(cond.K, width / float(image_size or width))
        R, t = cond.w2c[:3, :3].float(), cond.w2c[:3, 3].float()
        va = cond.va if (emotion and cond.va is not None) else None
        face_args = (cond.audio, cond.aus)
        fm, fq, fs, f_off = self._deformed(self.face, self.face_net if deform else None, face_args, va)
        mouth_net = self.mouth_net if deform else None
        mm, mq, ms, m_off = self._deformed(self.mouth, mouth_net, (cond.audio,), None)
        cam = (R, t, K, width, height, normals)
        flow_g = None
        if emotion_flow:
            flow_g = torch.zeros_like(fm[:, :2])
            if "e_xyz" in f_off:
                flow_g = project_points(fm, R, t, K) - project_points(fm - f_off["e_xyz"], R, t, K)
        # the eyeballs are rasterized with the face (depth-sorted together): lids in front of them
        # hide them, and what lies behind them in the face set is hidden by them
        face_sets = [DeformedSet(self.face, fm, fq, fs)]
        if self.eyes is not None:
            em, eq, es, _ = self._deformed(self.eyes, None, (), None)
            face_sets.append(DeformedSet(self.eyes, em, eq, es))
        f_rgb, f_n, f_a, f_d, f_info, f_flow = self._render_set(face_sets, *cam, extra=flow_g)
        m_rgb, m_n, m_a, m_d, m_info, _ = self._render_set([DeformedSet(self.mouth, mm, mq, ms)], *cam)
        bg = background_at(cond.background, height, width, device=f_rgb.device)
        rgb = composite(f_rgb, f_a, m_rgb, m_a, bg)
        normal = None
        if normals:
            normal = f_n + (1 - f_a) * m_n
            normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        return {
            "rgb": rgb,
            "alpha": composite_alpha(f_a, m_a),
            "normal": normal,
            "depth": f_d + (1 - f_a) * m_d,
            "face_rgb": f_rgb,
            "face_alpha": f_a,
            "mouth_rgb": m_rgb,
            "mouth_alpha": m_a,
            "face_info": f_info,
            "mouth_info": m_info,
            "offsets": {"face": f_off, "mouth": m_off},
            "emotion_flow": f_flow,
        }

    # -- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def prepare_inference(self, force: bool = False):
        """Build (or reuse) the frame-independent cache of the fast `render_frame` path.

        Called by `render_frame` itself; call it explicitly to pay the one-off cost up front (e.g.
        when a viewer loads an avatar). The cache is rebuilt whenever a parameter or buffer changes
        (storage or version counter), a Gaussian set / net / Gaussian parameter is replaced, or with
        `force=True` (needed only after edits through `tensor.data`, which bypass version counters,
        or after replacing a parameter object inside a deform net). Returns the `InferenceCache`.
        """
        from .inference import build_inference_cache

        cache = self.__dict__.get("_inference_cache")
        if force or cache is None or not cache.is_valid(self):
            cache = build_inference_cache(self)
            self.__dict__["_inference_cache"] = cache  # not a submodule / buffer: never saved
        return cache

    @torch.no_grad()
    def render_frame(self, cond: FrameConditions, width: int = 512, height: int | None = None,
                     image_size: int | None = None, normals: bool = True, fast: bool = True,
                     timings: dict | None = None) -> dict[str, Tensor]:
        """Cheap stateless "render this frame from these conditions" (viewer / streaming).

        Returns {"rgb" [H,W,3] (clamped to [0,1]), "normal" [H,W,3] (None with normals=False),
        "alpha" [H,W,1], "depth" [H,W,1]}; no autograd graph is kept.
        fast=True (default) uses the cached inference path (emogs/avatar/inference.py: the same
        image as `render` up to float rounding); fast=False runs the plain `render`.
        timings: optional dict receiving per-stage seconds of the fast path (accumulated).
        """
        if not fast:
            out = self.render(cond, width, height, image_size=image_size, normals=normals)
            return {"rgb": out["rgb"].clamp(0, 1), "normal": out["normal"], "alpha": out["alpha"],
                    "depth": out["depth"]}
        from .inference import render_frame_fast

        height = height or width
        cond = cond.to(self.device)
        cache = self.prepare_inference()
        K = scale_intrinsics(cond.K, width / float(image_size or width))
        return render_frame_fast(self, cache, cond, K, width, height, normals, timings)


# -------------------------------------------------------------------------------- construction
def build_networks(cfg: AvatarConfig) -> tuple[nn.Module, nn.Module, nn.Module | None]:
    """(face_net, mouth_net, emotion_net | None) from emogs.fields, sized by `cfg`."""
    from ..fields.deform import EmotionDeformNet, FaceDeformNet, MouthDeformNet, au_indices

    if cfg.audio_dim <= 0:
        raise ValueError("AvatarConfig.audio_dim must be the dataset's audio feature size (>0).")
    if not cfg.aus_names:
        raise ValueError(
            "AvatarConfig.aus_names is empty: the dataset has no action units; run the 'aus' stage."
        )
    window = 2 * cfg.audio_window + 1
    try:  # TalkingGaussian's AU choice when the dataset has those AUs
        aus, blink = au_indices(cfg.aus_names)
    except ValueError:
        names = [n.upper() for n in cfg.aus_names]
        blink = names.index("AU45") if "AU45" in names else None
        aus = None
    face_net = FaceDeformNet(cfg.audio_dim, len(cfg.aus_names), cfg.face_encoder,
                             hidden=cfg.face_hidden, aus=aus, blink=blink, window=window)
    mouth_net = MouthDeformNet(cfg.audio_dim, cfg.mouth_encoder, hidden=cfg.mouth_hidden,
                               window=window)
    emotion_net = (EmotionDeformNet(cfg.emotion_encoder, hidden=cfg.emotion_hidden,
                                    embedding=cfg.emotion_embedding, rest_va=cfg.emotion_rest_va)
                   if cfg.with_emotion else None)
    return face_net, mouth_net, emotion_net


def build_avatar(
    cfg: AvatarConfig,
    template: np.ndarray,
    image: np.ndarray | None = None,
    w2c: np.ndarray | None = None,
    K: np.ndarray | None = None,
    seed: int = 0,
    eye_image: np.ndarray | None = None,
) -> Avatar:
    """A fresh avatar: Gaussians initialised from the face mesh `template` [478,3] (colours from
    `image` seen through `w2c`/`K` when given; the eyeballs' from `eye_image`, that frame with the
    eyeball under the lids painted in, else from `image`) and freshly initialised networks."""
    torch.manual_seed(seed)
    face = init_face_gaussians(template, cfg.num_face, cfg.sh_degree, image, w2c, K,
                               shell_fraction=cfg.face_shell_fraction, seed=seed)
    mouth = init_mouth_gaussians(template, cfg.num_mouth, cfg.sh_degree, seed=seed + 1)
    eyes = None
    if cfg.num_eyes > 0:
        eyes = init_eye_gaussians(template, cfg.num_eyes, cfg.sh_degree,
                                  image if eye_image is None else eye_image, w2c, K, seed=seed + 2)
    face_net, mouth_net, emotion_net = build_networks(cfg)
    return Avatar(cfg, face, mouth, face_net, mouth_net, emotion_net, eyes=eyes)
