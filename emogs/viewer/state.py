"""What the viewer shows: one plain dataclass, edited by the UI, read by `render_view`.

The state holds only values (no avatar, no tensors), so it can be copied between the UI thread
and the render thread, printed, and compared to decide whether a re-render is needed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

POSE_SOURCES = ("frames", "fixed", "sliders")
RESOLUTIONS = (128, 192, 256, 384, 512)


@dataclass
class ViewerState:
    """Everything one viewer frame is rendered from.

    valence, arousal: the emotion in [-1, 1] (used when `emotion` is on and the avatar has an
        emotion branch); `preset` / `intensity` only record which preset set them last.
    blink: AU45 override (0 = eyes open .. 5 = closed) or None to take the training frames' blinks.
    pose: head pose / torso plate source: "frames" (training frames back and forth with time),
        "fixed" (training frame `fixed_frame`), "sliders" (frame `fixed_frame` turned by
        `yaw_deg` / `pitch_deg` about the head centre).
    time_s: position in the driving audio (seconds); playing: whether time advances by itself.
    resolution: rendered image size in pixels (square).
    """

    valence: float = 0.0
    arousal: float = 0.0
    emotion: bool = True
    preset: str = "neutral"
    intensity: float = 0.65
    blink: float | None = None
    pose: str = "frames"
    fixed_frame: int = 0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    time_s: float = 0.0
    playing: bool = False
    resolution: int = 256

    def validate(self) -> ViewerState:
        """Raise ValueError naming the bad field and its allowed range; return self."""
        for name in ("valence", "arousal"):
            v = getattr(self, name)
            if not (np.isfinite(v) and -1.0 <= v <= 1.0):
                raise ValueError(f"ViewerState.{name}={v!r} is outside [-1, 1]; clamp it before rendering.")
        if not 0.0 <= self.intensity <= 1.0:
            raise ValueError(f"ViewerState.intensity={self.intensity!r} is outside [0, 1].")
        if self.blink is not None and not (np.isfinite(self.blink) and 0.0 <= self.blink <= 5.0):
            raise ValueError(f"ViewerState.blink={self.blink!r}: use None (training blinks) or an AU45 "
                             "value in [0, 5].")
        if self.pose not in POSE_SOURCES:
            raise ValueError(f"ViewerState.pose={self.pose!r}; choose one of {POSE_SOURCES}.")
        if self.fixed_frame < 0:
            raise ValueError(f"ViewerState.fixed_frame={self.fixed_frame} must be >= 0.")
        for name in ("yaw_deg", "pitch_deg"):
            v = getattr(self, name)
            if not (np.isfinite(v) and -90.0 <= v <= 90.0):
                raise ValueError(f"ViewerState.{name}={v!r} is outside [-90, 90] degrees.")
        if not (np.isfinite(self.time_s) and self.time_s >= 0):
            raise ValueError(f"ViewerState.time_s={self.time_s!r} must be >= 0 seconds.")
        if int(self.resolution) != self.resolution or not 16 <= self.resolution <= 2048:
            raise ValueError(f"ViewerState.resolution={self.resolution!r}: use an integer in [16, 2048].")
        return self

    def va(self) -> np.ndarray:
        """float32 [2] (valence, arousal)."""
        return np.array([self.valence, self.arousal], dtype=np.float32)

    def replace(self, **changes) -> ViewerState:
        """A validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes).validate()


def with_preset(state: ViewerState, preset: str, intensity: float | None = None) -> ViewerState:
    """Set valence / arousal from an emotion preset ("happy", "sad", ..., "neutral") at `intensity`
    in [0, 1] (default: the state's), using emogs.emotion's V/A circle."""
    from ..emotion import emotion_to_va

    k = state.intensity if intensity is None else float(intensity)
    va = emotion_to_va(f"{preset}:{k}" if preset != "neutral" else "neutral")
    return state.replace(valence=float(va[0]), arousal=float(va[1]), preset=preset, intensity=k)


def preset_names() -> list[str]:
    """Emotion presets the UI offers: "neutral" then emogs.emotion.EMOTION_PROTOTYPES."""
    from ..emotion import EMOTION_PROTOTYPES

    return ["neutral", *sorted(EMOTION_PROTOTYPES)]
