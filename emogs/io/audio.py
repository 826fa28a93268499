"""Reading speech audio (any format PyAV decodes) as mono float32 at a chosen sample rate."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode `path` -> float32 [N] mono in [-1,1] resampled to `sample_rate` (PyAV). Damaged packets
    are skipped (DamagedMediaError, a ValueError, when more than 5 % are)."""
    import av

    from .decoding import MediaError, MissingMediaError, decode_packets

    path = Path(path)
    if not path.exists():
        raise MissingMediaError(f"audio file {path} does not exist", "check the path")
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError as err:
        raise MediaError(f"{path} is not a readable audio/video file ({err})",
                         "give a wav / mp3 / m4a / mp4 file with speech") from err
    with container:
        if not container.streams.audio:
            raise MediaError(f"{path} has no audio stream", "pass a file with speech audio (e.g. a .wav)")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        for frame in decode_packets(container, container.streams.audio[0], path=path):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        raise MediaError(f"{path}: the audio stream is empty", "pass a file with speech audio (e.g. a .wav)")
    return np.concatenate(chunks).astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = 16000) -> Path:
    """Write float [-1,1] (or int16) mono samples as 16-bit PCM WAV."""
    path = Path(path)
    s = np.asarray(samples)
    if s.dtype != np.int16:
        s = (np.clip(s, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(s.tobytes())
    return path
