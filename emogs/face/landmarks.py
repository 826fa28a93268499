"""Face landmarks: MediaPipe 478-point face mesh (with iris), the 478 -> iBUG-68 mapping, temporal
smoothing and gap filling.

Conventions (docs/dataset.md): x, y in pixels of the input image (origin at the top-left corner of
the top-left pixel), z = MediaPipe's relative depth multiplied by the image width (so z is in pixel
units, smaller = closer to the camera). "Left" / "right" are the *person's* left / right, as in
MediaPipe (the person's left eye appears on the image's right side in a non-mirrored video).

The 478 -> 68 mapping `MP478_TO_68` was derived, not copied: dlib's 68-point predictor
(`dlib-bin` + `face-recognition-models`) and MediaPipe were run on 18 versions of
`skimage.data.astronaut()` (original and mirrored, rotated by -10/0/+10 degrees, scaled by
0.8/1.0/1.3); for every dlib point we picked the mesh vertex (of the 468 non-iris vertices) with the
smallest mean distance over the 18 images. Mean error of the mapping vs dlib on those images:
1.66 px on a face ~180 px wide (checked again in tests/face/test_landmarks.py). Jaw points
(0-16) are the least stable (dlib's jaw follows the visible contour, the mesh's is fixed on the
skin), eyes and lips the most (< 1.5 px).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .topology import LEFT_EYE, LEFT_IRIS, MOUTH, NUM_POINTS, RIGHT_EYE, RIGHT_IRIS

# dlib / iBUG-68 index -> MediaPipe vertex (see the module docstring for how it was derived).
MP478_TO_68 = np.array([
    127, 137, 177, 215, 172, 136, 149, 148, 152, 377, 378, 394, 397, 288, 401, 352, 264,  # jaw 0-16
    156, 63, 105, 66, 107,  # right brow 17-21
    336, 296, 334, 293, 383,  # left brow 22-26
    168, 197, 5, 4,  # nose bridge 27-30
    75, 97, 164, 326, 305,  # nostrils 31-35
    33, 160, 158, 155, 153, 144,  # right eye 36-41
    382, 385, 387, 263, 373, 380,  # left eye 42-47
    61, 74, 37, 0, 267, 269, 291, 405, 314, 17, 84, 106,  # outer lips 48-59
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips 60-67
], dtype=np.int64)
assert MP478_TO_68.shape == (68,)


def to_68(points478: np.ndarray) -> np.ndarray:
    """Classic iBUG-68 points from face-mesh points.

    Args:
        points478: [..., 478, C>=2] mesh points (pixels).
    Returns:
        [..., 68, 2] float32 points in the same pixel frame.
    """
    points478 = np.asarray(points478)
    if points478.ndim < 2 or points478.shape[-2] != NUM_POINTS or points478.shape[-1] < 2:
        raise ValueError(f"to_68 expects [..., 478, >=2] points, got shape {points478.shape}")
    return points478[..., MP478_TO_68, :2].astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------
@dataclass
class FaceMesh:
    """One detected face.

    points: [478, 3] float32: x, y in pixels of the input image, z = MediaPipe depth * image width.
    score: confidence in [0, 1]. The legacy MediaPipe face-mesh solution reports no per-face score
        (faces below `min_confidence` are simply not returned), so the score is the fraction of the
        mesh inside the image: 1 for a fully visible face, lower when the face leaves the frame.
    bbox: (x0, y0, x1, y1) in pixels, the mesh's bounding box.
    """

    points: np.ndarray
    score: float
    bbox: tuple[float, float, float, float]

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    @property
    def center(self) -> np.ndarray:
        x0, y0, x1, y1 = self.bbox
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32)


def _quiet_mediapipe() -> None:
    from emogs.logs import silence_native_logs

    silence_native_logs()


class FaceMeshDetector:
    """MediaPipe 0.10.21 face mesh (`mp.solutions.face_mesh`, refine_landmarks=True: 478 points).

    Args:
        video_mode: True tracks across consecutive calls (faster, temporally consistent); False
            detects every image independently.
        max_faces: maximum number of faces returned.
        min_confidence: detection (and tracking) confidence threshold.

    Call with an RGB uint8 image [H, W, 3]; returns all faces, largest first. Use as a context
    manager or call `close()`.
    """

    def __init__(self, video_mode: bool = True, max_faces: int = 3, min_confidence: float = 0.5):
        _quiet_mediapipe()
        import mediapipe as mp

        from emogs.logs import quiet_solution

        self._mesh = quiet_solution(lambda: mp.solutions.face_mesh.FaceMesh(
            static_image_mode=not video_mode,
            max_num_faces=int(max_faces),
            refine_landmarks=True,
            min_detection_confidence=float(min_confidence),
            min_tracking_confidence=float(min_confidence),
        ))
        from emogs.logs import QuietUntilFound

        self._process = QuietUntilFound(self._mesh.process, lambda r: bool(r.multi_face_landmarks))

    def __call__(self, rgb: np.ndarray) -> list[FaceMesh]:
        if self._mesh is None:
            raise RuntimeError("FaceMeshDetector is closed")
        ok = isinstance(rgb, np.ndarray) and rgb.ndim == 3 and rgb.shape[2] == 3
        if not (ok and rgb.dtype == np.uint8):
            raise ValueError(
                f"FaceMeshDetector expects an RGB uint8 image [H,W,3], got "
                f"{getattr(rgb, 'dtype', type(rgb))} {getattr(rgb, 'shape', '')}"
            )
        h, w = rgb.shape[:2]
        result = self._process(np.ascontiguousarray(rgb))  # quiet until the model first sees a face
        faces = []
        for lms in result.multi_face_landmarks or []:
            pts = np.array([(p.x, p.y, p.z) for p in lms.landmark], dtype=np.float32)
            pts *= np.array([w, h, w], np.float32)
            inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
            x0, y0 = pts[:, :2].min(0)
            x1, y1 = pts[:, :2].max(0)
            faces.append(FaceMesh(pts, float(inside.mean()), (float(x0), float(y0), float(x1), float(y1))))
        faces.sort(key=lambda f: -f.area)
        return faces

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def dlib_model_path(name: str = "shape_predictor_68_face_landmarks.dat") -> Path:
    """Path of a model file shipped by `face-recognition-models` (found without importing it: its
    __init__ needs pkg_resources, which new setuptools dropped)."""
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ImportError(
            "The dlib landmark backend needs `dlib-bin==20.0.1.post1` and `face-recognition-models==0.3.0`: "
            "pip install them (see requirements.txt)."
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall face-recognition-models==0.3.0")
    return path


class Dlib68Detector:
    """Alternative backend: dlib's HOG face detector + 68-point shape predictor.

    Call with RGB uint8 [H, W, 3]; returns a list of [68, 2] float32 point arrays (pixels), largest
    face first. dlib points are integer pixel positions of pixel centres; we add 0.5 to follow the
    dataset's pixel convention.
    """

    def __init__(self, upsample: int = 1):
        import dlib

        self._det = dlib.get_frontal_face_detector()
        self._pred = dlib.shape_predictor(str(dlib_model_path()))
        self.upsample = int(upsample)

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        rects = sorted(self._det(rgb, self.upsample), key=lambda r: -r.area())
        out = []
        for r in rects:
            s = self._pred(rgb, r)
            out.append(np.array([[s.part(i).x + 0.5, s.part(i).y + 0.5] for i in range(68)], np.float32))
        return out


# ---------------------------------------------------------------------------------------------
# Temporal processing
# ---------------------------------------------------------------------------------------------
def interpolate_missing(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill frames without a face by linear interpolation between the nearest valid frames (edge
    frames copy the nearest valid one).

    Args:
        points: [T, ...] per-frame arrays; valid: [T] bool. At least one frame must be valid.
    Returns:
        [T, ...] float32 copy with invalid frames filled.
    """
    points = np.asarray(points, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != points.shape[:1]:
        raise ValueError(f"valid {valid.shape} does not match points {points.shape}")
    if not valid.any():
        raise ValueError("interpolate_missing: no valid frame")
    t = np.arange(len(points))
    flat = points.reshape(len(points), -1)
    out = flat.copy()
    good = np.flatnonzero(valid)
    bad = np.flatnonzero(~valid)
    if len(bad):
        for c in range(flat.shape[1]):  # np.interp is 1-D; columns are few hundred x T: fine
            out[bad, c] = np.interp(t[bad], good, flat[good, c])
    return out.reshape(points.shape)


def one_euro(x: np.ndarray, fps: float, min_cutoff, beta, d_cutoff: float = 1.0) -> np.ndarray:
    """One-Euro filter (Casiez et al. 2012) along axis 0, applied forward then backward (zero phase:
    no lag offline). The cutoff rises with the signal's speed, so fast motion (an opening mouth) is
    followed closely while slow jitter is removed.

    Args:
        x: [T, N, C] signal; min_cutoff, beta: scalars or [N] arrays (per point).
    Returns:
        [T, N, C] float32.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    mc = np.broadcast_to(np.asarray(min_cutoff, np.float64), (n,))[:, None]
    bt = np.broadcast_to(np.asarray(beta, np.float64), (n,))[:, None]

    def alpha(cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * fps)

    def run(sig):
        out = np.empty_like(sig)
        prev = sig[0]
        dprev = np.zeros_like(sig[0])
        out[0] = prev
        ad = alpha(d_cutoff)
        for t in range(1, len(sig)):
            dx = (sig[t] - prev) * fps
            dprev = ad * dx + (1 - ad) * dprev
            speed = np.linalg.norm(dprev, axis=-1, keepdims=True)
            a = alpha(mc + bt * speed)
            prev = a * sig[t] + (1 - a) * prev
            out[t] = prev
        return out

    if len(x) < 2:
        return x.astype(np.float32)
    fwd = run(x)
    both = run(fwd[::-1])[::-1]
    return both.astype(np.float32)


def smooth_landmarks(points: np.ndarray, fps: float, face_size: float | None = None) -> np.ndarray:
    """Temporally smooth a [T, 478, 3] landmark track: rigid / slow parts (oval, brows, nose)
    strongly, lips, eyes and iris lightly (they move fast; blinks and visemes must not lag).

    `face_size` (pixels) scales the speed term; defaults to the track's median face width.
    """
    points = np.asarray(points, np.float32)
    if points.ndim != 3 or points.shape[1:] != (NUM_POINTS, 3):
        raise ValueError(f"smooth_landmarks expects [T,478,3], got {points.shape}")
    if face_size is None:
        face_size = float(np.median(points[:, :, 0].max(1) - points[:, :, 0].min(1))) or 1.0
    min_cutoff = np.full(NUM_POINTS, 1.0)
    beta = np.full(NUM_POINTS, 0.5)
    fast = np.array(sorted(set(MOUTH) | set(LEFT_EYE) | set(RIGHT_EYE) | set(LEFT_IRIS) | set(RIGHT_IRIS)))
    min_cutoff[fast] = 4.0
    beta[fast] = 4.0
    # the filter's speed is in pixels/s; normalise by face size so parameters are resolution-free
    scaled = points / face_size
    return one_euro(scaled, fps, min_cutoff, beta) * face_size
