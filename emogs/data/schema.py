"""The person-dataset contract (docs/dataset.md): what the preprocessing writes and the library reads.

Every writer (`preprocess/`, `emogs.data.synthetic`, the emotional-frames stage) and every reader
(`emogs.data`) takes the format version, file names, parsing classes, the normals codec, the flow
stride and the manifest from here, so the two sides cannot drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..face.topology import NUM_POINTS

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
NUM_LANDMARKS = NUM_POINTS  # landmarks.npy: MediaPipe's 478-point mesh

# parsing classes (docs/dataset.md)
BACKGROUND, SKIN, BROWS, EYES, LIPS, MOUTH, TEETH, HAIR, NECK, TORSO = range(10)
CLASS_NAMES = ["background", "skin", "brows", "eyes", "lips", "mouth", "teeth", "hair", "neck", "torso"]
FACE_CLASSES = (SKIN, BROWS, EYES, LIPS)
INSIDE_MOUTH_CLASSES = (MOUTH, TEETH)
TORSO_CLASSES = (NECK, TORSO)

# file -> the preprocessing stage that writes it (named in errors so users know what to rerun)
FILE_STAGE = {
    "frames.npy": "decode",
    "audio.wav": "decode",
    "landmarks.npy": "landmarks",
    "landmark_conf.npy": "landmarks",
    "landmarks68.npy": "landmarks",
    "camera.npz": "camera",
    "parsing.npy": "parsing",
    "background.png": "parsing",
    "normals.npy": "normals",
    "aus.npy": "aus",
    "audio_features.npy": "audio_features",
    "valence_arousal.npy": "valence_arousal",
}


class DatasetError(RuntimeError):
    """A person dataset is missing a file or an array does not match the manifest."""


def rerun_hint(root: Path, name: str) -> str:
    """How to (re)make dataset file `name`: the preprocessing command of the stage that writes it."""
    stage = FILE_STAGE.get(name, "all")
    return (f"rerun that stage: `python -m preprocess VIDEO {root} --stages {stage} --force`"
            if stage != "all" else f"rerun `python -m preprocess VIDEO {root}`")


def decode_normals(encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [..., 3] encoded -> (float32 [..., 3] unit normals, 0 where invalid; bool [...] valid)."""
    valid = np.any(encoded != 0, axis=-1)
    n = encoded.astype(np.float32) / 127.5 - 1.0
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(valid[..., None], n / np.maximum(norm, 1e-6), 0.0).astype(np.float32)
    return n, valid


def encode_normals(normals: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """float [..., 3] unit normals -> uint8 encoding round((n + 1) * 127.5), (0,0,0) where not valid."""
    enc = np.clip(np.round((np.asarray(normals, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if valid is not None:
        enc[~np.asarray(valid, bool)] = 0
    return enc


def manifest_so_far(root: str | Path) -> dict:
    """The manifest of a dataset that may still be being written: {} when there is none (yet) or it
    cannot be parsed. Readers of a finished dataset use `read_manifest`, which checks the version."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def read_manifest(root: str | Path) -> dict:
    root = Path(root)
    path = root / MANIFEST
    if not path.exists():
        raise DatasetError(f"{path} not found: {root} is not a person dataset. "
                           f"Create one with `python -m preprocess VIDEO {root}`.")
    with open(path) as f:
        manifest = json.load(f)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise DatasetError(f"{path}: format_version {version!r}, this emogs reads version {FORMAT_VERSION}. "
                           f"Re-preprocess the video with this emogs version.")
    return manifest


FLOW_STRIDE = 4  # emotion/flow.npy (the synthetic edit's motion field) is 1/4 of the frame size
