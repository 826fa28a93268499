"""Streaming MP4 writer (H.264 video + AAC mono audio) with PyAV, and a reader for checks."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


class ClipWriter:
    """Write RGB frames one by one and the matching audio, muxed into one MP4.

    Use as a context manager. ``add_frame(rgb, audio_chunk)``: rgb uint8 [H, W, 3] (H, W even),
    audio_chunk float32 [n] in [-1, 1], the samples that play during this frame.
    """

    def __init__(self, path: str, size: tuple[int, int], fps: int = 25, sample_rate: int = 16000,
                 crf: int = 23, preset: str = "medium", audio_bitrate: int = 48000):
        import av

        h, w = size
        if h % 2 or w % 2:
            raise ValueError(f"H.264 (yuv420p) needs an even frame size, got {w}x{h}.")
        if int(fps) != fps:
            raise ValueError(f"fps must be an integer here, got {fps}.")
        self._av = av
        self.container = av.open(path, "w")
        self.video = self.container.add_stream("libx264", rate=int(fps))
        self.video.width, self.video.height = w, h
        self.video.pix_fmt = "yuv420p"
        self.video.options = {"crf": str(int(crf)), "preset": preset}
        self.audio = self.container.add_stream("aac", rate=sample_rate)
        self.audio.layout = "mono"
        self.audio.bit_rate = audio_bitrate
        self.sample_rate = sample_rate
        self.size = size
        self._pts = 0
        self._apts = 0
        self._fifo = av.AudioFifo()

    def add_frame(self, rgb: np.ndarray, audio_chunk: np.ndarray | None = None) -> None:
        if rgb.shape != (*self.size, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {(*self.size, 3)}, got {rgb.dtype} {rgb.shape}.")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._pts
        self._pts += 1
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        if audio_chunk is not None and len(audio_chunk):
            self._push_audio(np.asarray(audio_chunk, np.float32))

    def _push_audio(self, chunk: np.ndarray) -> None:
        pcm = np.round(np.clip(chunk, -1, 1) * 32767).astype(np.int16)[None]
        af = self._av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        af.sample_rate = self.sample_rate
        af.pts = self._apts
        af.time_base = Fraction(1, self.sample_rate)
        self._apts += pcm.shape[1]
        self._fifo.write(af)
        self._drain(final=False)

    def _drain(self, final: bool) -> None:
        n = self.audio.codec_context.frame_size or 1024
        while True:
            af = self._fifo.read(n, partial=final)
            if af is None:
                break
            for packet in self.audio.encode(af):
                self.container.mux(packet)

    def close(self) -> None:
        if self.container is None:
            return
        self._drain(final=True)
        for packet in self.video.encode(None):
            self.container.mux(packet)
        for packet in self.audio.encode(None):
            self.container.mux(packet)
        self.container.close()
        self.container = None

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_clip(path: str, max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Decode an MP4 -> (frames uint8 [T, H, W, 3], mono audio float32 [N], fps, sample_rate)."""
    import av

    frames, audio = [], []
    with av.open(path) as c:
        vs = c.streams.video[0]
        fps = float(vs.average_rate)
        for f in c.decode(vs):
            frames.append(f.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    sr = 0
    with av.open(path) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            sr = a.codec_context.sample_rate
            for f in c.decode(a):
                x = f.to_ndarray()
                audio.append(x.mean(0) if x.ndim == 2 else x)
    audio_arr = np.concatenate(audio).astype(np.float32) if audio else np.zeros(0, np.float32)
    return np.stack(frames), audio_arr, fps, sr


def read_frames(path: str, indices) -> dict[int, np.ndarray]:
    """Decode only the frames ``indices`` of an MP4 (streaming) -> {index: rgb uint8 [H, W, 3]}."""
    import av

    want = set(int(i) for i in indices)
    out: dict[int, np.ndarray] = {}
    with av.open(path) as c:
        for k, f in enumerate(c.decode(video=0)):
            if k in want:
                out[k] = f.to_ndarray(format="rgb24")
                if len(out) == len(want):
                    break
    return out
