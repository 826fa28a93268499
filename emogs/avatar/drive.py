"""Driving an avatar with new audio: per-frame conditions (camera, background, AUs, V/A).

Head pose and torso / background come from the training frames, cycled back and forth
(ping-pong, so there is no jump) or fixed to one frame; AUs likewise come from the training
frames (blinks included) unless overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from .avatar import FrameConditions


@dataclass
class DriveOptions:
    """pose: "cycle" (training frames back and forth) or "fixed" (always `fixed_frame`);
    blink: "dataset" (the training frames' AU45), "none" (eyes open) or a number (AU45 value);
    au_overrides: {"AU01": 1.5, ...} fixed AU values; start: first training frame used."""

    pose: str = "cycle"
    fixed_frame: int = 0
    blink: str | float = "dataset"
    au_overrides: dict[str, float] = field(default_factory=dict)
    start: int = 0


def pingpong(i: int, n: int) -> int:
    """0,1,..,n-1,n-2,..,1,0,1,.. for i = 0,1,2,..."""
    if n <= 1:
        return 0
    period = 2 * (n - 1)
    k = i % period
    return k if k < n else period - k


def audio_windows(features: np.ndarray, window: int) -> Iterator[torch.Tensor]:
    """[T,D] per-frame features -> per frame the [2W+1,D] window (edge-padded, as the dataset reader)."""
    T = len(features)
    for t in range(T):
        idx = np.clip(np.arange(t - window, t + window + 1), 0, T - 1)
        yield torch.from_numpy(np.asarray(features[idx], dtype=np.float32))


def drive_conditions(
    dataset,
    features: np.ndarray,
    window: int = 4,
    va: np.ndarray | None = None,
    options: DriveOptions | None = None,
) -> Iterator[FrameConditions]:
    """Conditions for each of the T frames of new audio `features` [T,D].

    dataset: the avatar's PersonDataset (train split: poses, backgrounds and AUs are taken from it).
    va: [T,2] per-frame valence/arousal, or None (no emotion edit).
    """
    opt = options or DriveOptions()
    if opt.pose not in ("cycle", "fixed"):
        raise ValueError(f"pose must be 'cycle' or 'fixed', got {opt.pose!r}")
    frames = np.asarray(dataset.frame_indices)
    if len(frames) == 0:
        raise ValueError("the dataset split has no frames to take head poses from.")
    names = [n.upper() for n in dataset.aus_names]
    blink_i = names.index("AU45") if "AU45" in names else None
    over = {}
    for k, v in opt.au_overrides.items():
        if k.upper() not in names:
            raise ValueError(f"AU override {k!r} is not one of the avatar's AUs {dataset.aus_names}")
        over[names.index(k.upper())] = float(v)
    if va is not None and len(va) != len(features):
        raise ValueError(f"va has {len(va)} frames but the audio has {len(features)}")
    for t, audio in enumerate(audio_windows(features, window)):
        if opt.pose == "fixed":
            src = int(frames[min(max(opt.fixed_frame, 0), len(frames) - 1)])
        else:
            src = int(frames[pingpong(t + opt.start, len(frames))])
        aus = torch.from_numpy(np.array(dataset.aus[src], dtype=np.float32))
        if blink_i is not None and opt.blink != "dataset":
            aus[blink_i] = 0.0 if opt.blink == "none" else float(opt.blink)
        for i, v in over.items():
            aus[i] = v
        yield FrameConditions(
            w2c=dataset.w2c[src].float(),
            K=dataset.K.float(),
            audio=audio,
            aus=aus,
            va=None if va is None else torch.as_tensor(va[t], dtype=torch.float32),
            background=dataset.torso_background(src).float(),
        )
