"""Evaluation metrics. A metric that cannot be computed returns `NotComputed(reason)`, never a number.

Images are [H,W,3] float in [0,1]; landmarks [478,2|3] in pixels (MediaPipe order).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .face.topology import ALIGN_POINTS, MOUTH, sorted_group
from .losses import LPIPS
from .losses import ssim as _ssim

LIP_INDICES = sorted_group(MOUTH)  # MediaPipe face-mesh: the 40 outer and inner lip points
# Points that move with the skull, not with speech or expression: used to align a render's landmarks
# to a ground truth seen under another head pose before comparing mouths.
RIGID_INDICES = ALIGN_POINTS
UPPER_FACE_AUS = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU45")
LOWER_FACE_AUS = ("AU10", "AU12", "AU14", "AU15", "AU17", "AU20", "AU23", "AU25", "AU26")


@dataclass(frozen=True)
class NotComputed:
    """Stands in for a metric value that could not be computed, with the reason."""

    reason: str

    def to_json(self) -> dict:
        return {"computed": False, "reason": self.reason}


def psnr(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> float:
    """PSNR in dB (peak 1.0); with `mask` [H,W] over the masked pixels only."""
    d = (pred.float() - target.float()) ** 2
    if mask is not None:
        m = mask.bool()
        if not m.any():
            raise ValueError("psnr: the mask selects no pixel.")
        d = d[m]
    mse = float(d.mean())
    return float("inf") if mse == 0 else -10.0 * float(np.log10(mse))


def ssim(pred: Tensor, target: Tensor) -> float:
    return float(_ssim(pred.float(), target.float()))


def lpips(pred: Tensor, target: Tensor, model: LPIPS | None, reason: str = "") -> float | NotComputed:
    if model is None:
        return NotComputed(reason or "LPIPS not computed: no backbone weights were supplied.")
    with torch.no_grad():
        return float(model(pred.float(), target.float()))


def lmd(
    pred_landmarks: np.ndarray, true_landmarks: np.ndarray, indices: Sequence[int] = LIP_INDICES
) -> float:
    """Landmark distance on the mouth: mean over frames and lip points of the 2-D L2 distance (px).

    pred_landmarks, true_landmarks: [T,478,>=2] (or [478,>=2]) in pixels of the same image size.
    """
    p = np.asarray(pred_landmarks, dtype=np.float64)[..., list(indices), :2]
    t = np.asarray(true_landmarks, dtype=np.float64)[..., list(indices), :2]
    if p.shape != t.shape:
        raise ValueError(f"lmd: landmark shapes differ {p.shape} vs {t.shape}.")
    return float(np.linalg.norm(p - t, axis=-1).mean())


def similarity_align(
    src: np.ndarray, dst: np.ndarray, indices: Sequence[int] = RIGID_INDICES
) -> np.ndarray:
    """Per frame, the 2-D similarity (rotation, uniform scale, shift) that best maps `src`'s points
    `indices` onto `dst`'s (least squares, Umeyama), applied to all of `src`'s points.

    src, dst: [T,P,>=2] (or [P,>=2]) pixels. Returns src's aligned [...,P,2] (float64).
    """
    a_all = np.asarray(src, dtype=np.float64)[..., :2]
    b_all = np.asarray(dst, dtype=np.float64)[..., :2]
    single = a_all.ndim == 2
    if single:
        a_all, b_all = a_all[None], b_all[None]
    if a_all.shape[:-2] != b_all.shape[:-2]:
        raise ValueError(f"similarity_align: frame counts differ {a_all.shape} vs {b_all.shape}.")
    idx = list(indices)
    a, b = a_all[:, idx], b_all[:, idx]
    ma, mb = a.mean(1, keepdims=True), b.mean(1, keepdims=True)
    A, B = a - ma, b - mb
    U, S, Vt = np.linalg.svd(np.einsum("tpi,tpj->tij", A, B))
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.stack([np.ones_like(d), d], -1)  # reflection guard
    R = U @ (D[..., None] * Vt)
    scale = (S * D).sum(-1) / (A ** 2).sum((1, 2))
    out = np.einsum("tpi,tij->tpj", a_all - ma, R) * scale[:, None, None] + mb
    return out[0] if single else out


def aue(pred_aus: np.ndarray, true_aus: np.ndarray, names: Sequence[str]) -> dict[str, float | NotComputed]:
    """Action-unit error: mean |pred - true| over upper-face AUs (AUE-U) and lower-face AUs (AUE-L).

    pred_aus, true_aus: [T,A] intensities (0..5) in the order of `names`.
    """
    p, t = np.asarray(pred_aus, np.float64), np.asarray(true_aus, np.float64)
    if p.shape != t.shape or p.shape[-1] != len(names):
        raise ValueError(f"aue: shapes {p.shape} / {t.shape} do not match {len(names)} AU names.")
    out: dict[str, float | NotComputed] = {}
    for key, group in (("AUE-U", UPPER_FACE_AUS), ("AUE-L", LOWER_FACE_AUS)):
        cols = [i for i, n in enumerate(names) if n in group]
        out[key] = (
            float(np.abs(p[..., cols] - t[..., cols]).mean())
            if cols
            else NotComputed(f"{key} not computed: none of {group} among the dataset's AUs {list(names)}.")
        )
    return out


def measure_fps(render_fn: Callable[[int], object], num_frames: int = 20, warmup: int = 2) -> float:
    """Frames per second of `render_fn(i)` over `num_frames` calls after `warmup` calls."""
    for i in range(warmup):
        render_fn(i)
    t0 = time.perf_counter()
    for i in range(num_frames):
        render_fn(i)
    return num_frames / (time.perf_counter() - t0)


def to_json(value):
    """Metric value -> JSON-able (NotComputed -> {"computed": false, "reason": ...})."""
    if isinstance(value, NotComputed):
        return value.to_json()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value
