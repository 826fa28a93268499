"""Ground truth of a generated clip: ``NAME_truth.npz`` + a small ``NAME_truth.json`` summary.

npz keys (T = frames, all per-frame arrays share that first dimension):

| key | dtype, shape | meaning |
|---|---|---|
| landmarks | float32 [T,478,3] | the warped mesh = exact truth (x, y px; z = neutral MediaPipe z x scale) |
| neutral_landmarks | float32 [478,3] | the portrait's detected mesh (before any motion) |
| viseme | int64 [T] | viseme id of the phone sounding at the frame centre |
| viseme_names | str [15] | id -> name |
| mouth_open / mouth_width / mouth_round | float32 [T] | rig parameters (open: 0 closed .. 1 widest) |
| mouth_gap_px | float32 [T] | inner-lip gap in the frame: 13 -> 14 along the head's down axis (0 = closed) |
| mouth_press | float32 [T] | bilabial press in [0, 1] |
| smile | float32 [T] | rig smile (0 = neutral rest; from positive valence) |
| au45 | float32 [T] | blink, OpenFace scale 0..5 (5 = fully closed) |
| head_rotvec | float32 [T,3] | rotation vector (rad): x = pitch, y = yaw, z = roll (camera frame, below) |
| head_euler_deg | float32 [T,3] | (pitch, yaw, roll) in degrees, R = Rz(roll) Ry(yaw) Rx(pitch) |
| head_translation | float32 [T,3] | (tx, ty, 0) in pixels |
| head_scale | float32 [T] | scale of the head about its pivot |
| head_pivot | float32 [3] | rotation centre (px, px, depth px) in the neutral portrait |
| valence_arousal | float32 [T,2] | commanded V/A (0 = the portrait's own expression) |
| brow / cheek | float32 [T] | expression rig parameters driven by V/A |
| audio_range | int64 [T,2] | [start, end) samples of the muxed audio that play during each frame |
| fps, sample_rate | scalars | |
| phone_names / phone_start / phone_end | str [P] / float64 [P] / float64 [P] | phoneme timeline (s) |
| phone_alphabet | str | "espeak" or "arpabet" |

Head pose (``.pose``): camera frame x right, y down, z away from the camera; the head rotates
about ``head_pivot``, then shifts by ``head_translation``; orthographic projection. Positive yaw
moves the nose to image left, positive pitch moves it down (looking down).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from emogs.io.atomic import atomic_path, save_text

REQUIRED_KEYS = ("landmarks", "viseme", "viseme_names", "mouth_open", "mouth_gap_px", "au45", "head_rotvec",
                 "head_translation", "valence_arousal", "audio_range", "fps", "sample_rate", "phone_names",
                 "phone_start", "phone_end")


@dataclass
class TruthRecorder:
    """Accumulates per-frame truth (small arrays) while frames stream to the video."""

    num_frames: int

    def __post_init__(self):
        t = self.num_frames
        self.landmarks = np.zeros((t, 478, 3), np.float32)
        self.mouth_gap_px = np.zeros(t, np.float32)
        self.head_matrix = np.zeros((t, 2, 3), np.float32)

    def record(self, k: int, landmarks: np.ndarray, gap_px: float, matrix: np.ndarray) -> None:
        self.landmarks[k] = landmarks
        self.mouth_gap_px[k] = gap_px
        self.head_matrix[k] = matrix


def write_truth(path_npz: str, arrays: dict, summary: dict) -> None:
    """Atomically write the npz (``path_npz``) and the JSON summary next to it (``.json``)."""
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise KeyError(f"ground truth is missing {missing}")
    t = len(arrays["landmarks"])
    for k, v in arrays.items():
        per_frame = ("viseme", "mouth_open", "mouth_gap_px", "au45", "head_rotvec", "valence_arousal",
                     "audio_range")
        if k in per_frame and isinstance(v, np.ndarray) and v.ndim >= 1:
            if len(v) != t:
                raise ValueError(f"truth array {k} has {len(v)} frames, landmarks have {t}.")
    with atomic_path(path_npz) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    save_text(os.path.splitext(path_npz)[0] + ".json", json.dumps(summary, indent=1, sort_keys=True))


def truth_statistics(truth: dict) -> dict:
    """The issue-#16 checks of a clip's truth: median inner-lip gap (px) per viseme and head-pose ranges.

    Returns {"gap_median_px": {viseme: median}, "yaw_range_deg", "pitch_range_deg", "roll_range_deg",
    "frames"}; angles from ``head_rotvec`` (x = pitch, y = yaw, z = roll).
    """
    names = [str(n) for n in truth["viseme_names"]]
    gap, vis = truth["mouth_gap_px"], truth["viseme"]
    med = {n: float(np.median(gap[vis == i])) for i, n in enumerate(names) if (vis == i).any()}
    deg = np.rad2deg(truth["head_rotvec"].astype(np.float64))
    rng = lambda x: float(x.max() - x.min())  # noqa: E731
    return {"frames": int(len(gap)), "gap_median_px": med, "pitch_range_deg": rng(deg[:, 0]),
            "yaw_range_deg": rng(deg[:, 1]), "roll_range_deg": rng(deg[:, 2])}


def load_truth(path: str) -> dict:
    """Load a truth npz into a dict of arrays; checks the required keys and frame counts."""
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if missing:
        raise ValueError(f"{path} is not a demo_actor ground-truth file (missing {missing}); "
                         "regenerate it with tools/make_demo_video.py.")
    return d
