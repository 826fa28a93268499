"""Streaming audio features: the live-input twin of `emogs.audio.features.extract_audio_features`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import (
    EXTRACTORS,
    FEATURE_DIMS,
    HOP,
    MEL_RATE,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    WHISPER_RATE,
    mel_filterbank,
    whisper_encode_window,
)


@dataclass
class StreamingAudioFeatures:
    """Chunk-by-chunk audio features for live input.

    ``push(samples)`` returns the vectors [n, D] of the video frames completed by the new audio
    (possibly n = 0); ``flush()`` returns the rest at end of stream (zero-padded).
    - logmel: identical to ``extract_audio_features(..., "logmel")`` on the whole stream.
    - whisper: each call re-encodes the trailing ``context_s`` of audio once at least ``hop_s``
      of new audio arrived and emits the frames ending ``lookahead_s`` before the newest sample
      (latency ~ hop_s + lookahead_s); close to, not identical to, the offline windows.
    """

    fps: float
    extractor: str = "logmel"
    hop_s: float = 1.0
    lookahead_s: float = 0.2
    context_s: float = 30.0
    threads: int = 0

    def __post_init__(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"unknown audio extractor {self.extractor!r}; choose one of {EXTRACTORS}.")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}.")
        if not 0 < self.context_s <= 30.0:
            raise ValueError("context_s must be in (0, 30] seconds (one Whisper window).")
        self._buf = np.zeros(0, dtype=np.float32)  # kept audio, starting at global sample self._buf_start
        self._buf_start = 0
        self._received = 0
        self._next_frame = 0
        self._last_encode = 0
        self._mel = np.zeros((0, N_MELS), dtype=np.float32)  # logmel frames from global index self._mel_start
        self._mel_start = 0

    @property
    def dim(self) -> int:
        return FEATURE_DIMS[self.extractor]

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(samples)):
            raise ValueError("audio chunk contains NaN or Inf samples.")
        self._buf = np.concatenate([self._buf, samples])
        self._received += len(samples)
        if self.extractor == "logmel":
            return self._logmel_step(final=False)
        return self._whisper_step(final=False)

    def flush(self) -> np.ndarray:
        """Emit all remaining frames up to the end of the received audio (zero-padded past it)."""
        if self.extractor == "logmel":
            return self._logmel_step(final=True)
        return self._whisper_step(final=True)

    # -- logmel: exact, incremental STFT
    def _logmel_step(self, final: bool) -> np.ndarray:
        # mel frame m needs samples [m*HOP - 200, m*HOP + 200)
        end = self._received
        if final:
            total_frames = int(np.ceil(end / SAMPLE_RATE * self.fps - 1e-9))
            avail_mel = end // HOP + 1
        else:
            avail_mel = max(0, (end - N_FFT // 2) // HOP + 1)
            total_frames = None
        have = self._mel_start + len(self._mel)
        if avail_mel > have:
            # samples needed for mel frames [have, avail_mel)
            s0 = have * HOP - N_FFT // 2
            chunk = self._slice(s0, (avail_mel - 1) * HOP + N_FFT // 2)
            idx = np.arange(N_FFT)[None, :] + HOP * np.arange(avail_mel - have)[:, None]
            window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
            spec = np.fft.rfft(chunk[idx] * window, axis=1)
            power = (spec.real**2 + spec.imag**2).astype(np.float32)
            mel = np.log10(np.maximum(power @ mel_filterbank().T, 1e-10)).astype(np.float32)
            self._mel = np.concatenate([self._mel, mel])
        # video frame t needs mel frames up to ceil((t + 1) / fps * 100 + 0.5)
        have = self._mel_start + len(self._mel)
        if final:
            last = total_frames
        else:
            # frame t is complete when its interval end (t + 1) / fps * 100 + 0.5 <= have
            last = max(0, int(np.floor((have - 0.5) * self.fps / MEL_RATE + 1e-9)))
        out = self._emit_from_mel(last, final)
        return out

    def _emit_from_mel(self, last: int, final: bool) -> np.ndarray:
        n = last - self._next_frame
        if n <= 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # box integration needs the global frame offset: shift positions by mel_start
        t = np.arange(self._next_frame, last, dtype=np.float64)
        feats = self._mel.astype(np.float64)
        f = len(feats)
        csum = np.concatenate([np.zeros((1, feats.shape[1])), np.cumsum(feats, axis=0)], axis=0)

        def integral(x: np.ndarray) -> np.ndarray:
            above = np.maximum(x - f, 0.0)
            xc = np.clip(x, 0.0, f)
            i = np.minimum(np.floor(xc).astype(np.int64), f - 1)
            return csum[i] + (xc - i)[:, None] * feats[i] + above[:, None] * feats[-1]

        a = t / self.fps * MEL_RATE + 0.5 - self._mel_start
        b = (t + 1.0) / self.fps * MEL_RATE + 0.5 - self._mel_start
        out = ((integral(b) - integral(a)) / (b - a)[:, None]).astype(np.float32)
        self._next_frame = last
        # drop mel frames no later frame needs
        keep_from = int(np.floor(last / self.fps * MEL_RATE + 0.5)) - 1
        drop = max(0, keep_from - self._mel_start)
        if drop:
            self._mel = self._mel[drop:]
            self._mel_start += drop
        self._trim_buffer((self._mel_start + len(self._mel)) * HOP - N_FFT)
        return out

    def _slice(self, s0: int, s1: int) -> np.ndarray:
        """Global samples [s0, s1) (zeros outside the received audio)."""
        out = np.zeros(s1 - s0, dtype=np.float32)
        lo, hi = max(s0, self._buf_start), min(s1, self._buf_start + len(self._buf))
        if hi > lo:
            out[lo - s0 : hi - s0] = self._buf[lo - self._buf_start : hi - self._buf_start]
        return out

    def _trim_buffer(self, keep_from: int) -> None:
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop

    # -- whisper: re-encode the trailing context
    def _whisper_step(self, final: bool) -> np.ndarray:
        end = self._received
        if not final and end - self._last_encode < self.hop_s * SAMPLE_RATE:
            return np.zeros((0, self.dim), dtype=np.float32)
        ctx = int(self.context_s * SAMPLE_RATE)
        s0 = max(0, end - ctx)
        s0 -= s0 % 320  # keep 50 Hz frames on the global grid
        seg = self._slice(s0, end)
        enc = whisper_encode_window(seg, self.threads)[: max(1, -(-len(seg) // 320))]
        if final:
            last = int(np.ceil(end / SAMPLE_RATE * self.fps - 1e-9))
        else:
            last = int(np.floor((end / SAMPLE_RATE - self.lookahead_s) * self.fps))
        self._last_encode = end
        n = last - self._next_frame
        if n <= 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        first_time = self._next_frame / self.fps
        if first_time < s0 / SAMPLE_RATE:
            raise RuntimeError(
                "StreamingAudioFeatures: frames fell out of the context window; push smaller chunks "
                "or raise context_s."
            )
        # resample relative to the segment start (s0 is a multiple of 320 -> integer 50 Hz offset)
        out = _box_shifted(enc, WHISPER_RATE, self._next_frame, last, self.fps, s0 // 320)
        self._next_frame = last
        self._trim_buffer(max(0, end - ctx))
        return out


def _box_shifted(feats: np.ndarray, rate: float, t0: int, t1: int, fps: float, offset: int) -> np.ndarray:
    """``frames_to_video_rate`` for frames [t0, t1) when ``feats[0]`` is global source frame ``offset``."""
    shift = offset / rate * fps  # express the source offset in video frames
    # evaluate with a local time origin: frame t -> local position t - shift (may be fractional)
    feats = np.asarray(feats, dtype=np.float64)
    f = feats.shape[0]
    csum = np.concatenate([np.zeros((1, feats.shape[1])), np.cumsum(feats, axis=0)], axis=0)

    def integral(x: np.ndarray) -> np.ndarray:
        below = np.minimum(x, 0.0)
        above = np.maximum(x - f, 0.0)
        xc = np.clip(x, 0.0, f)
        i = np.minimum(np.floor(xc).astype(np.int64), f - 1)
        return csum[i] + (xc - i)[:, None] * feats[i] + below[:, None] * feats[0] + above[:, None] * feats[-1]

    t = np.arange(t0, t1, dtype=np.float64) - shift
    a = t / fps * rate + 0.5
    b = (t + 1.0) / fps * rate + 0.5
    return ((integral(b) - integral(a)) / (b - a)[:, None]).astype(np.float32)


# ----------------------------------------------------------------------------- importer
