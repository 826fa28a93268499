"""Reading a dataset's TTS speech (`DATASET/tts/`, written by preprocess/tts_audio.py): audio the
person never spoke, for L_sync on renders without a true frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TTSBank:
    """features: float32 [N, D] per-frame audio features of all utterances (the dataset's extractor);
    segments: int64 [S, 2] (first frame, frames) per utterance; audio: float32 [M] 16 kHz, utterance
    frames aligned (frame k = samples 640 k .. 640 (k + 1) at 25 fps)."""

    features: np.ndarray
    segments: np.ndarray
    audio: np.ndarray

    def window_starts(self, length: int) -> np.ndarray:
        """Frames k where frames k .. k + length - 1 lie in one utterance."""
        return np.concatenate([np.arange(a, a + n - length + 1) for a, n in self.segments if n >= length]
                              or [np.zeros(0, np.int64)])

    def audio_window(self, frame: int, window: int) -> np.ndarray:
        """[2W+1, D] features of frames frame-W .. frame+W, clamped to the frame's utterance."""
        seg = self.segments[np.searchsorted(self.segments[:, 0], frame, side="right") - 1]
        idx = np.clip(np.arange(frame - window, frame + window + 1), seg[0], seg[0] + seg[1] - 1)
        return np.asarray(self.features[idx], np.float32)


def load_tts_bank(root: str | Path) -> TTSBank | None:
    """The dataset's TTS bank, or None when the `tts_audio` stage has not run."""
    from ..io import read_audio

    tts = Path(root) / "tts"
    if not (tts / "segments.npy").exists():
        return None
    return TTSBank(np.load(tts / "features.npy", mmap_mode="r"), np.load(tts / "segments.npy"),
                   read_audio(tts / "audio.wav", 16000))
