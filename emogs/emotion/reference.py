"""Emotion from a reference: the V/A of a face image, or a V/A trajectory of a clip, by the offline judges.

    traj = va_from_reference("face.jpg")      # VATrajectory with one keyframe
    traj = va_from_reference("clip.mp4")      # keyframes every 1 / sample_fps s, smoothed
    va = traj.at_frames(num_frames, fps)      # [T, 2] to drive a render

Judges (`ReferenceConfig.judge`): "fer" (default: `EmotionJudge`, its approximate V/A; on a real clip
going from crying to laughing it tracks (-0.7, -0.3) -> (0.74, 0.31)), "blendshapes" (MediaPipe's
52 blendshapes -> FACS AUs (`blendshapes.AU_BLENDSHAPES`, x 5 to the 0..5 scale) -> `aus_to_va`, the
V/A model's inverse), or "both" (their mean). Frames without a face are skipped; a reference without
any face is an error that names the file. A clip is read one frame at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .trajectory import VATrajectory

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass
class ReferenceConfig:
    judge: str = "fer"  # fer | blendshapes | both
    sample_fps: float = 5.0  # clip frames judged per second
    smooth_s: float = 0.6  # moving-average window over the judged V/A of a clip (0: none)


def blendshape_va(scores: np.ndarray) -> np.ndarray:
    """Blendshapes [..., 52] -> [..., 2] V/A: their AU cues (0..1, x 5) through the V/A model's inverse."""
    from .blendshapes import au_cues
    from .va_model import aus_to_va

    cues = au_cues(scores)
    names = list(cues)
    return aus_to_va(np.stack([5.0 * cues[n] for n in names], -1), names)


class ReferenceJudge:
    """rgb [H, W, 3] uint8 -> V/A [2] of its face, or None without a face."""

    def __init__(self, judge: str = "fer"):
        if judge not in ("fer", "blendshapes", "both"):
            raise ValueError(f"reference judge must be 'fer', 'blendshapes' or 'both'; got {judge!r}")
        from emogs.face.landmarks import FaceMeshDetector

        self.kind = judge
        self.det = FaceMeshDetector(video_mode=False, max_faces=1)
        self.fer = self.bs = None
        if judge in ("fer", "both"):
            from .judge import EmotionJudge

            self.fer = EmotionJudge()
        if judge in ("blendshapes", "both"):
            from .blendshapes import BlendshapeDetector

            self.bs = BlendshapeDetector()

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        faces = self.det(rgb)
        if not faces:
            return None
        out = []
        if self.fer is not None:
            out.append(np.asarray(self.fer(rgb, points478=faces[0].points).va, np.float64).reshape(2))
        if self.bs is not None:
            s = self.bs(rgb)
            if np.all(np.isfinite(s)):
                out.append(blendshape_va(s))
        return np.mean(out, 0) if out else None

    def close(self) -> None:
        self.det.close()
        if self.bs is not None:
            self.bs.close()


def _clip_frames(path: Path, sample_fps: float):
    """(time_s, rgb) of the frames of a clip nearest to every 1 / sample_fps s, read one at a time."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"{path}: not a readable image or video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, int(round(fps / sample_fps)))
    i = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if i % step == 0:
                yield i / fps, np.ascontiguousarray(bgr[..., ::-1])
            i += 1
    finally:
        cap.release()


def _smooth(times: np.ndarray, va: np.ndarray, window_s: float) -> np.ndarray:
    """Centred moving average of keyframes va [K, 2] over `window_s` seconds (radius kept <= 1)."""
    if window_s <= 0 or len(times) < 3:
        return va
    out = np.stack([va[np.abs(times - t) <= window_s / 2].mean(0) for t in times])
    r = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(r, 1.0)


def va_from_reference(path: str | Path, config: ReferenceConfig | None = None,
                      judge: ReferenceJudge | None = None) -> VATrajectory:
    """The judged V/A of a face image (one keyframe at t = 0) or of a clip (a keyframe per judged frame,
    times from the clip's start, smoothed) -> `VATrajectory`."""
    import cv2

    cfg = config or ReferenceConfig()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"emotion reference not found: {path}")
    own = judge is None
    judge = judge or ReferenceJudge(cfg.judge)
    try:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            bgr = cv2.imread(str(path))
            if bgr is None:
                raise ValueError(f"{path}: not a readable image")
            va = judge(np.ascontiguousarray(bgr[..., ::-1]))
            if va is None:
                raise ValueError(f"{path}: no face found in the emotion reference; use a photo with a face")
            return VATrajectory(np.zeros(1), np.clip(va[None], -1, 1))
        times, vas = [], []
        for t, rgb in _clip_frames(path, cfg.sample_fps):
            va = judge(rgb)
            if va is not None:
                times.append(t)
                vas.append(va)
    finally:
        if own:
            judge.close()
    if not vas:
        raise ValueError(f"{path}: no face found in any judged frame of the emotion reference clip")
    t = np.asarray(times)
    return VATrajectory(t, np.clip(_smooth(t, np.asarray(vas), cfg.smooth_s), -1, 1))


def va_from_reference_cli(path: str | Path, flag: str = "--emotion-from") -> VATrajectory:
    """`va_from_reference` for command-line tools: a missing file or a reference without a face prints
    `error: FLAG: ...` on stderr and exits with code 2, without a traceback."""
    import sys

    try:
        return va_from_reference(path)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {flag}: {err}", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = ["ReferenceConfig", "ReferenceJudge", "blendshape_va", "va_from_reference", "va_from_reference_cli"]
