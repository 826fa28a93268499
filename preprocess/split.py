"""Train / validation split: validation = the last 1/11 of the frames (10:1, as the anchors do)."""

from __future__ import annotations


def train_val_split(num_frames: int, val_fraction: float = 1 / 11) -> dict:
    """{"train": [0, a], "val": [a, T]} half-open ranges; at least one validation frame when T >= 2."""
    T = int(num_frames)
    if T < 1:
        raise ValueError(f"cannot split {T} frames")
    n_val = int(round(T * val_fraction))
    n_val = min(max(n_val, 1 if T >= 2 else 0), T - 1) if T >= 2 else 0
    a = T - n_val
    return {"train": [0, a], "val": [a, T]}
