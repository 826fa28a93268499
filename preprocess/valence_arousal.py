"""Valence / arousal of the real frames (`valence_arousal.npy`), judged by `emogs.emotion.EmotionJudge`.

Every `stride`-th frame is judged (batched; the face crop comes from its landmarks), the
values are linearly interpolated to all frames and smoothed over time with a Gaussian of
`smooth_frames` (the judge's frame-to-frame noise is not emotion). With the default `fer`
judge the V/A is approximate (derived from class probabilities, docs/emotion.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from emogs.io.atomic import save_npy


def estimate_frame_va(
    frames,
    landmarks,
    judge=None,
    stride: int = 5,
    batch: int = 32,
    smooth_frames: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """V/A per frame.

    Args:
        frames: [T, S, S, 3] uint8 (a memmap is fine: read `batch` frames at a time).
        landmarks: [T, 478, 3] MediaPipe points in pixels.
        judge: an `EmotionJudge` (default: the fer backend).
        stride: judge every `stride`-th frame (and the last one), interpolate between.
        smooth_frames: Gaussian sigma over time in frames (0 = off).
    Returns:
        float32 [T, 2] valence, arousal in [-1, 1].
    """
    t = len(frames)
    if t == 0:
        raise ValueError("no frames to estimate valence/arousal for")
    if np.shape(landmarks)[:1] != (t,) or np.shape(landmarks)[1:] != (478, 3):
        raise ValueError(f"landmarks must be [{t}, 478, 3] to match the frames; got {np.shape(landmarks)}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1; got {stride}")
    if judge is None:
        from emogs.emotion.judge import EmotionJudge

        judge = EmotionJudge()
    idx = np.unique(np.append(np.arange(0, t, stride), t - 1))
    va = np.zeros((len(idx), 2))
    for s in range(0, len(idx), batch):
        sel = idx[s : s + batch]
        imgs = np.stack([np.asarray(frames[i]) for i in sel])
        pts = [np.asarray(landmarks[i], dtype=np.float64) for i in sel]
        va[s : s + len(sel)] = judge(imgs, points478=pts).va
        if progress is not None:
            progress(min(s + batch, len(idx)), len(idx))
    out = np.stack([np.interp(np.arange(t), idx, va[:, k]) for k in range(2)], -1)
    if smooth_frames > 0 and t > 1:
        out = gaussian_filter1d(out, smooth_frames, axis=0, mode="nearest")
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def run_valence_arousal_stage(root: str | Path, judge=None, stride: int = 5, progress=None) -> dict:
    """Write `root/valence_arousal.npy` (atomically) from frames.npy and landmarks.npy."""
    import time

    t0 = time.time()
    root = Path(root)
    for name in ("frames.npy", "landmarks.npy"):
        if not (root / name).is_file():
            raise FileNotFoundError(f"{root / name} is missing: run the decode / landmarks stages first")
    frames = np.load(root / "frames.npy", mmap_mode="r")
    lms = np.load(root / "landmarks.npy", mmap_mode="r")
    va = estimate_frame_va(frames, lms, judge=judge, stride=stride, progress=progress)
    save_npy(root / "valence_arousal.npy", va)
    backend = getattr(judge, "backend", "fer")
    return {
        "seconds": round(time.time() - t0, 2),
        "outputs": ["valence_arousal.npy"],
        "judge": backend,
        "stride": stride,
    }
