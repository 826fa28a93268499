"""The one `--emotion` parser of every command (render, viewer, evaluate, export_ply).

Accepted forms (case-insensitive, spaces ignored):

* ``happy`` - a prototype emotion at medium intensity; ``neutral`` - (0, 0);
* ``happy:strong`` / ``sad:mild`` / ``angry:medium`` - an intensity word;
* ``happy:0.7`` - an intensity number in [0, 1];
* ``0.5,0.3`` - valence, arousal directly (each in [-1, 1]).

Use ``type=emotion_arg`` in argparse: a bad value then ends the command with exit code 2 and a
message naming the problem and the accepted forms (no traceback).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from .va_model import _ALIASES, EMOTION_PROTOTYPES, emotion_to_va

FORMS = ("an emotion name (happy, sad, ..., neutral), optionally with an intensity word or number "
         "(happy:strong, sad:mild, angry:0.6), or valence,arousal (0.5,0.3)")


@dataclass(frozen=True)
class EmotionSpec:
    """A parsed ``--emotion``: V/A in [-1, 1]; `name` / `intensity` when given by name (else None)."""

    valence: float
    arousal: float
    name: str | None = None
    intensity: float | None = None

    @property
    def va(self) -> tuple[float, float]:
        return (self.valence, self.arousal)


def parse_emotion(text: str) -> EmotionSpec:
    """Parse one ``--emotion`` value (see the module docstring); ValueError names the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty emotion; give {FORMS}")
    s = "".join(text.split()).lower()
    if "," in s:
        parts = s.split(",")
        try:
            v, a = (float(x) for x in parts)
        except ValueError:
            raise ValueError(f"{text!r} is not valence,arousal (two numbers, e.g. 0.5,0.3); give {FORMS}") \
                from None
        if abs(v) > 1 or abs(a) > 1:
            raise ValueError(f"valence,arousal {text!r} is outside [-1, 1]")
        return EmotionSpec(v, a)
    name = s.partition(":")[0]
    name = _ALIASES.get(name, name)
    if name != "neutral" and name not in EMOTION_PROTOTYPES:
        raise ValueError(f"unknown emotion {name!r}; use one of {['neutral', *sorted(EMOTION_PROTOTYPES)]}, "
                         f"or {FORMS}")
    va = emotion_to_va(s)  # intensity words / numbers, checked there
    # the prototypes' directions are unit vectors: the intensity is the length
    return EmotionSpec(float(va[0]), float(va[1]), name, float(np.hypot(*va)))


def emotion_arg(text: str) -> EmotionSpec:
    """argparse ``type=``: a bad value exits 2 with the message (argparse's usage error)."""
    try:
        return parse_emotion(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
