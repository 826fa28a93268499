"""Reading (streamed) and writing videos with PyAV (H.264 in MP4, optional mono audio track)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np


def _to_uint8(frame) -> np.ndarray:
    a = frame.detach().cpu().numpy() if hasattr(frame, "detach") else np.asarray(frame)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"video frames must be [H,W,3] RGB, got shape {a.shape}.")
    return np.ascontiguousarray(a)


def write_video(
    path: str | Path,
    frames: Iterable,
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    crf: int = 18,
) -> Path:
    """Encode `frames` ([H,W,3] uint8 or float in [0,1], numpy or torch) to `path`.

    `audio`: float32 [N] mono in [-1,1] at `sample_rate`, muxed as AAC. Frames are streamed, so
    memory does not grow with the video length. Odd frame sizes are padded to even (H.264).
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    with av.open(str(path), mode="w") as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast"}
        aus = None
        if audio is not None:
            aus = out.add_stream("aac", rate=int(sample_rate))
            aus.layout = "mono"
        for frame in frames:
            a = _to_uint8(frame)
            h, w = a.shape[:2]
            if h % 2 or w % 2:
                a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            if n == 0:
                vs.width, vs.height = a.shape[1], a.shape[0]
            vf = av.VideoFrame.from_ndarray(a, format="rgb24")
            for pkt in vs.encode(vf):
                out.mux(pkt)
            n += 1
        if n == 0:
            raise ValueError("write_video got no frames.")
        for pkt in vs.encode():
            out.mux(pkt)
        if aus is not None:
            samples = np.asarray(audio, dtype=np.float32).reshape(1, -1)
            step = 1024
            pts = 0
            for i in range(0, samples.shape[1], step):
                chunk = np.ascontiguousarray(samples[:, i : i + step])
                af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                af.sample_rate = int(sample_rate)
                af.pts = pts
                pts += chunk.shape[1]
                for pkt in aus.encode(af):
                    out.mux(pkt)
            for pkt in aus.encode():
                out.mux(pkt)
    return path


def video_fps(path: str | Path) -> float:
    """The video stream's average frame rate (0.0 when the container does not say)."""
    import av

    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate
    return float(rate) if rate else 0.0


def iter_video_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Stream a video's frames as uint8 [H,W,3] RGB, one at a time (never the whole video in RAM)."""
    import av

    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            yield f.to_ndarray(format="rgb24")


def read_video_frames(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a video to uint8 [T,H,W,3] (for tests and small clips)."""
    frames = []
    for f in iter_video_frames(path):
        frames.append(f)
        if max_frames and len(frames) >= max_frames:
            break
    return np.stack(frames)
