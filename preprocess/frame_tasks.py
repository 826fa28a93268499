"""Picklable per-frame tasks of the parsing and normals stages (run by ``preprocess.parallel``).

Each task reads ``frames.npy`` / ``landmarks.npy`` of a dataset folder as memmaps and writes frames
``[start, end)`` of its output ``.npy`` (opened ``r+``: the parent created it). Its heavy state is
built on the first call in each process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class ParseFrames:
    """labels[t] = FaceParser(backend, weights)(frames[t], landmarks[t]); out: uint8 [T, S, S]."""

    root: str
    out: str  # output file (e.g. parsing.npy.tmp), relative to root
    backend: str = "geometry"
    weights: str | None = None
    _state: tuple | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_state": None}  # never ship a MediaPipe graph to another process

    def __call__(self, start: int, end: int) -> None:
        if self._state is None:
            from .parsing import FaceParser

            root = Path(self.root)
            self._state = (
                FaceParser(backend=self.backend, weights=self.weights),
                np.load(root / "frames.npy", mmap_mode="r"),
                np.load(root / "landmarks.npy", mmap_mode="r"),
                np.load(root / self.out, mmap_mode="r+"),
            )
        parser, frames, lm, out = self._state
        for t in range(start, end):
            out[t] = parser(np.asarray(frames[t]), np.asarray(lm[t]))
        out.flush()


@dataclass
class RenderNormals:
    """normals[t] = FaceNormalRenderer(S)(landmarks[t], K); out: uint8 [T, S, S, 3]."""

    root: str
    out: str  # e.g. normals.npy.tmp, relative to root
    K: np.ndarray
    size: int
    _state: tuple | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_state": None}

    def __call__(self, start: int, end: int) -> None:
        if self._state is None:
            from .normals import FaceNormalRenderer

            root = Path(self.root)
            self._state = (
                FaceNormalRenderer(self.size),
                np.load(root / "landmarks.npy", mmap_mode="r"),
                np.load(root / self.out, mmap_mode="r+"),
            )
        render, lm, out = self._state
        lm_chunk = np.asarray(lm[start:end])
        for t in range(start, end):
            out[t] = render(lm_chunk[t - start], self.K)
        out.flush()
