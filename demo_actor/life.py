"""Non-speech motion of the actor: blinks, head motion, emotion segments. All seeded numpy.

Every function returns per-frame tracks sampled at the frame centres ``(k + 0.5) / fps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


def frame_times(num_frames: int, fps: float) -> np.ndarray:
    """Frame-centre times in seconds, float64 [T]."""
    return (np.arange(num_frames) + 0.5) / fps


def blink_track(num_frames: int, fps: float, rng: np.random.Generator, mean_interval: float = 3.5,
                min_interval: float = 1.2, close_s: float = 0.08, hold_s: float = 0.05,
                open_s: float = 0.16) -> tuple[np.ndarray, np.ndarray]:
    """Eye closure in [0, 1] per frame (float32 [T]) and the blink onset times (float64 [B]).

    Inter-blink intervals: ``min_interval`` + a gamma variate (shape 2) so the mean is
    ``mean_interval`` (people blink every 2-10 s at rest, more while talking). A blink closes
    with an ease-in in ``close_s``, holds ``hold_s`` and reopens more slowly in ``open_s``;
    ``hold_s`` >= one frame, so every blink has at least one fully closed frame.
    """
    if mean_interval <= min_interval:
        raise ValueError(f"mean_interval ({mean_interval}) must exceed min_interval ({min_interval}).")
    dur = num_frames / fps
    onsets, t = [], 0.4 + rng.uniform(0, mean_interval)
    while t < dur - (close_s + hold_s + open_s):
        onsets.append(t)
        t += min_interval + rng.gamma(2.0, (mean_interval - min_interval) / 2.0)
    # snap each onset so that the hold covers a frame centre
    times = frame_times(num_frames, fps)
    out = np.zeros(num_frames, np.float64)
    snapped = []
    for t0 in onsets:
        k = int(np.ceil((t0 + close_s) * fps - 0.5))
        t0 = (k + 0.5) / fps - close_s  # fully closed exactly at frame k's centre
        snapped.append(t0)
        x = times - t0
        closing = np.clip(x / close_s, 0, 1) ** 2
        opening = 1 - np.clip((x - close_s - hold_s) / open_s, 0, 1)
        val = np.where(x < close_s, closing, np.where(x < close_s + hold_s, 1.0, opening ** 1.5))
        val = np.where((x < 0) | (x > close_s + hold_s + open_s), 0.0, val)
        out = np.maximum(out, val)
    return out.astype(np.float32), np.array(snapped, np.float64)


def _smooth_noise(n: int, sigma_frames: float, rng: np.random.Generator) -> np.ndarray:
    pad = int(4 * sigma_frames) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma_frames, mode="reflect")[pad:pad + n]
    return x / max(float(np.std(x)), 1e-8)


@dataclass(frozen=True)
class EmotionSegment:
    """Valence / arousal in [-1, 1] held from ``start`` to ``end`` seconds (ramps of ``ramp`` s)."""

    start: float
    end: float
    valence: float
    arousal: float
    ramp: float = 0.4


def emotion_tracks(segments: list[EmotionSegment], times: np.ndarray) -> np.ndarray:
    """V/A per frame, float32 [T, 2]; 0 outside segments (= the portrait's own expression)."""
    va = np.zeros((len(times), 2), np.float64)
    for s in segments:
        if not (-1 <= s.valence <= 1 and -1 <= s.arousal <= 1) or s.end <= s.start:
            raise ValueError(f"bad emotion segment {s}: need start < end and V/A in [-1, 1].")
        r = max(s.ramp, 1e-3)
        w = np.clip(np.minimum((times - s.start) / r, (s.end - times) / r), 0, 1)
        w = w * w * (3 - 2 * w)
        va = va * (1 - w[:, None]) + np.array([s.valence, s.arousal]) * w[:, None]
    return va.astype(np.float32)


def expression_from_va(va: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map V/A [T, 2] to (brow [T], cheek [T]): arousal raises the brows, negative valence
    lowers and knits them, positive valence raises the cheeks (a simple, documented mapping)."""
    v, a = va[:, 0].astype(np.float64), va[:, 1].astype(np.float64)
    neg = np.maximum(-v, 0)
    brow = np.clip(0.8 * a * np.clip(1 - 2 * neg, 0, 1) - 1.1 * neg, -1, 1)
    cheek = np.clip(1.2 * np.maximum(v, 0), 0, 1)
    return brow.astype(np.float32), cheek.astype(np.float32)


@dataclass
class HeadPoseTracks:
    """Per-frame 3-D head pose: pitch / yaw / roll (degrees), translation (px), scale; float32 [T] each."""

    pitch: np.ndarray
    yaw: np.ndarray
    roll: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    scale: np.ndarray


def _peak_normalised(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return x / max(float(np.abs(x).max()), 1e-8)


def head_pose_tracks(num_frames: int, fps: float, rng: np.random.Generator, yaw_max: float = 14.0,
                     pitch_max: float = 7.0, roll_deg: float = 2.0, shift_px: float = 4.0,
                     scale: float = 0.01, speech_energy: np.ndarray | None = None) -> HeadPoseTracks:
    """Talking-head pose: slow drifts plus nods with speech.

    Yaw: a slow drift (1.2 s smoothing) whose largest excursion is exactly ``yaw_max``; pitch:
    a slower drift peaking at 0.7 ``pitch_max`` plus nods (the head dips on stressed speech:
    band-passed speech energy), clipped to +-``pitch_max``; roll: low-passed noise with std
    ``roll_deg``; translation (std ``shift_px``, 0.6 of it vertically) and scale (std ``scale``):
    low-passed noise. Degrees / px; seeded.
    """
    sig = max(1.2 * fps, 1.0)
    yaw = yaw_max * _peak_normalised(_smooth_noise(num_frames, sig, rng))
    pitch = 0.7 * pitch_max * _peak_normalised(_smooth_noise(num_frames, 1.5 * sig, rng))
    if speech_energy is not None:
        e = np.asarray(speech_energy, np.float64)
        nod = gaussian_filter1d(e, 0.1 * fps) - gaussian_filter1d(e, 0.6 * fps)
        pitch = pitch + 0.6 * pitch_max * nod / max(float(np.abs(nod).max()), 1e-8)
    pitch = pitch_max * np.tanh(pitch / pitch_max)
    roll = roll_deg * _smooth_noise(num_frames, 0.7 * sig, rng)
    tx = shift_px * _smooth_noise(num_frames, 0.7 * sig, rng)
    ty = 0.6 * shift_px * _smooth_noise(num_frames, 0.7 * sig, rng)
    sc = 1.0 + scale * _smooth_noise(num_frames, sig, rng)
    f = np.float32
    return HeadPoseTracks(pitch.astype(f), yaw.astype(f), roll.astype(f), tx.astype(f), ty.astype(f),
                          sc.astype(f))
