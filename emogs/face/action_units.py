"""Facial action units from landmark geometry, on OpenFace's 0..5 intensity scale.

No AU detector network can be had offline here, so the AUs are measured on the MediaPipe mesh:
1. pose normalisation: the points are expressed in a head frame, either the camera's head pose
   (``w2c`` given: rotate by R^T) or an intrinsic face frame (x from the right to the left
   outer eye corner, y down the rigid nose ridge, origin at the nasion); divided by the outer
   inter-ocular distance (IOD), so the features are scale and rotation invariant;
2. one scalar geometry feature per AU, oriented so that larger = more activation (see
   ``FEATURE_DOC``);
3. per-person normalisation: the feature's neutral value is a low percentile over the person's
   frames (the median for AU05, a high percentile of the eye aspect ratio for AU45), stored in an
   ``AUBaseline`` so single frames (renders) can be scored later;
4. intensity = clip((feature - neutral) / unit, 0, 5), ``unit`` being the displacement (in IOD)
   of one intensity step, chosen from typical facial movement ranges (an inner gap of 0.3 IOD,
   ~2.7 cm, is AU25 = 5). AU45 = 5 * relative eye-aspect-ratio drop / 0.8.
These are geometric proxies, not calibrated against OpenFace (no reference output is available
offline); use ``read_openface_csv`` when OpenFace AUs exist for a video.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

AU_NAMES = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU12", "AU15", "AU25", "AU26", "AU45"]

FEATURE_DOC = {
    "AU01": "inner brow height above the inner eye corners",
    "AU02": "outer brow height above the outer eye corners",
    "AU04": "minus (inner brow height + distance between the inner brows)",
    "AU05": "eye opening (upper to lower lid)",
    "AU06": "minus the vertical distance from the outer eye corner down to the cheek",
    "AU07": "minus the lower lid's depth below the eye-corner line",
    "AU12": "lip corner height above the upper inner lip + half the mouth width",
    "AU15": "lip corner depth below the middle of the inner lips",
    "AU25": "gap between the inner lips",
    "AU26": "chin distance below the nasion",
    "AU45": "eye aspect ratio (its relative drop is the blink)",
}
# IOD per intensity step
UNITS = {
    "AU01": 0.025, "AU02": 0.025, "AU04": 0.03, "AU05": 0.012, "AU06": 0.015, "AU07": 0.008,
    "AU12": 0.03, "AU15": 0.015, "AU25": 0.06, "AU26": 0.06, "AU45": 1.0,
}  # fmt: skip
# neutral value: percentile over the person's frames (AU45 is a "high is neutral" feature)
NEUTRAL_PERCENTILE = {name: 10.0 for name in AU_NAMES} | {"AU05": 50.0, "AU45": 75.0}

# MediaPipe indices ("right" = the person's right, image left)
_R_EYE_OUT, _R_EYE_IN, _L_EYE_OUT, _L_EYE_IN = 33, 133, 263, 362
_R_LID_UP, _R_LID_LO, _L_LID_UP, _L_LID_LO = 159, 145, 386, 374
_R_EAR = (33, 160, 158, 133, 153, 144)  # p1..p6 for the eye aspect ratio
_L_EAR = (263, 387, 385, 362, 380, 373)
_R_BROW_IN, _L_BROW_IN = (107, 55), (336, 285)
_R_BROW_OUT, _L_BROW_OUT = (70, 46), (300, 276)
_R_CHEEK, _L_CHEEK = 50, 280
_MOUTH_R, _MOUTH_L = 61, 291
_INNER_PAIRS = ((13, 14), (82, 87), (312, 317))
_NASION, _FOREHEAD, _NOSE_RIDGE, _CHIN = 168, 10, 4, 152


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def head_frame_points(points478: np.ndarray, w2c: np.ndarray | None = None) -> np.ndarray:
    """Express points in a head frame (x to the person's left = image right, y down, z away),
    origin at the nasion, in units of the outer inter-ocular distance.

    points478: [..., 478, 3] (x, y px, z px-scaled depth). w2c: [..., 4, 4] or None (then an
    intrinsic frame from the eye corners and the nose ridge is used). Returns [..., 478, 3].
    """
    p = np.asarray(points478, dtype=np.float64)
    if p.shape[-2:] != (478, 3) and p.shape[-2:] != (468, 3):
        raise ValueError(f"expected MediaPipe points [..., 478, 3], got shape {p.shape}.")
    centred = p - p[..., _NASION : _NASION + 1, :]
    iod = np.linalg.norm(p[..., _L_EYE_OUT, :] - p[..., _R_EYE_OUT, :], axis=-1)[..., None, None]
    bad = ~(iod > 1e-6)
    if np.all(bad):
        raise ValueError("degenerate landmarks: the outer eye corners coincide (no face in this frame?).")
    iod = np.where(bad, np.nan, iod)  # degenerate frames of a sequence become NaN features
    if w2c is not None:
        w2c = np.asarray(w2c, dtype=np.float64)
        if w2c.shape[-2:] != (4, 4):
            raise ValueError(f"w2c must be [..., 4, 4], got {w2c.shape}.")
        rot = w2c[..., :3, :3]  # camera <- world; undo with R^T: row-vector form p @ R
        return (centred @ rot) / iod
    ex = _unit(p[..., _L_EYE_OUT, :] - p[..., _R_EYE_OUT, :])
    down = p[..., _NOSE_RIDGE, :] - p[..., _FOREHEAD, :]
    ey = _unit(down - (down * ex).sum(-1, keepdims=True) * ex)
    ez = np.cross(ex, ey)
    basis = np.stack([ex, ey, ez], axis=-1)  # [..., 3, 3], columns = axes
    return (centred @ basis) / iod


def _ear(q: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    p1, p2, p3, p4, p5, p6 = (q[..., i, :] for i in idx)
    n = np.linalg.norm
    return (n(p2 - p6, axis=-1) + n(p3 - p5, axis=-1)) / (2.0 * n(p1 - p4, axis=-1))


def au_geometry_features(points478: np.ndarray, w2c: np.ndarray | None = None) -> np.ndarray:
    """Scale- and pose-normalised geometry feature per AU (larger = more active; AU45: the eye
    aspect ratio, smaller = more closed). points478 [..., 478, 3] -> float32 [..., 11] (AU_NAMES)."""
    with np.errstate(invalid="ignore", divide="ignore"):  # degenerate frames -> NaN features
        return _features(head_frame_points(points478, w2c))


def _features(q: np.ndarray) -> np.ndarray:
    y = q[..., 1]
    mean2 = lambda a, b: (y[..., a] + y[..., b]) / 2  # noqa: E731
    brow_in_r, brow_in_l = mean2(*_R_BROW_IN), mean2(*_L_BROW_IN)
    brow_out_r, brow_out_l = mean2(*_R_BROW_OUT), mean2(*_L_BROW_OUT)
    h_in = ((y[..., _R_EYE_IN] - brow_in_r) + (y[..., _L_EYE_IN] - brow_in_l)) / 2
    h_out = ((y[..., _R_EYE_OUT] - brow_out_r) + (y[..., _L_EYE_OUT] - brow_out_l)) / 2
    brow_gap = np.linalg.norm(
        (q[..., _R_BROW_IN[0], :] + q[..., _R_BROW_IN[1], :]) / 2
        - (q[..., _L_BROW_IN[0], :] + q[..., _L_BROW_IN[1], :]) / 2,
        axis=-1,
    )
    eye_open = ((y[..., _R_LID_LO] - y[..., _R_LID_UP]) + (y[..., _L_LID_LO] - y[..., _L_LID_UP])) / 2
    cheek = ((y[..., _R_CHEEK] - y[..., _R_EYE_OUT]) + (y[..., _L_CHEEK] - y[..., _L_EYE_OUT])) / 2
    lid_depth = (
        (y[..., _R_LID_LO] - mean2(_R_EYE_OUT, _R_EYE_IN))
        + (y[..., _L_LID_LO] - mean2(_L_EYE_OUT, _L_EYE_IN))
    ) / 2
    corner_y = mean2(_MOUTH_R, _MOUTH_L)
    width = np.linalg.norm(q[..., _MOUTH_L, :] - q[..., _MOUTH_R, :], axis=-1)
    upper = y[..., 13]
    gap = np.mean([np.linalg.norm(q[..., b, :] - q[..., a, :], axis=-1) for a, b in _INNER_PAIRS], axis=0)
    chin = y[..., _CHIN]
    ear = (_ear(q, _R_EAR) + _ear(q, _L_EAR)) / 2
    feats = [
        h_in,  # AU01
        h_out,  # AU02
        -(h_in + brow_gap),  # AU04
        eye_open,  # AU05
        -cheek,  # AU06
        -lid_depth,  # AU07
        (upper - corner_y) + 0.5 * width,  # AU12
        corner_y - (upper + y[..., 14]) / 2,  # AU15
        gap,  # AU25
        chin,  # AU26
        ear,  # AU45
    ]
    return np.stack(feats, axis=-1).astype(np.float32)


@dataclass
class AUBaseline:
    """Per-person neutral feature values (AU_NAMES order), from ``fit_au_baseline``."""

    neutral: np.ndarray  # float32 [11]
    names: list[str] = field(default_factory=lambda: list(AU_NAMES))

    def to_dict(self) -> dict:
        return {"neutral": [float(v) for v in self.neutral], "names": list(self.names)}

    @classmethod
    def from_dict(cls, d: dict) -> AUBaseline:
        neutral = np.asarray(d["neutral"], dtype=np.float32)
        if neutral.shape != (len(AU_NAMES),) or list(d.get("names", AU_NAMES)) != AU_NAMES:
            raise ValueError(
                f"AU baseline must hold {len(AU_NAMES)} values for {AU_NAMES}, got {neutral.shape}."
            )
        return cls(neutral)


def fit_au_baseline(features: np.ndarray) -> AUBaseline:
    """Neutral values from a person's frames. features: [T, 11] from ``au_geometry_features``."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != len(AU_NAMES) or f.shape[0] == 0:
        raise ValueError(f"fit_au_baseline expects features [T>0, {len(AU_NAMES)}], got {f.shape}.")
    valid = np.isfinite(f).all(axis=1)
    if not valid.any():
        raise ValueError("fit_au_baseline: no frame has valid landmarks.")
    f = f[valid]
    neutral = np.array([np.percentile(f[:, i], NEUTRAL_PERCENTILE[n]) for i, n in enumerate(AU_NAMES)])
    return AUBaseline(neutral.astype(np.float32))


def fit_person_baseline(landmarks: np.ndarray, w2c: np.ndarray | None = None) -> AUBaseline:
    """``fit_au_baseline`` straight from a person's landmarks [T, 478, 3] (and poses [T, 4, 4])."""
    return fit_au_baseline(au_geometry_features(landmarks, w2c))


def features_to_intensity(features: np.ndarray, baseline: AUBaseline) -> np.ndarray:
    """[..., 11] features -> [..., 11] intensities in [0, 5] (AU_NAMES order)."""
    f = np.asarray(features, dtype=np.float64)
    out = np.empty_like(f)
    for i, name in enumerate(AU_NAMES):
        if name == "AU45":
            closed = 1.0 - f[..., i] / max(float(baseline.neutral[i]), 1e-6)
            out[..., i] = 5.0 * closed / 0.8
        else:
            out[..., i] = (f[..., i] - baseline.neutral[i]) / UNITS[name]
    return np.nan_to_num(np.clip(out, 0.0, 5.0), nan=0.0).astype(np.float32)  # no face: 0


def _select(names: list[str] | tuple[str, ...]) -> list[int]:
    unknown = [n for n in names if n not in AU_NAMES]
    if unknown:
        raise ValueError(f"unknown AU names {unknown}; available: {AU_NAMES}.")
    return [AU_NAMES.index(n) for n in names]


def estimate_aus(
    landmarks: np.ndarray,
    w2c: np.ndarray | None = None,
    names: list[str] | tuple[str, ...] = AU_NAMES,
    baseline: AUBaseline | None = None,
) -> np.ndarray:
    """AU intensities of a person's frames. landmarks [T, 478, 3]; w2c [T, 4, 4] or None.

    The neutral baseline is fitted on these frames unless given (``fit_au_baseline``).
    Returns float32 [T, len(names)] in [0, 5].
    """
    lm = np.asarray(landmarks)
    if lm.ndim != 3:
        raise ValueError(f"estimate_aus expects landmarks [T, 478, 3], got {lm.shape}.")
    if w2c is not None and np.asarray(w2c).shape != (lm.shape[0], 4, 4):
        raise ValueError(f"w2c must be [T, 4, 4] = [{lm.shape[0]}, 4, 4], got {np.asarray(w2c).shape}.")
    idx = _select(names)
    feats = au_geometry_features(lm, w2c)
    if baseline is None:
        baseline = fit_au_baseline(feats)
    return features_to_intensity(feats, baseline)[:, idx]


def estimate_aus_single(
    points478: np.ndarray,
    baseline: AUBaseline | dict,
    w2c: np.ndarray | None = None,
    names: list[str] | tuple[str, ...] = AU_NAMES,
) -> np.ndarray:
    """AUs of one frame (e.g. a render) against a stored person baseline. Returns float32 [A]."""
    if isinstance(baseline, dict):
        baseline = AUBaseline.from_dict(baseline)
    p = np.asarray(points478)
    if p.ndim != 2:
        raise ValueError(f"estimate_aus_single expects one frame [478, 3], got {p.shape}.")
    return features_to_intensity(au_geometry_features(p, w2c), baseline)[_select(names)]


# ----------------------------------------------------------------------------- OpenFace import


def read_openface_csv(
    path: str | Path, num_frames: int, fps: float, tolerance: int = 2
) -> tuple[np.ndarray, list[str]]:
    """Import AU intensities (``AUxx_r`` columns) from an OpenFace FeatureExtraction CSV.

    Rows are mapped to video frames by their timestamp (nearest row to each frame's centre), so a
    CSV made at another frame rate still aligns; frames with ``success == 0`` take the nearest
    successful row. The CSV must cover the video to within ``tolerance`` frames.
    Returns (float32 [num_frames, A], names like "AU01").
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OpenFace CSV {path} does not exist.")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2:
        raise ValueError(f"{path} has no data rows; is it an OpenFace FeatureExtraction CSV?")
    header = [h.strip() for h in rows[0]]
    au_cols = [i for i, h in enumerate(header) if h.startswith("AU") and h.endswith("_r")]
    if not au_cols:
        raise ValueError(
            f"{path} has no AUxx_r columns (found {header[:8]}...); run OpenFace FeatureExtraction with -aus."
        )
    try:
        data = np.array([[float(r[i]) for i in range(len(header))] for r in rows[1:] if r], dtype=np.float64)
    except (ValueError, IndexError) as err:
        raise ValueError(f"{path}: a row is not numeric or is truncated ({err}).") from err
    col = {h: i for i, h in enumerate(header)}
    if "face_id" in col:
        ids, counts = np.unique(data[:, col["face_id"]], return_counts=True)
        data = data[data[:, col["face_id"]] == ids[np.argmax(counts)]]
    if "timestamp" in col:
        times = data[:, col["timestamp"]]
    elif "frame" in col:
        times = (data[:, col["frame"]] - 1) / fps
    else:
        times = np.arange(len(data)) / fps
    ok = data[:, col["success"]] > 0.5 if "success" in col else np.ones(len(data), bool)
    if not ok.any():
        raise ValueError(f"{path}: OpenFace found no face in any frame (success = 0 everywhere).")
    csv_frames = int(round((times.max() + 1.0 / fps) * fps))
    if abs(csv_frames - num_frames) > tolerance:
        raise ValueError(
            f"{path} covers {csv_frames} frames at {fps} fps ({times.max():.2f} s) but the video has "
            f"{num_frames} frames (off by {csv_frames - num_frames}); run OpenFace on this dataset's "
            "frames (same video, same fps)."
        )
    good_t, good = times[ok], data[ok][:, au_cols]
    order = np.argsort(good_t)
    good_t, good = good_t[order], good[order]
    centres = np.arange(num_frames) / fps
    j = (
        np.clip(np.searchsorted(good_t, centres), 1, len(good_t) - 1)
        if len(good_t) > 1
        else np.zeros(num_frames, int)
    )
    if len(good_t) > 1:
        j = np.where(np.abs(good_t[j - 1] - centres) <= np.abs(good_t[j] - centres), j - 1, j)
    names = [header[i][:-2] for i in au_cols]
    return good[j].astype(np.float32), names
