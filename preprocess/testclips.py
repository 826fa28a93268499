"""Short talking-head test clips made on the spot (tests, benchmarks, demos).

The face is `skimage.data.astronaut()` (a real, public-domain portrait) moved by a small smooth
affine motion, with the mouth opened and closed by a local vertical stretch driven by the speech
loudness; the speech comes from espeak-ng (a silent track or none at all when asked). Encoded with
PyAV (H.264 + AAC in mp4 by default).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

SPEECH = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
          "Peter Piper picked a peck of pickled peppers. How much wood would a woodchuck chuck.")

# the astronaut's face in the 512x512 photo, measured once with the face mesh: centre of the mouth
# and the lips' half width; centre and width of the face
_MOUTH = (223.0, 146.5, 21.5)
_FACE = (224.0, 122.0, 92.0)


def speech_wav(text: str = SPEECH, seconds: float | None = None, sample_rate: int = 16000) -> np.ndarray:
    """espeak-ng speech as float32 mono [N] at `sample_rate` (looped / cut to `seconds`)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed: `apt-get install espeak-ng` (see README)")
    from scipy.signal import resample_poly

    from .io_utils import load_wav

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "s.wav"
        subprocess.run([exe, "-s", "160", "-w", str(out), text], check=True, capture_output=True)
        wav, sr = load_wav(out)
    if sr != sample_rate:
        g = np.gcd(sr, sample_rate)
        wav = resample_poly(wav, sample_rate // g, sr // g).astype(np.float32)
    if seconds is not None:
        n = int(seconds * sample_rate)
        reps = int(np.ceil(n / max(len(wav), 1)))
        wav = np.tile(wav, reps)[:n]
    return wav.astype(np.float32)


def _envelope(wav: np.ndarray, sample_rate: int, times: np.ndarray) -> np.ndarray:
    win = int(0.04 * sample_rate)
    out = np.zeros(len(times))
    for i, t in enumerate(times):
        a = int(t * sample_rate)
        seg = wav[max(0, a - win // 2): a + win // 2]
        out[i] = np.sqrt(np.mean(seg**2)) if len(seg) else 0.0
    return out / (out.max() + 1e-9)


def render_frame(t: float, width: int, height: int, mouth_open: float = 0.0, motion: float = 1.0,
                 face_scale: float = 0.3, face_xy: tuple[float, float] = (0.5, 0.45),
                 base: np.ndarray | None = None) -> np.ndarray:
    """One RGB uint8 frame [height, width, 3]: the portrait placed at `face_xy` (fractions of the frame)
    scaled so the face is `face_scale` x the frame height wide, rotated / shifted smoothly in t."""
    import cv2
    import skimage.data

    img = skimage.data.astronaut() if base is None else base
    if mouth_open > 0:
        mx, my, hw = _MOUTH
        img = img.copy()
        ys, xs = np.mgrid[0:512, 0:512].astype(np.float32)
        w = np.clip(1 - ((xs - mx) / (hw * 1.4)) ** 2 - ((ys - my) / (hw * 1.2)) ** 2, 0, 1) ** 2
        # a vertical stretch away from the lips' line: opens the mouth (dark cavity from the lip gap)
        dy = w * mouth_open * 6.0 * np.tanh((ys - my) / 4.0)
        img = cv2.remap(img, xs, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        gap = (np.abs(ys - my) < mouth_open * 5.0 * w) & (w > 0.2)
        img[gap] = (img[gap] * 0.25).astype(np.uint8)
    s = face_scale * height / _FACE[2]
    ang = motion * (4.0 * np.sin(2 * np.pi * 0.4 * t))
    dx = motion * 0.02 * width * np.sin(2 * np.pi * 0.25 * t)
    dy = motion * 0.015 * height * np.sin(2 * np.pi * 0.33 * t + 1)
    M = cv2.getRotationMatrix2D((_FACE[0], _FACE[1]), ang, s)
    M[0, 2] += face_xy[0] * width - _FACE[0] + dx
    M[1, 2] += face_xy[1] * height - _FACE[1] + dy
    bg = np.zeros((height, width, 3), np.uint8)
    bg[:] = (30, 60, 90)
    return cv2.warpAffine(img, M, (width, height), dst=bg, borderMode=cv2.BORDER_TRANSPARENT)


def make_clip(path: str | Path, seconds: float = 3.0, width: int = 256, height: int = 256, fps: float = 25.0,
              audio: str = "speech", motion: float = 1.0, face_visible=None, second_face: bool = False,
              vfr: bool = False, codec: str = "libx264", sample_rate: int = 16000, face_xy=None,
              rotation: int = 0, channels: int = 1) -> Path:
    """Write a test clip and return its path.

    audio: "speech" (espeak-ng), "silence" or "none" (no audio track).
    face_visible: optional callable t -> bool; frames where it is False show no face.
    second_face: add a smaller second face in a corner.
    vfr: variable frame rate (timestamps jitter between 0.5 and 1.5 frame intervals).
    face_xy: optional callable t -> (x, y) face position as fractions of the frame (default centre).
    rotation: a phone video's rotation metadata (degrees counter-clockwise, 90 / 180 / 270): the frames
    are stored turned the other way, so a player (and the decoder) shows them upright at width x height.
    channels: 1 (mono) or 2 (stereo: the speech on the left, half of it on the right).
    """
    import av

    path = Path(path)
    T = int(round(seconds * fps))
    wav = speech_wav(seconds=seconds, sample_rate=sample_rate) if audio == "speech" else \
        np.zeros(int(seconds * sample_rate), np.float32)
    rng = np.random.default_rng(0)
    if vfr:
        dts = rng.uniform(0.5, 1.5, T) / fps
        times = np.concatenate([[0.0], np.cumsum(dts)[:-1]])
        times *= (T - 1) / fps / max(times[-1], 1e-9)
    else:
        times = np.arange(T) / fps
    env = _envelope(wav, sample_rate, times) if audio == "speech" else np.zeros(T)
    tb = Fraction(1, 1000) if vfr else Fraction(1, int(round(fps)))
    k = (int(rotation) // 90) % 4
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=int(round(fps)))
        vs.width, vs.height = (height, width) if k % 2 else (width, height)
        vs.pix_fmt = "yuv420p"
        if k:
            vs.set_display_rotation(90 * k)
        vs.time_base = tb
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "crf": "18"}
        as_ = None
        if audio != "none":
            as_ = out.add_stream("aac", rate=sample_rate)
            as_.layout = "stereo" if channels == 2 else "mono"
        import skimage.data

        base = skimage.data.astronaut()
        for i, t in enumerate(times):
            if face_visible is not None and not face_visible(t):
                img = np.zeros((height, width, 3), np.uint8)
                img[:] = (30, 60, 90)
            else:
                xy = (0.5, 0.45) if face_xy is None else face_xy(t)
                img = render_frame(t, width, height, mouth_open=float(env[i]), motion=motion, base=base,
                                   face_xy=xy)
                if second_face:
                    small = render_frame(t, width, height, motion=0.0, face_scale=0.12, face_xy=(0.85, 0.2),
                                         base=base)
                    region = small.sum(-1) != 30 + 60 + 90
                    img[region] = small[region]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.rot90(img, -k)), format="rgb24")
            frame.pts = int(round(t / tb))
            frame.time_base = tb
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if as_ is not None:
            chunk = 1024
            s16 = np.clip(wav * 32767, -32768, 32767).astype(np.int16)
            if channels == 2:  # packed s16: interleaved left / right samples
                s16 = np.stack([s16, s16 // 2], -1).reshape(-1)
            for j in range(0, len(wav), chunk):
                fr = av.AudioFrame.from_ndarray(s16[None, j * channels:(j + chunk) * channels], format="s16",
                                                layout="stereo" if channels == 2 else "mono")
                fr.sample_rate = sample_rate
                fr.pts = j
                for p in as_.encode(fr):
                    out.mux(p)
            for p in as_.encode():
                out.mux(p)
    return path
