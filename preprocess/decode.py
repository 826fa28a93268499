"""Decode a video with PyAV (no ffmpeg binary): constant frame rate, rotation, face-track crop, audio.

Two streaming passes, never holding the video in RAM:
1. low resolution: pick output frames by timestamp, detect faces (MediaPipe face detection, full
   range) on every k-th one, keep only boxes -> a stabilised square crop track;
2. full resolution: crop + resize every picked frame straight into the `frames.npy` memmap.

Frame picking: output frame i (time i / fps) shows the source frame on screen at that time, i.e.
the last source frame whose timestamp is <= i / fps. This handles any source fps and variable
frame rate. T = ceil(duration * fps) (the output times in [0, duration)), duration = last
timestamp + one median frame interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .errors import NoAudioError, NoFaceError, UnreadableVideoError, VideoTooShortError, format_ranges

T_in = TypeVar("T_in")
T_out = TypeVar("T_out")


@dataclass
class VideoInfo:
    path: str
    width: int  # after rotation
    height: int
    fps: float  # average source fps
    duration_s: float
    rotation: int  # degrees, counter-clockwise rotation applied to display the frames
    has_audio: bool


def _open(path):
    import av

    path = Path(path)
    if not path.exists():
        raise UnreadableVideoError(f"{path} does not exist", "check the path of the video")
    try:
        container = av.open(str(path))
    except Exception as err:
        raise UnreadableVideoError(f"{path} is not a readable video ({type(err).__name__}: {err})",
                                   "give a video file (mp4, mov, mkv, webm, avi...); "
                                   "re-encode it if it is damaged") from err
    if not container.streams.video:
        container.close()
        raise UnreadableVideoError(f"{path} has no video stream",
                                   "give a video file, not an audio or image file")
    return container


def probe(path) -> VideoInfo:
    """Read the container header (and the first frame, for the rotation)."""
    container = _open(path)
    try:
        vs = container.streams.video[0]
        fps = float(vs.average_rate) if vs.average_rate else 0.0
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration = container.duration / 1e6
        else:
            duration = 0.0
        rotation = 0
        try:
            first = next(container.decode(video=0))
            rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
            w, h = first.width, first.height
        except StopIteration as err:
            raise UnreadableVideoError(f"{path}: the video stream has no decodable frame",
                                       "re-encode the video") from err
        except UnreadableVideoError:
            raise
        except Exception as err:
            raise UnreadableVideoError(f"{path}: cannot decode the video stream ({err})",
                                       "re-encode the video (e.g. to H.264 mp4)") from err
        if rotation % 180 == 90:
            w, h = h, w
        return VideoInfo(str(path), int(w), int(h), fps, duration, rotation, bool(container.streams.audio))
    finally:
        container.close()


def _rotate(img: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def iter_frames(path, fps: float, rotation: int = 0,
                width: int | None = None, every: int = 1) -> Iterator[tuple[int, np.ndarray | None]]:
    """Yield (output index, RGB uint8 [H,W,3]) at a constant `fps`, frames picked by timestamp.

    `width`: decode at this width (after rotation; aspect kept) for a cheap pass.
    `every`: only output indices divisible by it get an image; the others yield None (the video is
    still decoded, but not converted to RGB: cheaper for a pass that looks at every k-th frame).
    """
    if int(every) < 1:
        raise ValueError(f"every must be >= 1 (1 = every frame), got {every}")
    container = _open(path)
    try:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        prev, prev_img, t0, last_t, i = None, None, None, None, 0
        dts = []

        def convert(frame):
            if width is None:
                img = frame.to_ndarray(format="rgb24")
            else:
                rw, rh = (frame.height, frame.width) if rotation % 180 == 90 else (frame.width, frame.height)
                h = max(2, int(round(rh * width / rw)))
                fw, fh = (h, width) if rotation % 180 == 90 else (width, h)
                img = frame.to_ndarray(format="rgb24", width=fw, height=fh)
            return _rotate(img, rotation)

        def hold(until):
            """Output indices i with i / fps < `until` (s): the held frame `prev`, converted once."""
            nonlocal i, prev_img
            while i / fps < until - 1e-6:
                if i % every:
                    yield i, None
                else:
                    if prev_img is None:
                        prev_img = convert(prev)
                    yield i, prev_img
                i += 1

        for frame in container.decode(video=0):
            t = frame.time
            if t is None:
                continue
            if t0 is None:
                t0 = t
            t -= t0
            if last_t is not None and t > last_t:
                dts.append(t - last_t)
            if prev is not None:
                yield from hold(t)
            if prev is None or t > (last_t if last_t is not None else -1):
                prev, prev_img, last_t = frame, None, t
        if prev is not None:
            yield from hold(last_t + (float(np.median(dts)) if dts else 1.0 / fps))
    except UnreadableVideoError:
        raise
    except Exception as err:
        import av

        if isinstance(err, av.error.FFmpegError):
            raise UnreadableVideoError(f"{path}: decoding failed at output frame {i} ({err})",
                                       "re-encode the video (e.g. to H.264 mp4)") from err
        raise
    finally:
        container.close()


def decode_audio(path, sample_rate: int = 16000) -> np.ndarray | None:
    """The first audio track as float32 mono [N] at `sample_rate`, or None if there is none.
    Starts at the first video frame's time (audio and frames share t = 0)."""
    import av

    container = _open(path)
    try:
        if not container.streams.audio:
            return None
        vstart = container.streams.video[0].start_time
        vtb = container.streams.video[0].time_base
        v0 = float(vstart * vtb) if vstart is not None and vtb is not None else 0.0
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        chunks, a0 = [], None
        for frame in container.decode(audio=0):
            if a0 is None:
                a0 = frame.time if frame.time is not None else v0
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
        if not chunks:
            return np.zeros(0, np.float32)
        audio = np.concatenate(chunks).astype(np.float32) / 32768.0
        shift = int(round(((a0 or 0.0) - v0) * sample_rate))
        if shift > 0:  # audio starts after the video: pad
            audio = np.concatenate([np.zeros(shift, np.float32), audio])
        elif shift < 0:
            audio = audio[-shift:]
        return audio
    finally:
        container.close()


def prefetch_map(fn: Callable[[T_in], T_out], items: Iterable[T_in], ahead: int = 8) -> Iterator[T_out]:
    """Yield ``fn(item)`` for each item, in order; ``fn`` runs on one worker thread, up to `ahead`
    items in advance, while this thread produces the items (e.g. decodes the video). A gain when both
    release the GIL (FFmpeg decoding, MediaPipe graphs). Exceptions of ``fn`` are raised here, in order.
    RAM: at most `ahead` items and results in flight."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="prefetch_map")
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# face track -> crop
# ---------------------------------------------------------------------------------------------
@dataclass
class FaceTrack:
    """Per output frame (source pixels, after rotation): face centre [T,2], face box side [T],
    detected [T] bool (False = interpolated), and the largest number of faces seen at once."""

    centers: np.ndarray
    sides: np.ndarray
    detected: np.ndarray
    max_faces: int
    num_frames: int


def detect_face_track(path, info: VideoInfo, fps: float, detect_width: int = 320, every: int = 2,
                      progress: bool = False) -> FaceTrack:
    """First pass: face boxes on a low-resolution decode, following the largest consistent face."""
    from emogs.face.landmarks import _quiet_mediapipe

    _quiet_mediapipe()
    import mediapipe as mp
    from tqdm import tqdm

    scale = info.width / min(detect_width, info.width)
    det = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    centers, sides, found = [], [], []
    max_faces = 0
    prev = None
    total = int(info.duration_s * fps) or None

    def detect(item):
        _, img = item
        if img is None:  # not a detection frame
            return None
        h, w = img.shape[:2]
        res = det.process(img)
        boxes = []
        for d in res.detections or []:
            b = d.location_data.relative_bounding_box
            cx, cy = (b.xmin + b.width / 2) * w, (b.ymin + b.height / 2) * h
            boxes.append((cx, cy, max(b.width * w, b.height * h)))
        return boxes

    frames = iter_frames(path, fps, info.rotation, width=min(detect_width, info.width), every=every)
    # the detector (one graph: one thread) runs while this thread decodes the next frames
    detections = prefetch_map(detect, frames)
    try:
        for boxes in tqdm(detections, total=total, desc="decode: face track", disable=not progress,
                          leave=False):
            if boxes is None:
                centers.append((np.nan, np.nan))
                sides.append(np.nan)
                found.append(False)
                continue
            max_faces = max(max_faces, len(boxes))
            pick = None
            if boxes:
                if prev is None:
                    pick = max(boxes, key=lambda b: b[2])
                else:
                    dist = [np.hypot(b[0] - prev[0], b[1] - prev[1]) / prev[2] for b in boxes]
                    k = int(np.argmin(dist))
                    # the same person: near the previous position; else keep the largest if it is big
                    pick = boxes[k] if dist[k] < 1.0 else None
            if pick is None:
                centers.append((np.nan, np.nan))
                sides.append(np.nan)
                found.append(False)
            else:
                prev = pick
                centers.append((pick[0] * scale, pick[1] * scale))
                sides.append(pick[2] * scale)
                found.append(True)
    finally:
        detections.close()  # waits for the detector thread
        frames.close()
        det.close()
    T = len(found)
    return FaceTrack(np.array(centers, np.float64).reshape(T, 2), np.array(sides, np.float64),
                     np.array(found),
                     max_faces, T)


def _gauss_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0 with edge reflection."""
    if sigma <= 0 or len(x) < 2:
        return x
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma, axis=0, mode="nearest")


def crop_track(track: FaceTrack, info: VideoInfo, fps: float, margin: float, smooth_s: float,
               detect_every: int = 2, min_face_fraction: float = 0.5) -> np.ndarray:
    """Stabilised square crops [T, 3] = (x0, y0, side) in source pixels, constant side.

    Raises NoFaceError (with the time ranges without a face) when too few frames have a face.
    """
    T = track.num_frames
    tried = np.zeros(T, bool)
    tried[::detect_every] = True
    n_tried = int(tried.sum())
    n_found = int(track.detected.sum())
    if n_found == 0:
        raise NoFaceError(f"{info.path}: no face found in any of {n_tried} checked frames",
                          "give a video showing one person's face, reasonably frontal and lit")
    if n_found < min_face_fraction * n_tried:
        # report ranges on the checked frames, spread to their neighbours
        missing = np.zeros(T, bool)
        idx = np.flatnonzero(tried & ~track.detected)
        for k in range(detect_every):
            missing[np.clip(idx + k, 0, T - 1)] = True
        raise NoFaceError(
            f"{info.path}: a face was found in only {n_found}/{n_tried} checked frames "
            f"(no face at {format_ranges(missing, fps)})",
            "cut the video to the part where the face is visible, or lower --min-face-fraction",
        )
    t = np.arange(T)
    good = np.flatnonzero(track.detected)
    cx = np.interp(t, good, track.centers[good, 0])
    cy = np.interp(t, good, track.centers[good, 1])
    side = float(np.median(track.sides[good])) * margin
    side = min(side, info.width, info.height)
    sigma = smooth_s * fps
    cx, cy = _gauss_smooth(cx, sigma), _gauss_smooth(cy, sigma)
    cy = cy + 0.06 * side  # the face sits a little above the crop centre: keep neck / shoulders
    x0 = np.clip(cx - side / 2, 0, info.width - side)
    y0 = np.clip(cy - side / 2, 0, info.height - side)
    return np.stack([x0, y0, np.full(T, side)], -1)


def crop_resize(img: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """Square crop (integer-aligned) resized to [size, size, 3] (area filter when shrinking)."""
    import cv2

    xi, yi, s = int(round(x0)), int(round(y0)), int(round(side))
    h, w = img.shape[:2]
    xi, yi = min(max(xi, 0), max(w - s, 0)), min(max(yi, 0), max(h - s, 0))
    patch = img[yi:yi + s, xi:xi + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def check_audio(path, info: VideoInfo, no_audio: bool) -> None:
    if not info.has_audio and not no_audio:
        raise NoAudioError(f"{path} has no audio track",
                           "give a video with speech, or pass --no-audio to build a dataset without audio "
                           "(audio features will be zeros; the avatar cannot be driven by this video's "
                           "speech)")


def check_length(path, num_frames: int, min_frames: int, fps: float) -> None:
    if num_frames < min_frames:
        raise VideoTooShortError(
            f"{path} gives only {num_frames} frames at {fps:g} fps (need at least {min_frames})",
            "use a longer video (a few minutes of talking is recommended)")
