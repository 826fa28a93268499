"""Live audio -> per-frame audio windows with bounded latency.

    live = LiveAudioFeatures(StreamConfig(fps=25, window=4, extractor="logmel"))
    for chunk in microphone_chunks:             # float32 16 kHz mono, any chunk size
        for f in live.push(chunk):              # StreamFrame(index, audio [2W+1,D], ...)
            avatar.render_frame(conditions_with(f.audio), ...)
    for f in live.close(): ...

Two stages, both chunk-size independent:
1. `emogs.audio.streaming.StreamingAudioFeatures` turns samples into one feature vector per
   video frame as soon as the frame's audio (plus the STFT half window) has arrived;
2. `FeatureWindowBuffer` emits frame t's [2W+1, D] window once frame t+W's vector exists.

Look-ahead (audio that must arrive after frame t's interval ends before t can be shown):
logmel: W / fps + (N_FFT / 2 + 1.5 HOP) / 16 kHz (= 160 ms + 27.5 ms at 25 fps, W = 4), and the
logmel features equal the offline extractor's exactly. whisper: + hop_s + lookahead_s of the
streaming encoder (re-encodes the trailing context; close to, not equal to, offline).
The measured look-ahead of each frame is in `StreamFrame.lookahead_s`; compute time comes on top.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .window import FeatureWindowBuffer

SAMPLE_RATE = 16000


@dataclass
class StreamConfig:
    """fps: video frame rate; window: W (the avatar's audio_window); extractor: "logmel" |
    "whisper" (the avatar's); whisper_hop_s / whisper_lookahead_s: the streaming Whisper encoder's
    re-encode period and safety margin (ignored for logmel)."""

    fps: float = 25.0
    window: int = 4
    extractor: str = "logmel"
    whisper_hop_s: float = 0.5
    whisper_lookahead_s: float = 0.2
    threads: int = 0


@dataclass
class StreamFrame:
    """One frame ready to render: index t, audio [2W+1, D] float32, audio_s (seconds of audio
    received when it became ready), lookahead_s = audio_s - (t + 1) / fps (the algorithmic
    latency), ready_at (time.monotonic() when it became ready)."""

    index: int
    audio: np.ndarray
    audio_s: float
    lookahead_s: float
    ready_at: float


def latency_bound_s(cfg: StreamConfig, chunk_samples: int = 0) -> float:
    """Upper bound of `StreamFrame.lookahead_s` for chunks of `chunk_samples` (the chunk granularity
    adds up to one chunk: a frame completed early in a chunk waits for the chunk's end)."""
    from emogs.audio.features import HOP, N_FFT

    base = cfg.window / cfg.fps + (N_FFT / 2 + 1.5 * HOP) / SAMPLE_RATE + 1.0 / SAMPLE_RATE
    if cfg.extractor == "whisper":
        base += cfg.whisper_hop_s + cfg.whisper_lookahead_s + 1.0 / cfg.fps
    return base + chunk_samples / SAMPLE_RATE


class LiveAudioFeatures:
    """Samples in, render-ready per-frame audio windows out (see the module docstring)."""

    def __init__(self, cfg: StreamConfig | None = None):
        from emogs.audio.streaming import StreamingAudioFeatures

        self.cfg = cfg or StreamConfig()
        self.features = StreamingAudioFeatures(
            fps=self.cfg.fps, extractor=self.cfg.extractor, hop_s=self.cfg.whisper_hop_s,
            lookahead_s=self.cfg.whisper_lookahead_s, threads=self.cfg.threads,
        )
        self.windows = FeatureWindowBuffer(self.cfg.window)
        self.samples = 0
        self.compute_s = 0.0  # total feature compute time

    @property
    def dim(self) -> int:
        return self.features.dim

    def push(self, samples: np.ndarray) -> list[StreamFrame]:
        """Feed the next chunk (float32 [n] at 16 kHz, n >= 0); returns the frames now ready."""
        x = np.asarray(samples)
        if x.ndim != 1:
            x = x.reshape(-1) if x.ndim == 2 and 1 in x.shape else x
        if x.ndim != 1:
            raise ValueError(f"audio chunks must be mono [n] samples at 16 kHz, got shape {x.shape}.")
        if np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"audio chunks must be float in [-1, 1], got {x.dtype}; divide int16 by 32768.")
        t0 = time.perf_counter()
        vecs = self.features.push(x.astype(np.float32, copy=False))
        self.samples += len(x)
        ready = self.windows.push(vecs)
        self.compute_s += time.perf_counter() - t0
        return self._frames(ready)

    def close(self) -> list[StreamFrame]:
        """End of stream: the remaining frames (the audio's tail, edge-padded windows)."""
        t0 = time.perf_counter()
        ready = self.windows.push(self.features.flush()) + self.windows.close()
        self.compute_s += time.perf_counter() - t0
        return self._frames(ready)

    def _frames(self, ready) -> list[StreamFrame]:
        now = time.monotonic()
        audio_s = self.samples / SAMPLE_RATE
        return [StreamFrame(t, win, audio_s, audio_s - (t + 1) / self.cfg.fps, now) for t, win in ready]


class LatestFrame:
    """A one-slot mailbox between the audio thread and the render thread: `put` replaces the
    waiting frame (counting it in `dropped`), `take` returns the newest frame or None. The render
    thread therefore always draws the freshest audio and never builds a backlog."""

    def __init__(self):
        import threading

        self._lock = threading.Lock()
        self._item = None
        self.dropped = 0
        self.put_count = 0

    def put(self, item) -> None:
        with self._lock:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.put_count += 1

    def take(self):
        with self._lock:
            item, self._item = self._item, None
            return item
