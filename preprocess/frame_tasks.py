"""Picklable per-frame tasks of the landmarks, parsing and normals stages (run by ``preprocess.parallel``).

Each task reads ``frames.npy`` / ``landmarks.npy`` of a dataset folder as memmaps and writes frames
``[start, end)`` of its output ``.npy`` (the parent created it) with ``NpyFrameWriter`` (``pwrite``:
no page fault per page of a shared mapping). Its heavy state is built on the first call in each
process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .io_utils import NpyFrameWriter


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
                NpyFrameWriter(root / self.out),
            )
        parser, frames, lm, out = self._state
        for t in range(start, end):
            out.write(t, parser(np.asarray(frames[t]), np.asarray(lm[t])))


@dataclass
class RenderNormals:
    """normals[t] = FaceNormalRenderer(S)(landmarks[t], K); out: uint8 [T, S, S, 3], zero-filled
    when the task starts (a fresh ``MemmapWriter`` file): only the rows of each frame's face box are
    written."""

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
                NpyFrameWriter(root / self.out),
            )
        render, lm, out = self._state
        lm_chunk = np.asarray(lm[start:end])
        for t in range(start, end):
            # the output is a fresh zero-filled file: write only the rows of the face's box (the rest
            # stays 0 and sparse on disk)
            (y0, x0), box = render.render_box(lm_chunk[t - start], self.K)
            if box.size:
                rows = np.zeros((box.shape[0], self.size, 3), np.uint8)
                rows[:, x0 : x0 + box.shape[1]] = box
                out.write_rows(t, y0, rows)


def follow_face(faces, prev):
    """Pick the face nearest the previous one (largest when starting); None when it disappeared.

    faces: ``FaceMesh`` list (largest first); prev: (centre [2], width) of the followed face or None.
    Returns (points [478, 3] or None, confidence, new prev).
    """
    if not faces:
        return None, 0.0, prev
    if prev is None:
        f = faces[0]
    else:
        c, s = prev
        d = [np.linalg.norm(f.center - c) / s for f in faces]
        k = int(np.argmin(d))
        if d[k] > 1.0:
            return None, 0.0, prev
        f = faces[k]
    x0, _, x1, _ = f.bbox
    return f.points, max(f.score, 1e-3), (f.center, max(x1 - x0, 1.0))


@dataclass
class DetectLandmarks:
    """Face mesh in video (tracking) mode over frames [start, end), following one face.

    Writes raw points float32 [T, 478, 3], confidence float32 [T] (0 = no face) and the number of
    faces uint8 [T] into the files `points`, `conf`, `faces` (relative to root). A chunk that does not
    start at frame 0 first tracks `warmup` earlier frames (not written) so the tracker and the choice
    of face are seeded as in one continuous pass; each chunk uses its own fresh detector. MediaPipe's
    tracker does not fully forget its start, so after a chunk boundary the points differ from a
    single pass by a fraction of a pixel (< 0.5 px measured; its own frame-to-frame jitter is ~1 px).
    """

    root: str
    points: str
    conf: str
    faces: str
    warmup: int = 12

    def __call__(self, start: int, end: int) -> None:
        from emogs.face.landmarks import FaceMeshDetector

        root = Path(self.root)
        frames = np.load(root / "frames.npy", mmap_mode="r")
        pts = np.load(root / self.points, mmap_mode="r+")
        conf = np.load(root / self.conf, mmap_mode="r+")
        nfaces = np.load(root / self.faces, mmap_mode="r+")
        prev = None
        with FaceMeshDetector(video_mode=True, max_faces=3) as det:
            for t in range(max(0, start - self.warmup), end):
                faces = det(np.asarray(frames[t]))
                p, c, prev = follow_face(faces, prev)
                if t < start:
                    continue
                nfaces[t] = min(len(faces), 255)
                if p is not None:
                    pts[t], conf[t] = p, c
        for a in (pts, conf, nfaces):
            a.flush()
