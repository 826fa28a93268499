"""Per-frame audio features -> per-frame [2W+1, D] windows, online.

The avatar reads, for frame t, the features of frames t-W .. t+W with indices clamped to the
stream (edge padding, the dataset reader's rule). Online, frame t's window is complete as soon
as frame t+W has arrived, so the only look-ahead is W frames (W = 4: 160 ms at 25 fps). At the
end of the stream (`close`) the last W frames are emitted with the right edge padded, exactly as
the offline reader pads the last frames of a clip.

    buf = FeatureWindowBuffer(window=4)
    for vecs in chunks:            # vecs [n, D], any n >= 0
        for t, win in buf.push(vecs):   # win [2W+1, D]
            ...
    for t, win in buf.close():
        ...
"""

from __future__ import annotations

from collections import deque

import numpy as np


class FeatureWindowBuffer:
    """Bounded buffer of per-frame feature vectors that emits each frame's window once complete.

    Memory: the last 2W+1 vectors. `push` returns a list of (frame index, float32 [2W+1, D]).
    """

    def __init__(self, window: int = 4):
        if int(window) != window or window < 0:
            raise ValueError(f"window must be a non-negative integer (frames each side), got {window!r}.")
        self.window = int(window)
        self._recent: deque[np.ndarray] = deque(maxlen=2 * self.window + 1)
        self._first_kept = 0  # global frame index of self._recent[0]
        self._received = 0  # frames received so far
        self._next = 0  # next frame whose window will be emitted
        self._dim: int | None = None
        self._closed = False

    @property
    def frames_received(self) -> int:
        return self._received

    @property
    def frames_emitted(self) -> int:
        return self._next

    @property
    def pending(self) -> int:
        """Frames received whose window still waits for look-ahead (at most W)."""
        return self._received - self._next

    def push(self, vectors: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Add the next frames' vectors [n, D] (n may be 0); return the windows now complete."""
        if self._closed:
            raise RuntimeError("FeatureWindowBuffer.push after close(); make a new buffer for a new stream.")
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1 and self._dim is not None and v.shape[0] == self._dim:
            v = v[None]
        if v.ndim != 2:
            raise ValueError(f"push expects feature vectors [n, D], got shape {v.shape}.")
        if len(v) == 0:
            return []
        if self._dim is None:
            self._dim = int(v.shape[1])
        elif v.shape[1] != self._dim:
            raise ValueError(f"feature size changed from {self._dim} to {v.shape[1]} mid-stream; "
                             "use one extractor per stream.")
        out = []
        for row in v:
            if len(self._recent) == self._recent.maxlen:
                self._first_kept += 1
            self._recent.append(row)
            self._received += 1
            if self._received - 1 - self._next >= self.window:  # frame next+W just arrived
                out.append(self._emit(last=self._received - 1))
        return out

    def close(self) -> list[tuple[int, np.ndarray]]:
        """End of stream: emit the remaining (at most W) windows, right edge padded."""
        self._closed = True
        out = []
        while self._next < self._received:
            out.append(self._emit(last=self._received - 1))
        return out

    def _emit(self, last: int) -> tuple[int, np.ndarray]:
        t = self._next
        idx = np.clip(np.arange(t - self.window, t + self.window + 1), 0, last)
        rows = [self._recent[i - self._first_kept] for i in idx]  # the deque holds frames t-W..t+W
        self._next += 1
        return t, np.stack(rows).astype(np.float32, copy=False)
