"""Preprocessing errors: every message names the problem and the fix."""

from __future__ import annotations


class PreprocessError(RuntimeError):
    """Base class. `fix` is a sentence telling the user what to do."""

    def __init__(self, problem: str, fix: str):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}\n  fix: {fix}")


class UnreadableVideoError(PreprocessError):
    """The input is not a decodable video."""


class NoAudioError(PreprocessError):
    """The video has no audio track (and --no-audio was not given)."""


class SilentAudioError(NoAudioError):
    """The audio track is silent or near silent (and --no-audio was not given)."""


class VideoTooShortError(PreprocessError):
    """Too few frames to build a dataset."""


class NoFaceError(PreprocessError):
    """No face (or no face in most frames)."""


class BadWeightsError(PreprocessError):
    """A user weights file is missing or of the wrong kind."""


class StageError(PreprocessError):
    """A stage cannot run (missing inputs, unknown name...)."""


def format_ranges(mask, fps: float) -> str:
    """'0.00-1.20 s, 3.40-4.00 s' for the runs of True in a boolean per-frame mask."""
    import numpy as np

    mask = np.asarray(mask, bool)
    if not mask.any():
        return "none"
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    parts = [f"{s / fps:.2f}-{e / fps:.2f} s" for s, e in zip(starts, ends)]
    if len(parts) > 8:
        parts = parts[:8] + [f"... ({len(starts) - 8} more)"]
    return ", ".join(parts)
