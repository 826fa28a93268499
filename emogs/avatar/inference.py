"""Inference fast path of `Avatar.render_frame`: one frame from audio with the least per-frame work.

Everything that depends only on the canonical Gaussians and the weights is computed once and cached
(`InferenceCache`): each deform net's spatial part (tri-plane features, region gates, the head's first
layer on the spatial columns - `net.spatial(xyz)`), the emotion branch's spatial part at the canonical
positions, the opacities (sigmoid) and the SH coefficients. Per frame only the audio / AU / V/A codes,
the head MLPs (the emotion branch's only when V/A changed: its offsets depend on V/A alone), the SH
colours (they depend on the deformed positions, so they stay exact), the two rasterizer passes (the
face with the still eyeballs appended, the mouth) and an in-place composite remain.

The cache remembers every parameter's and buffer's storage and version counter and the identity of
the avatar's Gaussian sets, nets and Gaussian parameters, so optimiser steps, `load_state_dict`,
densify / prune, swapping a net and in-place edits under `torch.no_grad()` all invalidate it.
Not detected (call `avatar.prepare_inference(force=True)` after them): edits through `tensor.data`
(no version bump) and replacing a parameter object *inside* a deform net.

What differs from `Avatar.render` is only where the offsets come from (the nets' cached `infer` instead
of `forward`): both apply them with `emogs.fields.deform.deform_gaussians` and rasterize with
`emogs.avatar.raster.rasterize_sets`. Result: the same image up to float rounding (summation order of
the split first head layer), checked to 1e-5 in tests/avatar/test_inference.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..fields.deform.common import deform_gaussians
from ..gaussians import GaussianSet
from .compositor import background_at
from .raster import DeformedSet, rasterize_sets


def _structure(avatar) -> tuple:
    """Which Gaussian sets / nets / Gaussian parameter tensors the avatar holds (cheap: ids only)."""
    eyes = avatar.eyes
    return (id(avatar.face), id(avatar.mouth), id(eyes), id(avatar.face_net), id(avatar.mouth_net),
            id(avatar.emotion_net), *map(id, avatar.face.params.values()),
            *map(id, avatar.mouth.params.values()), *(map(id, eyes.params.values()) if eyes else ()))


def _versions(tensors: list[Tensor]) -> tuple:
    return tuple((t.data_ptr(), t._version) for t in tensors)


@dataclass
class SetCache:
    """Frame-independent tensors of one Gaussian set (N Gaussians).

    means [N,3], quats [N,4] (raw, unnormalised), log_scales [N,3], opacities [N] (sigmoid),
    sh [N,K,3] (contiguous), delta_n [N,3]; spatial: the deform net's `SpatialFeatures` (or None
    without a net); emotion: the emotion branch's `SpatialFeatures` at the canonical positions.
    """

    means: Tensor
    quats: Tensor
    log_scales: Tensor
    opacities: Tensor
    sh: Tensor
    sh_degree: int
    delta_n: Tensor
    spatial: object | None = None
    emotion: object | None = None
    emotion_memo: tuple | None = None  # (V/A key, DeformOutput) of the last emotion edit


def _emotion_offsets(c: SetCache, emotion_net, va: Tensor):
    """The emotion branch's offsets at V/A `va` [2]; they depend on V/A only (the branch is queried
    at the canonical positions), so the last result is reused while V/A stays the same - every
    frame of a render with fixed sliders or a constant --valence/--arousal."""
    key = tuple(float(x) for x in va.reshape(-1))
    if c.emotion_memo is None or c.emotion_memo[0] != key:
        c.emotion_memo = (key, emotion_net.infer(c.emotion, va))
    return c.emotion_memo[1]


@dataclass
class InferenceCache:
    """Per-avatar cache of the fast path and the state of the weights it was built from.

    `is_valid(avatar)` costs ~20 us per frame (versions of the remembered tensors plus the ids of the
    avatar's sets, nets and Gaussian parameters) instead of walking every module (~0.8 ms).
    """

    structure: tuple
    tensors: list
    versions: tuple
    face: SetCache
    mouth: SetCache
    eyes: SetCache | None = None  # rasterized with the face, undeformed

    def is_valid(self, avatar) -> bool:
        return self.structure == _structure(avatar) and self.versions == _versions(self.tensors)


def _set_cache(g: GaussianSet, net: nn.Module | None, emotion_net: nn.Module | None) -> SetCache:
    p = g.params
    means = p["means"].detach()
    return SetCache(
        means=means,
        quats=p["quats"].detach(),
        log_scales=p["log_scales"].detach(),
        opacities=torch.sigmoid(p["opacity_logit"].detach()).contiguous(),
        sh=g.sh.detach().contiguous(),
        sh_degree=g.sh_degree,
        delta_n=p["delta_n"].detach(),
        spatial=net.spatial(means) if net is not None else None,
        emotion=emotion_net.spatial(means) if emotion_net is not None else None,
    )


@torch.no_grad()
def build_inference_cache(avatar) -> InferenceCache:
    """Compute the frame-independent part of `avatar` (cost: about one plain deformation)."""
    for name in ("face_net", "mouth_net", "emotion_net"):
        net = getattr(avatar, name)
        if net is not None and not hasattr(net, "infer"):
            raise TypeError(
                f"avatar.{name} ({type(net).__name__}) has no `spatial`/`infer` inference path; use "
                "the nets of emogs.fields.deform or render with avatar.render_frame(..., fast=False)"
            )
    tensors = [*avatar.parameters(), *avatar.buffers()]
    return InferenceCache(
        structure=_structure(avatar),
        tensors=tensors,
        versions=_versions(tensors),
        face=_set_cache(avatar.face, avatar.face_net, avatar.emotion_net),
        mouth=_set_cache(avatar.mouth, avatar.mouth_net, None),
        eyes=_set_cache(avatar.eyes, None, None) if avatar.eyes is not None else None,
    )


def _deform(c: SetCache, net, args: tuple, emotion_net, va: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """Deformed (means, unit quats, linear scales) of one set: the nets' cached `infer` offsets applied
    by `deform_gaussians`, as in `Avatar._deformed`."""
    d = net.infer(c.spatial, *args) if net is not None else None
    e = _emotion_offsets(c, emotion_net, va) if va is not None and emotion_net is not None else None
    return deform_gaussians(c.means, c.quats, c.log_scales, d, e)


def _rasterize(c: SetCache, means, quats, scales, R, t, K, width, height, normals, backend,
               eyes: SetCache | None = None):
    """One rasterizer pass of set `c` deformed to (means, quats, scales), with the (undeformed)
    `eyes` appended when given (`rasterize_sets`, as `Avatar.render`)."""
    sets = [DeformedSet(c, means, quats, scales)]
    if eyes is not None:
        sets.append(DeformedSet(eyes, *_deform(eyes, None, (), None, None)))
    return rasterize_sets(sets, R, t, K, width, height, normals, backend)


def _covered_box(alpha: Tensor) -> tuple[slice, slice] | None:
    """(rows, cols) slices of the bounding box of alpha [H,W,1] > 0, or None when nothing is drawn."""
    a = alpha[..., 0]
    rows = torch.nonzero(a.amax(1) > 0)
    if len(rows) == 0:
        return None
    cols = torch.nonzero(a.amax(0) > 0)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _composite_rgb(f_rgb: Tensor, f_t: Tensor, m_rgb: Tensor, m_a: Tensor, bg: Tensor) -> Tensor:
    """clamp(face + f_t (mouth + (1 - a_m) bg), 0, 1) -> [H,W,3] (`compositor.composite`, clamped).

    The mouth layer is exactly zero (colour and alpha) outside its drawn box, where the result is
    face + f_t bg; the full-frame pass runs on [H*W, 3] rows (broadcasting [H,W,1] over an inner
    dim of 3 is ~2x slower) and the mouth term is added in its box only.
    """
    H, W = f_t.shape[:2]
    rgb = torch.addcmul(f_rgb.reshape(H * W, 3), bg.reshape(H * W, 3), f_t.reshape(H * W, 1)).view(H, W, 3)
    box = _covered_box(m_a)
    if box is not None:
        back = torch.addcmul(m_rgb[box], bg[box], 1.0 - m_a[box])
        rgb[box] = torch.addcmul(f_rgb[box], back, f_t[box])
    return rgb.clamp_(0.0, 1.0)


def tune_allocator(keep_bytes: int = 256 << 20) -> bool:
    """Make glibc malloc keep freed frame-sized buffers instead of returning them to the kernel.

    Every frame allocates and frees a few MB-sized tensors (rasterizer outputs, MLP activations,
    the composite); by default glibc serves each with a fresh mmap and pays the page faults again
    (~15% of a 512x512 frame on this machine, `tools/bench_avatar.py`). This raises the mmap and
    trim thresholds (M_MMAP_THRESHOLD = 32 MB, M_TRIM_THRESHOLD = `keep_bytes`) for the whole
    process, so call it from programs that render many frames (render tools, viewer, benchmarks),
    not from library code. Returns False (and does nothing) where glibc's mallopt is unavailable.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = mallopt(m_mmap_threshold, 32 << 20) == 1
    ok &= mallopt(m_trim_threshold, int(keep_bytes)) == 1
    ok &= mallopt(m_top_pad, 64 << 20) == 1
    return bool(ok)


class _Timer:
    """Adds the seconds since the previous `lap` to `timings[stage]` (no-op without a dict)."""

    def __init__(self, timings: dict | None):
        self.timings, self.t = timings, time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now


@torch.no_grad()
def render_frame_fast(
    avatar,
    cache: InferenceCache,
    cond,
    K: Tensor,
    width: int,
    height: int,
    normals: bool,
    timings: dict | None = None,
) -> dict[str, Tensor | None]:
    """`Avatar.render_frame` from a valid `cache` (see the module doc). K is already rescaled.

    timings: optional dict that receives seconds per stage ("deform", "raster_face",
    "raster_mouth", "composite"), accumulated over calls.
    """
    clock = _Timer(timings)
    R, t = cond.w2c[:3, :3].float(), cond.w2c[:3, 3].float()
    fm, fq, fs = _deform(cache.face, avatar.face_net, (cond.audio, cond.aus), avatar.emotion_net, cond.va)
    mm, mq, ms = _deform(cache.mouth, avatar.mouth_net, (cond.audio,), None, None)
    clock.lap("deform")
    backend = avatar.config.backend
    face = _rasterize(cache.face, fm, fq, fs, R, t, K, width, height, normals, backend, cache.eyes)
    clock.lap("raster_face")
    mouth = _rasterize(cache.mouth, mm, mq, ms, R, t, K, width, height, normals, backend)
    clock.lap("raster_mouth")

    bg = background_at(cond.background, height, width, device=face.image.device)
    f_a, m_a = face.alpha, mouth.alpha
    f_t = 1.0 - f_a  # [H,W,1] face transmittance
    rgb = _composite_rgb(face.image[..., :3], f_t, mouth.image[..., :3], m_a, bg)
    normal = None
    if normals:
        normal = torch.addcmul(face.image[..., 3:6], f_t, mouth.image[..., 3:6])
        normal.div_(normal.norm(dim=-1, keepdim=True).clamp_min_(1e-6))
    out = {
        "rgb": rgb,
        "normal": normal,
        "alpha": torch.addcmul(f_a, f_t, m_a),
        "depth": torch.addcmul(face.depth, f_t, mouth.depth),
    }
    clock.lap("composite")
    return out
