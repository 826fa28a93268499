"""Phonemes -> visemes -> mouth parameter tracks with co-articulation.

Viseme set: the 15 classes commonly used for lip sync (silence + 14). Each viseme has a
mouth *target* ``(open, width, round)``:

- ``open``  in [0, 1]: the inner-lip gap at the lip centre, as a fraction of the largest gap
  (0 = lips together, 1 = wide "aa").
- ``width`` in [-1, 1]: mouth-corner spread (+) or pull-in (-).
- ``round`` in [0, 1]: lip rounding / protrusion (narrows the mouth, rounds the opening).

Co-articulation follows the dominance-function model of Cohen & Massaro (1993): every
phone ``i`` with centre ``c_i`` pulls each parameter towards its target with weight
``D_i(t) = a_i * exp(-theta_i * |t - c_i|)``; the track is the weighted mean. Bilabial
closures (p, b, m) and labiodentals (f, v) get high dominance, so the lips really close or
touch; vowels are weaker and blend with their neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emogs.audio.tts import Phone

VISEMES = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou"]
VISEME_ID = {name: i for i, name in enumerate(VISEMES)}

# viseme -> (open, width, round, dominance a, sharpness theta [1/s])
VISEME_TARGETS: dict[str, tuple[float, float, float, float, float]] = {
    "sil": (0.00, 0.00, 0.00, 2.5, 20.0),
    "PP": (0.00, -0.05, 0.10, 5.0, 34.0),
    "FF": (0.08, 0.05, 0.00, 5.0, 26.0),
    "TH": (0.25, 0.10, 0.00, 1.5, 22.0),
    "DD": (0.28, 0.10, 0.00, 0.8, 18.0),
    "kk": (0.35, 0.05, 0.00, 0.6, 16.0),
    "CH": (0.25, -0.40, 0.75, 2.0, 22.0),
    "SS": (0.12, 0.35, 0.00, 1.5, 22.0),
    "nn": (0.22, 0.10, 0.00, 0.8, 18.0),
    "RR": (0.25, -0.30, 0.55, 1.2, 18.0),
    "aa": (1.00, 0.10, 0.00, 1.4, 14.0),
    "E": (0.62, 0.35, 0.00, 1.0, 14.0),
    "ih": (0.40, 0.50, 0.00, 1.0, 14.0),
    "oh": (0.72, -0.45, 0.75, 1.0, 14.0),
    "ou": (0.30, -0.70, 1.00, 1.2, 14.0),
}

# espeak-ng (en) ASCII phoneme mnemonics -> viseme. Matched on the longest known prefix.
ESPEAK_TO_VISEME: dict[str, str] = {
    "_": "sil", "p": "PP", "b": "PP", "m": "PP",
    "f": "FF", "v": "FF", "T": "TH", "D": "TH",
    "t": "DD", "d": "DD", "l": "DD", "n": "nn", "N": "kk", "k": "kk", "g": "kk", "h": "kk", "x": "kk",
    "?": "kk", "j": "ih", "tS": "CH", "dZ": "CH", "S": "CH", "Z": "CH", "s": "SS", "z": "SS",
    "r": "RR", "w": "ou",
    "a": "aa", "aa": "aa", "a#": "aa", "A": "aa", "A:": "aa", "A@": "aa", "aI": "aa", "aI@": "aa",
    "aU": "aa", "V": "aa", "0": "oh", "O": "oh", "O:": "oh", "O@": "oh", "OI": "oh", "o": "oh",
    "oU": "oh", "o@": "oh", "e": "E", "E": "E", "e@": "E", "eI": "E", "3": "E", "3:": "E", "@": "E",
    "@2": "E", "@5": "E", "@L": "DD", "i": "ih", "i:": "ih", "I": "ih", "I#": "ih", "I2": "ih",
    "i@": "ih", "u": "ou", "u:": "ou", "U": "ou", "U@": "ou",
}

# ARPAbet (pocketsphinx / CMU) -> viseme
ARPABET_TO_VISEME: dict[str, str] = {
    "_": "sil", "SIL": "sil", "P": "PP", "B": "PP", "M": "PP", "F": "FF", "V": "FF", "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD", "L": "DD", "N": "nn", "NG": "kk", "K": "kk", "G": "kk", "HH": "kk", "Y": "ih",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH", "S": "SS", "Z": "SS", "R": "RR", "W": "ou",
    "AA": "aa", "AE": "aa", "AH": "aa", "AY": "aa", "AW": "aa", "AO": "oh", "OW": "oh", "OY": "oh",
    "EH": "E", "EY": "E", "ER": "E", "IH": "ih", "IY": "ih", "UH": "ou", "UW": "ou",
}


def phone_to_viseme(name: str, alphabet: str = "espeak") -> str:
    """Viseme name of a phone; unknown phones fall back by their first letter (vowel-ish -> "E")."""
    if alphabet == "arpabet":
        key = "".join(c for c in name.upper() if c.isalpha())
        return ARPABET_TO_VISEME.get(key, "E" if key[:1] in "AEIOU" else "DD")
    if alphabet != "espeak":
        raise ValueError(f"unknown phone alphabet {alphabet!r}; use 'espeak' or 'arpabet'.")
    name = name.strip("'%=,")
    for k in range(len(name), 0, -1):
        if name[:k] in ESPEAK_TO_VISEME:
            return ESPEAK_TO_VISEME[name[:k]]
    return "E" if name[:1] in "aeiouAEIOU@3" else "DD"


@dataclass
class MouthTracks:
    """Per-frame mouth parameters. open/width/round: float32 [T]; viseme: int64 [T] (active phone's)."""

    open: np.ndarray
    width: np.ndarray
    round: np.ndarray
    viseme: np.ndarray
    press: np.ndarray  # [0, 1]: lips pressed together (bilabial closure)


def _ramp(x: np.ndarray, a: float, b: float) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0, 1)
    return t * t * (3 - 2 * t)


def mouth_tracks(phones: list[Phone], times: np.ndarray, alphabet: str = "espeak",
                 anticipation: float = 0.02) -> MouthTracks:
    """Co-articulated mouth parameters sampled at ``times`` (seconds, [T]).

    anticipation: the mouth leads the sound by this many seconds (articulators move before
    the acoustic onset).
    """
    times = np.asarray(times, np.float64)
    if not phones:
        z = np.zeros(len(times), np.float32)
        return MouthTracks(z, z.copy(), z.copy(), np.zeros(len(times), np.int64), z.copy())
    vis = [phone_to_viseme(p.name, alphabet) for p in phones]
    tgt = np.array([VISEME_TARGETS[v] for v in vis], np.float64)  # [P, 5]
    starts = np.array([p.start for p in phones])
    ends = np.array([p.end for p in phones])
    centres = 0.5 * (starts + ends) - anticipation
    half = 0.5 * (ends - starts)
    t = times[:, None]
    # distance outside the phone's own interval (0 inside): a long phone holds its target
    dist = np.maximum(np.abs(t - centres[None]) - 0.6 * half[None], 0.0)
    dom = tgt[None, :, 3] * np.exp(-tgt[None, :, 4] * dist)  # [T, P]
    w = dom / np.maximum(dom.sum(1, keepdims=True), 1e-12)
    params = w @ tgt[:, :3]
    # bilabial closure: where p / b / m dominate, the lips press shut (the blend alone leaves a gap) ...
    share = w @ np.array([v == "PP" for v in vis], np.float64)
    press = _ramp(share, 0.4, 0.8)
    # ... and in pauses the mouth comes to rest (closed) instead of hanging open between words
    rest = _ramp(share + w @ np.array([v == "sil" for v in vis], np.float64), 0.4, 0.8)
    params[:, 0] *= 1.0 - rest
    idx = np.clip(np.searchsorted(starts, times + anticipation, side="right") - 1, 0, len(phones) - 1)
    vid = np.array([VISEME_ID[vis[i]] for i in idx], np.int64)
    return MouthTracks(params[:, 0].astype(np.float32), params[:, 1].astype(np.float32),
                       params[:, 2].astype(np.float32), vid, press.astype(np.float32))
