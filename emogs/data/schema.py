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
    "occluders.npy": "occluders",
}
OCCLUDERS_FILE = "occluders.npy"  # optional uint8 [T,S,S]: 1 where a hand / object covers the frame


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


def split_frames(splits: dict, split: str, num_frames: int) -> np.ndarray:
    """int64 [n] sorted frame indices of `split` in a manifest's "split" dict.

    A split is one half-open range `[a, b]` or a list of ranges `[[a, b], [c, d], ...]`. "all" is
    every frame. Every split named "val..." (the standard "val" = the last 1/11, the optional
    "val_interleaved" blocks spread over the clip) is held out of "train": the training frames
    are the "train" range minus them, so a manifest without "val_interleaved" reads as before.
    Raises DatasetError for an unknown split or a range outside [0, T)."""
    if split == "all":
        return np.arange(num_frames, dtype=np.int64)
    if split not in splits:
        raise DatasetError(f"unknown split {split!r}; use one of {sorted([*splits, 'all'])} "
                           f"(run the 'split' stage if train/val are missing)")
    frames = _range_frames(splits[split], split, num_frames)
    if split == "train":
        held = [_range_frames(v, k, num_frames) for k, v in splits.items() if k.startswith("val")]
        if held:
            frames = np.setdiff1d(frames, np.concatenate(held))
    return frames


def _range_frames(ranges, name: str, num_frames: int) -> np.ndarray:
    if len(ranges) == 2 and all(isinstance(v, (int, float)) for v in ranges):
        ranges = [ranges]
    parts = [np.zeros(0, np.int64)]
    for rng in ranges:
        a, b = (int(v) for v in rng)
        if not (0 <= a <= b <= num_frames):
            raise DatasetError(f"manifest split {name} has [{a},{b}) outside [0,{num_frames}); "
                               f"rerun the 'split' stage")
        parts.append(np.arange(a, b, dtype=np.int64))
    return np.unique(np.concatenate(parts))


FLOW_STRIDE = 4  # emotion/flow.npy (the synthetic edit's motion field) is 1/4 of the frame size
