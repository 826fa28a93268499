"""Supervision targets of one frame at the training resolution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..avatar import FrameConditions
from ..avatar.drive import frame_conditions
from ..data.schema import FACE_CLASSES, HAIR, INSIDE_MOUTH_CLASSES, LIPS
from ..losses import mask_box

FACE_GAUSSIAN_CLASSES = (*FACE_CLASSES, HAIR)  # skin, brows, eyes, lips + hair: what the face Gaussians draw
LIPS_AND_MOUTH = (LIPS, *INSIDE_MOUTH_CLASSES)  # lips, cavity, teeth: the region speech moves


@dataclass
class Target:
    """image [s,s,3]; face_mask, mouth_mask [s,s] in [0,1]; normals [s,s,3]; normal_valid [s,s] bool;
    cond: FrameConditions (K for the dataset's S, background already at s);
    mouth_box: (y0, y1, x0, x1) around the lips and mouth at s (grown by 25 %), None without lips;
    eye_boxes: (y0, y1, x0, x1) per eye at s, around its landmark contour grown by 30 % of its width."""

    image: Tensor
    face_mask: Tensor
    mouth_mask: Tensor
    normals: Tensor
    normal_valid: Tensor
    cond: FrameConditions
    image_size: int
    index: int
    mouth_box: tuple[int, int, int, int] | None = None
    emotion_flow: Tensor | None = None  # [s,s,2] px at s: an emotional frame's edit motion (None: none given)
    eye_boxes: tuple[tuple[int, int, int, int], ...] = ()


def _resize(x: Tensor, size: int) -> Tensor:
    """[H,W,C] or [H,W] -> area-resized to [size,size,...]."""
    if x.shape[0] == size:
        return x
    squeeze = x.dim() == 2
    y = x[..., None] if squeeze else x
    y = F.interpolate(y.permute(2, 0, 1)[None].float(), size=(size, size), mode="area")[0].permute(1, 2, 0)
    return y[..., 0] if squeeze else y


def _mask(parsing: Tensor, classes: Sequence[int]) -> Tensor:
    m = torch.zeros_like(parsing, dtype=torch.float32)
    for c in classes:
        m = m + (parsing == c).float()
    return m


def make_target(sample, size: int, use_va: bool = True, face_classes=FACE_GAUSSIAN_CLASSES) -> Target:
    """FrameSample (emogs.data) -> Target at `size` x `size`."""
    s_full = sample.image.shape[0]
    if size > s_full:
        raise ValueError(f"train_size {size} exceeds the dataset's image size {s_full}; lower train_size.")
    nv = sample.normal_valid.float()
    n = _resize(sample.normals * nv[..., None], size)
    valid = _resize(nv, size) > 0.99
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    cond = frame_conditions(sample, use_va)
    cond.background = _resize(cond.background, size)
    return Target(
        image=_resize(sample.image.float(), size),
        face_mask=_resize(_mask(sample.parsing, face_classes), size),
        mouth_mask=_resize(_mask(sample.parsing, INSIDE_MOUTH_CLASSES), size),
        normals=n,
        normal_valid=valid,
        cond=cond,
        image_size=s_full,
        index=int(sample.index),
        mouth_box=mask_box(_resize(_mask(sample.parsing, LIPS_AND_MOUTH), size)),
        emotion_flow=_flow_at(getattr(sample, "emotion_flow", None), size, s_full),
        eye_boxes=eye_boxes(sample.landmarks, size / float(s_full), size),
    )


def eye_boxes(landmarks: Tensor, scale: float, size: int, grow: float = 0.3) -> tuple:
    """Boxes (y0, y1, x0, x1), end-exclusive, around each eye's MediaPipe contour (landmarks
    [478, >=2] in px, x `scale` -> px at `size`), grown by `grow` x the eye's width on each side."""
    from ..emotion.au_mesh import LEFT_EYE, RIGHT_EYE

    boxes = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        p = landmarks[list(eye), :2].float() * scale
        if not torch.isfinite(p).all():
            continue
        (x0, y0), (x1, y1) = p.min(0).values.tolist(), p.max(0).values.tolist()
        g = grow * (x1 - x0)
        y0, y1 = max(int(y0 - g), 0), min(int(y1 + g) + 1, size)
        x0, x1 = max(int(x0 - g), 0), min(int(x1 + g) + 1, size)
        if y1 > y0 and x1 > x0:
            boxes.append((y0, y1, x0, x1))
    return tuple(boxes)


def _flow_at(flow: Tensor | None, size: int, s_full: int) -> Tensor | None:
    """Motion field [F,F,2] in px of the dataset size -> [size,size,2] in px of `size` (bilinear)."""
    if flow is None:
        return None
    y = F.interpolate(flow.permute(2, 0, 1)[None].float(), size=(size, size), mode="bilinear",
                      align_corners=False)[0].permute(1, 2, 0)
    return y * (size / float(s_full))
