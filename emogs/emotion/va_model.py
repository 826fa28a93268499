"""Valence / arousal <-> facial action units: FACS prototypes of emotions on the V/A circle.

The model (documented in docs/emotion.md):

* Each prototype emotion has a *direction* on the V/A circle (a unit vector) and an AU
  pattern at full intensity (OpenFace's 0..5 scale). The AU patterns follow the FACS /
  EMFACS prototypes (Ekman & Friesen; e.g. happiness AU6+AU12, surprise AU1+AU2+AU5+AU26,
  anger AU4+AU5+AU7+AU23, sadness AU1+AU4+AU15). The directions follow Russell's circumplex
  (the angles of the paper's evaluation targets: happy (0.74, 0.31), angry (-0.31, 0.74)).
* A V/A point `(r cos t, r sin t)` maps to `r * lerp(AU[p0], AU[p1], (t - t0) / (t1 - t0))`,
  where `p0`, `p1` are the prototypes whose angles bracket `t` (angle interpolation scaled by
  the radius; the radius is clipped to 1).
* `aus_to_va` inverts it by a 1-D search over the angle with the radius in closed form;
  exact (up to the angle grid) for AU vectors the model produces.

Emotion *names with an intensity* ("happy", "happy:strong", "sad:mild", "angry:0.6") map to
`intensity * direction` as EMOTE offers categories with intensities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# name -> (valence, arousal, {AU: intensity at full strength, 0..5})
# Directions are unit vectors; see the module docstring.
EMOTION_PROTOTYPES: dict[str, tuple[float, float, dict[str, float]]] = {}

_RAW = {
    # name: (angle in degrees on the V/A circle, AUs)
    "happy": (22.7, {"AU06": 3.0, "AU12": 3.5, "AU25": 1.0}),
    "surprise": (80.0, {"AU01": 3.0, "AU02": 3.0, "AU05": 3.0, "AU25": 2.0, "AU26": 2.5}),
    "angry": (112.7, {"AU04": 3.5, "AU05": 2.0, "AU07": 3.0, "AU23": 3.0}),
    "fear": (
        125.0,
        {
            "AU01": 3.0,
            "AU02": 2.0,
            "AU04": 2.0,
            "AU05": 3.0,
            "AU07": 1.0,
            "AU20": 2.5,
            "AU25": 2.0,
            "AU26": 1.0,
        },
    ),
    "disgust": (150.0, {"AU04": 1.5, "AU09": 3.0, "AU10": 2.5, "AU15": 1.0, "AU17": 1.0}),
    "sad": (207.0, {"AU01": 3.0, "AU04": 2.0, "AU15": 3.0, "AU17": 1.5, "AU43": 0.5}),
    "tired": (250.0, {"AU01": 0.5, "AU15": 1.0, "AU43": 2.5}),
    "calm": (300.0, {"AU06": 0.5, "AU12": 1.0, "AU43": 1.0}),
    "content": (335.0, {"AU06": 1.5, "AU12": 2.5}),
}
for _name, (_deg, _aus) in _RAW.items():
    _t = math.radians(_deg)
    EMOTION_PROTOTYPES[_name] = (math.cos(_t), math.sin(_t), dict(_aus))

# AUs the model sets, in a fixed order (also the default output order of `va_to_aus`).
VA_AU_NAMES: tuple[str, ...] = tuple(sorted({au for _, _, aus in EMOTION_PROTOTYPES.values() for au in aus}))

# Intensity words (EMOTE offers mild / medium / strong).
INTENSITY_WORDS: dict[str, float] = {"mild": 0.35, "medium": 0.65, "strong": 0.95}

# Aliases users type.
_ALIASES = {
    "happiness": "happy",
    "joy": "happy",
    "anger": "angry",
    "sadness": "sad",
    "surprised": "surprise",
    "fearful": "fear",
    "afraid": "fear",
    "disgusted": "disgust",
    "relaxed": "calm",
    "bored": "tired",
    "sleepy": "tired",
}


def _sorted_table() -> tuple[np.ndarray, np.ndarray]:
    """Prototype angles (radians, ascending in [0, 2pi)) and AU patterns [P, len(VA_AU_NAMES)]."""
    angles, pats = [], []
    for v, a, aus in EMOTION_PROTOTYPES.values():
        angles.append(math.atan2(a, v) % (2 * math.pi))
        pats.append([aus.get(n, 0.0) for n in VA_AU_NAMES])
    order = np.argsort(angles)
    return np.asarray(angles, np.float64)[order], np.asarray(pats, np.float64)[order]


_ANGLES, _PATTERNS = _sorted_table()


def _pattern_at(theta: np.ndarray) -> np.ndarray:
    """AU pattern at full intensity for angles `theta` [...] (radians) -> [..., A]."""
    theta = np.mod(theta, 2 * np.pi)
    ext_ang = np.concatenate([_ANGLES[-1:] - 2 * np.pi, _ANGLES, _ANGLES[:1] + 2 * np.pi])
    ext_pat = np.concatenate([_PATTERNS[-1:], _PATTERNS, _PATTERNS[:1]])
    hi = np.clip(np.searchsorted(ext_ang, theta, side="right"), 1, len(ext_ang) - 1)
    lo = hi - 1
    w = ((theta - ext_ang[lo]) / (ext_ang[hi] - ext_ang[lo]))[..., None]
    return (1.0 - w) * ext_pat[lo] + w * ext_pat[hi]


def _check_va(va) -> np.ndarray:
    va = np.asarray(va, dtype=np.float64)
    if va.shape[-1:] != (2,):
        raise ValueError(
            f"valence/arousal must have a last dimension of 2 (valence, arousal); got shape {va.shape}"
        )
    if not np.all(np.isfinite(va)):
        raise ValueError("valence/arousal contains NaN or inf; pass finite values in [-1, 1]")
    return va


def va_to_aus(va, names: Sequence[str] = VA_AU_NAMES, as_dict: bool = False):
    """Action-unit intensities (0..5) for valence/arousal points.

    Args:
        va: [..., 2] valence, arousal in [-1, 1] (the radius is clipped to 1).
        names: AU names of the output columns; AUs the model does not set are 0
            (e.g. pass `emogs.face.action_units.AU_NAMES`).
        as_dict: for a single point ([2]) return {name: intensity}.
    Returns:
        np.ndarray [..., len(names)] float64, or a dict when `as_dict`.
    """
    va = _check_va(va)
    r = np.minimum(np.linalg.norm(va, axis=-1), 1.0)
    theta = np.arctan2(va[..., 1], va[..., 0])
    full = _pattern_at(theta) * r[..., None]
    idx = {n: i for i, n in enumerate(VA_AU_NAMES)}
    out = np.zeros(full.shape[:-1] + (len(names),), dtype=np.float64)
    for j, n in enumerate(names):
        if n in idx:
            out[..., j] = full[..., idx[n]]
    if as_dict:
        if out.ndim != 1:
            raise ValueError("as_dict=True needs a single V/A point of shape [2]")
        return {n: float(x) for n, x in zip(names, out)}
    return out


def aus_to_va(aus, names: Sequence[str] = VA_AU_NAMES, num_angles: int = 1440) -> np.ndarray:
    """Approximate V/A of AU intensities: the inverse of `va_to_aus` in least squares.

    Args:
        aus: [..., len(names)] intensities (0..5) or a dict {name: intensity}.
        names: the AU names of the columns of `aus`; only AUs the model knows are used.
    Returns:
        [..., 2] float64 valence, arousal (radius <= 1).
    """
    if isinstance(aus, dict):
        names = list(aus)
        aus = np.asarray([aus[n] for n in names], dtype=np.float64)
    aus = np.asarray(aus, dtype=np.float64)
    if aus.shape[-1] != len(names):
        raise ValueError(f"aus has {aus.shape[-1]} columns but {len(names)} names were given")
    cols = [(j, VA_AU_NAMES.index(n)) for j, n in enumerate(names) if n in VA_AU_NAMES]
    if not cols:
        raise ValueError(f"none of the AU names {list(names)} is used by the V/A model ({VA_AU_NAMES})")
    src, dst = zip(*cols)
    x = aus[..., list(src)]  # [..., K]
    thetas = np.linspace(0.0, 2 * np.pi, num_angles, endpoint=False)
    pats = _pattern_at(thetas)[:, list(dst)]  # [N, K]
    pp = np.maximum((pats**2).sum(-1), 1e-12)  # [N]
    xp = x @ pats.T  # [..., N]
    r = np.clip(xp / pp, 0.0, 1.0)
    err = (x**2).sum(-1, keepdims=True) - 2 * r * xp + r**2 * pp
    best = np.argmin(err, axis=-1)
    rb = np.take_along_axis(r, best[..., None], -1)[..., 0]
    tb = thetas[best]
    return np.stack([rb * np.cos(tb), rb * np.sin(tb)], axis=-1)


def emotion_to_va(spec: str) -> np.ndarray:
    """V/A of an emotion name with an optional intensity.

    "happy" (medium), "happy:strong", "sad:mild", "angry:0.6", "neutral" -> [2] float64.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"emotion must be a non-empty string like 'happy:strong'; got {spec!r}")
    name, _, inten = spec.strip().lower().partition(":")
    name = _ALIASES.get(name.strip(), name.strip())
    if name == "neutral":
        return np.zeros(2)
    if name not in EMOTION_PROTOTYPES:
        raise ValueError(
            f"unknown emotion {name!r}; use one of {sorted(EMOTION_PROTOTYPES) + ['neutral']} "
            "or give --valence/--arousal directly"
        )
    inten = inten.strip() or "medium"
    if inten in INTENSITY_WORDS:
        k = INTENSITY_WORDS[inten]
    else:
        try:
            k = float(inten)
        except ValueError:
            raise ValueError(
                f"unknown intensity {inten!r} in {spec!r}; use mild / medium / strong or a number in [0, 1]"
            ) from None
        if not 0.0 <= k <= 1.0:
            raise ValueError(f"intensity {k} in {spec!r} is outside [0, 1]")
    v, a, _ = EMOTION_PROTOTYPES[name]
    return np.array([v * k, a * k])


def circle_targets(n: int = 12, radius: float = 0.8, offset_deg: float | None = None) -> np.ndarray:
    """The paper's evaluation protocol: `n` V/A targets evenly spaced on a circle -> [n, 2].

    The default phase puts targets at (0.74, 0.31) (happy) and (-0.31, 0.74) (angry) as in
    the paper's examples (angle 22.7 deg + k * 360/n, radius 0.8).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    if offset_deg is None:
        offset_deg = math.degrees(math.atan2(0.31, 0.74))
    t = np.radians(offset_deg) + 2 * np.pi * np.arange(n) / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=-1)


def nearest_emotion(va) -> list[str] | str:
    """Name of the prototype whose direction is closest in angle ("neutral" when |va| < 0.15)."""
    va = _check_va(va)
    names = list(EMOTION_PROTOTYPES)
    dirs = np.array([[v, a] for v, a, _ in EMOTION_PROTOTYPES.values()])
    flat = va.reshape(-1, 2)
    out = []
    for p in flat:
        out.append("neutral" if np.linalg.norm(p) < 0.15 else names[int(np.argmax(dirs @ p))])
    return out[0] if va.ndim == 1 else out
