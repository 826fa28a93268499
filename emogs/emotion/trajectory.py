"""Keyframed valence / arousal over time, smoothly interpolated (for driving a render).

File formats (times in seconds, increasing):
* CSV with a header: `time_s,valence,arousal` or `time_s,emotion` (e.g. `2.0,happy:strong`);
  a row may also give both (the numbers win when present).
* JSON: `[{"time_s": 0, "valence": 0, "arousal": 0}, {"time_s": 2, "emotion": "sad:mild"}, ...]`
  or `{"keyframes": [...]}`.

Interpolation is monotone cubic (PCHIP) per coordinate: smooth, no overshoot beyond the
keyframes (so values stay in [-1, 1]); before the first / after the last keyframe the value is held.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from .va_model import emotion_to_va


@dataclass
class VATrajectory:
    """times [K] (s, strictly increasing) and va [K, 2] keyframes."""

    times: np.ndarray
    va: np.ndarray

    def __post_init__(self):
        self.times = np.asarray(self.times, dtype=np.float64)
        self.va = np.asarray(self.va, dtype=np.float64)
        if self.times.ndim != 1 or self.va.shape != (len(self.times), 2) or len(self.times) == 0:
            raise ValueError(
                f"need times [K] and va [K, 2] with K >= 1; got {self.times.shape}, {self.va.shape}"
            )
        if np.any(np.diff(self.times) <= 0):
            raise ValueError("keyframe times must be strictly increasing (sort them; no duplicate times)")
        if np.any(np.abs(self.va) > 1.0 + 1e-6):
            raise ValueError("valence / arousal keyframes must be in [-1, 1]")

    def at(self, times_s) -> np.ndarray:
        """V/A at `times_s` [T] -> [T, 2] (held constant outside the keyframe range)."""
        t = np.clip(np.asarray(times_s, dtype=np.float64), self.times[0], self.times[-1])
        if len(self.times) == 1:
            return np.repeat(self.va[:1], t.size, 0).reshape(t.shape + (2,))
        if len(self.times) == 2:  # PCHIP needs >= 2 points; with 2 use a smoothstep ease
            u = (t - self.times[0]) / (self.times[1] - self.times[0])
            s = (u * u * (3 - 2 * u))[..., None]
            return (1 - s) * self.va[0] + s * self.va[1]
        return PchipInterpolator(self.times, self.va, axis=0)(t)

    def at_frames(self, num_frames: int, fps: float) -> np.ndarray:
        """V/A of video frames 0..num_frames-1 at `fps` (frame t at time t / fps) -> [T, 2]."""
        return self.at(np.arange(num_frames) / float(fps))


def _row_va(row: dict, where: str) -> np.ndarray:
    v, a = row.get("valence"), row.get("arousal")
    if v not in (None, "") and a not in (None, ""):
        return np.array([float(v), float(a)])
    if row.get("emotion") not in (None, ""):
        return emotion_to_va(str(row["emotion"]))
    raise ValueError(f"{where}: a keyframe needs valence and arousal, or an emotion (e.g. 'happy:strong')")


def load_va_trajectory(path: str | Path) -> VATrajectory:
    """Read a keyframes file (CSV or JSON, see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"V/A trajectory file not found: {path}")
    if path.suffix.lower() == ".json":
        obj = json.loads(path.read_text())
        rows = obj["keyframes"] if isinstance(obj, dict) else obj
    else:
        with open(path, newline="") as f:
            rows = [
                {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items()}
                for r in csv.DictReader(f)
            ]
    if not rows:
        raise ValueError(f"{path}: no keyframes")
    try:
        times = [float(r["time_s"]) for r in rows]
    except KeyError:
        raise ValueError(f"{path}: every keyframe needs a 'time_s' column / key") from None
    va = [_row_va(r, f"{path} keyframe {i}") for i, r in enumerate(rows)]
    order = np.argsort(times, kind="stable")
    return VATrajectory(np.asarray(times)[order], np.asarray(va)[order])
