"""Atomic writes: write NAME.tmp next to the file, rename it onto NAME only when the write succeeded.

The one write-then-rename helper of the project (`atomic_path`) and the writers built on it; a
reader never sees a half-written file, and a killed run leaves at most a stray NAME.tmp.
"""

from __future__ import annotations

import json
import os
import wave
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def tmp_path(path: Path) -> Path:
    """The temporary name a write of `path` goes to: NAME.tmp in the same folder."""
    return path.with_name(path.name + ".tmp")


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    tmp = tmp_path(path)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array))


def save_npz(path: str | Path, **arrays) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def save_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def save_png(path: str | Path, rgb: np.ndarray) -> None:
    import cv2

    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(np.asarray(rgb)[..., ::-1]))
        if not ok:
            raise OSError(f"could not encode {path}")
        tmp.write_bytes(buf.tobytes())


def save_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """float [-1,1] or int16 mono samples -> 16-bit PCM WAV."""
    s = np.asarray(samples)
    if s.dtype != np.int16:
        s = np.clip(np.round(s.astype(np.float32) * 32767), -32768, 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(s.tobytes())


def save_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
