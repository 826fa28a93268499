"""Read a person dataset (docs/dataset.md): memory-mapped, every array checked against the manifest.

    ds = PersonDataset("data/alice", split="train")
    sample = ds[0]            # FrameSample: image [S,S,3], parsing [S,S], w2c [4,4], audio [9,D], ...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .schema import (
    FLOW_STRIDE,
    NECK,
    NUM_LANDMARKS,
    SKIN,
    TORSO_CLASSES,
    DatasetError,
    decode_normals,
    read_manifest,
    rerun_hint,
)

_TORSO_LUT = np.isin(np.arange(256), TORSO_CLASSES)  # class -> is torso (a table lookup beats np.isin)

NECK_REACH = 0.04  # how far (fraction of the image) the neck is continued up behind the jaw


def neck_behind_jaw(backdrop: torch.Tensor, labels: np.ndarray, reach: int) -> torch.Tensor:
    """Continue the neck upwards behind the jaw: in every column, the `reach` skin pixels just above
    the topmost neck pixel take that neck pixel's colour.

    The face Gaussians' soft edge along the jaw blends with whatever the backdrop holds there; with
    the background plate (a wall) it shows as a light seam under the chin, with the neck it does not.
    backdrop: [S,S,3] float, modified in place and returned; labels: [S,S] parsing classes.
    """
    neck = labels == NECK
    has_neck = neck.any(0)  # [S]
    if not has_neck.any():
        return backdrop
    top = neck.argmax(0)  # [S] first neck row per column
    lo = max(0, int(top[has_neck].min()) - reach)
    hi = int(top[has_neck].max())
    rows = np.arange(lo, hi)[:, None]
    band = (rows < top) & (rows >= top - reach) & has_neck & (labels[lo:hi] == SKIN)  # [hi-lo,S]
    ys, xs = np.nonzero(band)
    if len(ys) == 0:
        return backdrop
    xs_t = torch.from_numpy(xs)
    backdrop[torch.from_numpy(ys + lo), xs_t] = backdrop[torch.from_numpy(top[xs]), xs_t]
    return backdrop


@dataclass
class FrameSample:
    """One training frame (all tensors on CPU).

    index: frame index in the video; image: float32 [S,S,3] in [0,1]; parsing: uint8 [S,S];
    normals: float32 [S,S,3] camera-space unit normals (zeros where invalid); normal_valid: bool [S,S];
    w2c: float32 [4,4]; K: float32 [3,3]; audio: float32 [2W+1, D]; aus: float32 [A]; va: float32 [2];
    landmarks: float32 [478,3]; torso_background: float32 [S,S,3] in [0,1];
    emotion_flow: float32 [S/4,S/4,2] or None - the motion (px of S) an emotional frame's edit applied
    to the face (emotion/flow.npy); zeros for a real frame seen by the emotion stage (no edit).
    """

    index: int
    image: torch.Tensor
    parsing: torch.Tensor
    normals: torch.Tensor
    normal_valid: torch.Tensor
    w2c: torch.Tensor
    K: torch.Tensor
    audio: torch.Tensor
    aus: torch.Tensor
    va: torch.Tensor
    landmarks: torch.Tensor
    torso_background: torch.Tensor
    emotion_flow: torch.Tensor | None = None


class PersonDataset:
    """A person dataset folder, memory-mapped.

    Args:
        root: the dataset folder (docs/dataset.md).
        split: "train", "val" or "all" (ranges from manifest["split"]).
        audio_window: W: `audio_window(i)` returns features of frames i-W..i+W (edge-padded).
        load_emotion: also open the `emotion/` sub-dataset (synthetic emotional frames) as
            `self.emotion` (dict of memmaps: frames, source_index, valence_arousal, parsing, normals, aus,
            and flow when present).

    Raises DatasetError naming the file and the stage to rerun when a file is missing or an array's
    shape / dtype disagrees with the manifest.
    """

    def __init__(self, root: str | Path, split: str = "train", audio_window: int = 4,
                 load_emotion: bool = False):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        m = self.manifest
        try:
            self.size = int(m["size"])
            self.fps = float(m["fps"])
            self.num_frames = T = int(m["num_frames"])
        except KeyError as err:
            fix = rerun_hint(self.root, "frames.npy")
            raise DatasetError(f"{self.root / 'manifest.json'} lacks {err}; {fix}") from err
        S = self.size
        self.aus_names = list(m.get("aus", {}).get("names", []))
        A = len(self.aus_names)
        self.audio_window_size = int(audio_window)

        self.frames = self._array("frames.npy", np.uint8, (T, S, S, 3))
        self.parsing = self._array("parsing.npy", np.uint8, (T, S, S))
        self.normals = self._array("normals.npy", np.uint8, (T, S, S, 3))
        self.landmarks = self._array("landmarks.npy", np.float32, (T, NUM_LANDMARKS, 3))
        self.landmark_conf = self._array("landmark_conf.npy", np.float32, (T,))
        self.aus = self._array("aus.npy", np.float32, (T, A))
        af = m.get("audio_features", {})
        D = af.get("dim")
        self.audio_features = self._array("audio_features.npy", np.float32, (T, D))
        self.audio_dim = int(self.audio_features.shape[1])
        self.valence_arousal = self._array("valence_arousal.npy", np.float32, (T, 2))

        cam_path = self._path("camera.npz")
        with np.load(cam_path) as cam:
            for key, shape in (("K", (3, 3)), ("w2c", (T, 4, 4))):
                if key not in cam or cam[key].shape != shape:
                    got = cam[key].shape if key in cam else "missing"
                    raise DatasetError(f"{cam_path}: '{key}' should be {shape}, got {got}; "
                                       f"{rerun_hint(self.root, 'camera.npz')}")
            self.K = torch.from_numpy(cam["K"].astype(np.float32))
            self.w2c = torch.from_numpy(cam["w2c"].astype(np.float32))
            self.world_to_metres = float(cam["world_to_metres"]) if "world_to_metres" in cam else 1.0

        self.background = self._load_background()

        split_ranges = dict(m.get("split", {}))
        split_ranges["all"] = [0, T]
        if split not in split_ranges:
            raise DatasetError(f"unknown split {split!r}; use one of {sorted(split_ranges)} "
                               f"(run the 'split' stage if train/val are missing)")
        a, b = split_ranges[split]
        if not (0 <= a <= b <= T):
            raise DatasetError(f"manifest split {split} = [{a},{b}) outside [0,{T}); rerun the 'split' stage")
        self.split = split
        self.frame_indices = np.arange(a, b, dtype=np.int64)

        self.emotion = self._load_emotion() if load_emotion else None

    # -- loading helpers ------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        path = self.root / name
        if not path.exists():
            raise DatasetError(f"{path} is missing; {rerun_hint(self.root, name)}")
        return path

    def _array(self, name: str, dtype, shape: tuple, root: Path | None = None) -> np.ndarray:
        base = root or self.root
        path = base / name
        if not path.exists():
            raise DatasetError(f"{path} is missing; {rerun_hint(self.root, name)}")
        try:
            arr = np.load(path, mmap_mode="r")
        except Exception as err:  # truncated / not an npy
            raise DatasetError(f"{path} is unreadable ({err}); {rerun_hint(self.root, name)}") from err
        if arr.dtype != np.dtype(dtype):
            raise DatasetError(f"{path}: dtype {arr.dtype}, expected {np.dtype(dtype)}; "
                               f"{rerun_hint(self.root, name)}")
        ok = arr.ndim == len(shape) and all(s is None or s == g for s, g in zip(shape, arr.shape))
        if not ok:
            raise DatasetError(f"{path}: shape {arr.shape}, expected {shape} (manifest num_frames="
                               f"{self.num_frames}, size={self.size}); {rerun_hint(self.root, name)}")
        return arr

    def _load_background(self) -> torch.Tensor:
        import cv2

        path = self._path("background.png")
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape[:2] != (self.size, self.size):
            got = None if bgr is None else bgr.shape
            raise DatasetError(f"{path}: expected an RGB {self.size}x{self.size} PNG, got {got}; "
                               f"{rerun_hint(self.root, 'background.png')}")
        return torch.from_numpy(bgr[..., ::-1].astype(np.float32) / 255.0)

    def _load_emotion(self) -> dict:
        root = self.root / "emotion"
        src = root / "source_index.npy"
        if not src.exists():
            raise DatasetError(f"{src} is missing: the emotional frames were not generated; "
                               f"run `python -m preprocess VIDEO {self.root} --stages emotion`")
        index = np.load(src, mmap_mode="r")
        M, S, A = len(index), self.size, len(self.aus_names)
        out = {"source_index": index}
        for name, dtype, shape in (("frames.npy", np.uint8, (M, S, S, 3)),
                                   ("parsing.npy", np.uint8, (M, S, S)),
                                   ("normals.npy", np.uint8, (M, S, S, 3)), ("aus.npy", np.float32, (M, A)),
                                   ("valence_arousal.npy", np.float32, (M, 2))):
            out[name[:-4]] = self._array(name, dtype, shape, root=root)
        if (root / "flow.npy").exists():  # optional: datasets made before it lack it (no flow loss then)
            F = S // FLOW_STRIDE
            out["flow"] = self._array("flow.npy", np.float16, (M, F, F, 2), root=root)
        if M and (index.min() < 0 or index.max() >= self.num_frames):
            raise DatasetError(f"{src}: source indices outside [0,{self.num_frames})")
        return out

    # -- access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame_indices)

    def image(self, frame_index: int) -> torch.Tensor:
        """float32 [S,S,3] in [0,1]."""
        return torch.from_numpy(np.asarray(self.frames[frame_index], dtype=np.float32) / 255.0)

    def torso_background(self, frame_index: int) -> torch.Tensor:
        """[S,S,3] float32: what lies behind the head - the frame where the parsing says neck / torso,
        the neck continued up behind the jaw (`neck_behind_jaw`), the background plate elsewhere."""
        lab = np.asarray(self.parsing[frame_index])
        keep = torch.from_numpy(_TORSO_LUT[lab])[..., None]
        out = torch.where(keep, self.image(frame_index), self.background)
        return neck_behind_jaw(out, lab, reach=max(1, round(NECK_REACH * self.size)))

    def audio_window(self, frame_index: int) -> torch.Tensor:
        """[2W+1, D] features of frames i-W..i+W, indices clamped to [0, T-1] (edge padding)."""
        W = self.audio_window_size
        idx = np.clip(np.arange(frame_index - W, frame_index + W + 1), 0, self.num_frames - 1)
        return torch.from_numpy(np.asarray(self.audio_features[idx], dtype=np.float32))

    def __getitem__(self, i: int) -> FrameSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} {self.split} frames")
        t = int(self.frame_indices[i])
        normals, valid = decode_normals(np.asarray(self.normals[t]))
        return FrameSample(
            index=t,
            image=self.image(t),
            parsing=torch.from_numpy(np.array(self.parsing[t])),
            normals=torch.from_numpy(normals),
            normal_valid=torch.from_numpy(valid),
            w2c=self.w2c[t].clone(),
            K=self.K.clone(),
            audio=self.audio_window(t),
            aus=torch.from_numpy(np.array(self.aus[t], dtype=np.float32)),
            va=torch.from_numpy(np.array(self.valence_arousal[t], dtype=np.float32)),
            landmarks=torch.from_numpy(np.array(self.landmarks[t], dtype=np.float32)),
            torso_background=self.torso_background(t),
        )


def load_audio_features_for(features: np.ndarray, frame_index: int, window: int = 4) -> np.ndarray:
    """[T, D] features -> [2W+1, D] window around `frame_index`, edge-padded (same rule as the reader)."""
    T = len(features)
    idx = np.clip(np.arange(frame_index - window, frame_index + window + 1), 0, T - 1)
    return np.asarray(features[idx], dtype=np.float32)
