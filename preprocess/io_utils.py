"""Atomic writers (write NAME.tmp, then rename) and memory-mapped arrays."""

from __future__ import annotations

import hashlib
import json
import os
import wave
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    tmp = _tmp(path)
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


def load_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """16-bit PCM mono WAV -> (float32 [N] in [-1,1], sample_rate)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM")
        n, ch, sr = w.getnframes(), w.getnchannels(), w.getframerate()
        data = np.frombuffer(w.readframes(n), np.int16).reshape(-1, ch).mean(1)
    return (data / 32768.0).astype(np.float32), sr


class MemmapWriter:
    """An .npy memmap written in place at NAME.tmp and renamed on `commit()` (context manager:
    committed on success, deleted on error)."""

    def __init__(self, path: str | Path, dtype, shape: tuple):
        self.path = Path(path)
        self.tmp = _tmp(self.path)
        self.tmp.unlink(missing_ok=True)
        self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=dtype, shape=tuple(shape))

    @property
    def name(self) -> str:
        """File name of the in-progress .tmp (worker processes open it with mmap_mode="r+")."""
        return self.tmp.name

    def commit(self) -> None:
        self.array.flush()
        del self.array
        os.replace(self.tmp, self.path)

    def __enter__(self) -> np.ndarray:
        return self.array

    def __exit__(self, exc_type, *rest) -> None:
        if exc_type is None:
            self.commit()
        else:
            if hasattr(self, "array"):
                del self.array
            self.tmp.unlink(missing_ok=True)


def open_npy(path: str | Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def hash_obj(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
