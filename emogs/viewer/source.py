"""Where the viewer takes head poses, AUs and the torso / background plate from.

`DriveSource.from_dataset(ds, avatar)` uses the avatar's training frames (the normal case, as
`tools/render.py` does); `DriveSource.frontal(avatar)` needs no dataset: a fixed frontal camera
framing the avatar's Gaussians, neutral AUs, a plain grey background.

World frame (docs/dataset.md): the canonical head frame, x right, y down, z away from the camera.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass
class DriveSource:
    """Per-source-frame conditions the viewer combines with audio and the UI state.

    w2c [N,4,4] float32 world->camera (OpenCV); K [3,3] for `size` x `size` images; aus [N,A];
    aus_names [A]; backgrounds(i) -> [S,S,3] float in [0,1] (or None: black); idle_audio [D]
    (the features of silence: used when no audio is loaded); center [3] the head centre (the
    pivot of the yaw / pitch sliders); fps of the source frames.
    """

    w2c: Tensor
    K: Tensor
    aus: np.ndarray
    aus_names: list[str]
    size: int
    fps: float
    idle_audio: np.ndarray
    center: np.ndarray
    backgrounds: Callable[[int], Tensor] | None = None
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        n = len(self.w2c)
        if n == 0:
            raise ValueError("DriveSource has no frames to take head poses from.")
        if tuple(self.w2c.shape[1:]) != (4, 4) or tuple(self.K.shape) != (3, 3):
            raise ValueError(f"DriveSource: w2c must be [N,4,4] and K [3,3], got {tuple(self.w2c.shape)} "
                             f"and {tuple(self.K.shape)}.")
        if self.aus.shape != (n, len(self.aus_names)):
            raise ValueError(f"DriveSource: aus has shape {self.aus.shape}, expected ({n}, "
                             f"{len(self.aus_names)}) (frames, AU names).")

    def __len__(self) -> int:
        return len(self.w2c)

    @property
    def blink_index(self) -> int | None:
        names = [n.upper() for n in self.aus_names]
        return names.index("AU45") if "AU45" in names else None

    def background(self, i: int) -> Tensor | None:
        """[S,S,3] plate of source frame i (a few are cached: decoding a plate costs ~ms)."""
        if self.backgrounds is None:
            return None
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        bg = self.backgrounds(i).float()
        self._cache[i] = bg
        while len(self._cache) > 16:
            self._cache.popitem(last=False)
        return bg

    # ------------------------------------------------------------------------------ builders
    @classmethod
    def from_dataset(cls, dataset, avatar=None, idle_audio: np.ndarray | None = None) -> DriveSource:
        """From a PersonDataset split: its poses, AUs and torso / background plates.

        idle_audio [D]: the features shown when no audio is loaded; pass the extractor's features of
        silence (`silence_features`); default: the mean of the dataset's features.
        """
        frames = np.asarray(dataset.frame_indices)
        if len(frames) == 0:
            raise ValueError(f"the dataset split {dataset.split!r} has no frames; use split='all'.")
        aus = np.asarray(dataset.aus[frames], dtype=np.float32)
        if idle_audio is None:
            idle_audio = np.asarray(dataset.audio_features[frames], dtype=np.float32).mean(0)
        center = head_center(avatar) if avatar is not None else np.zeros(3, np.float32)
        return cls(
            w2c=dataset.w2c[torch.from_numpy(frames)].float(),
            K=dataset.K.float(),
            aus=aus,
            aus_names=list(dataset.aus_names),
            size=int(dataset.size),
            fps=float(dataset.fps),
            idle_audio=np.asarray(idle_audio, np.float32),
            center=center,
            backgrounds=lambda i: dataset.torso_background(int(frames[i])),
        )

    @classmethod
    def frontal(cls, avatar, size: int = 256, fps: float | None = None,
                idle_audio: np.ndarray | None = None, fill: float = 0.75) -> DriveSource:
        """No dataset: one frontal camera framing the avatar (head about `fill` of the image)."""
        cfg = avatar.config
        c = head_center(avatar)
        pts = avatar.face.means.detach().double().cpu().numpy()
        radius = float(np.quantile(np.linalg.norm(pts[:, :2] - c[:2], axis=1), 0.9)) or 0.1
        dist = 6.0 * radius
        f = fill * size * dist / (2.0 * radius)
        K = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=torch.float32)
        w2c = torch.eye(4)
        w2c[:3, 3] = torch.tensor([-c[0], -c[1], -c[2] + dist], dtype=torch.float32)
        names = list(cfg.aus_names)
        grey = torch.full((size, size, 3), 0.35)
        return cls(
            w2c=w2c[None],
            K=K,
            aus=np.zeros((1, len(names)), np.float32),
            aus_names=names,
            size=int(size),
            fps=float(fps or cfg.fps),
            idle_audio=(np.zeros(cfg.audio_dim, np.float32) if idle_audio is None
                        else np.asarray(idle_audio, np.float32)),
            center=c,
            backgrounds=lambda i: grey,
        )


def head_center(avatar) -> np.ndarray:
    """[3] median of the face Gaussians' centres (world)."""
    return avatar.face.means.detach().median(dim=0).values.cpu().numpy().astype(np.float32)


def rotate_about(w2c: Tensor, center: np.ndarray, yaw_deg: float, pitch_deg: float) -> Tensor:
    """w2c [4,4] of a camera seeing the head turned by yaw (about the world y axis, positive = the
    head turns to its left) then pitch (about x, positive = chin up) around `center` [3]."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    cy, sy, cp, sp = math.cos(y), math.sin(y), math.cos(p), math.sin(p)
    ry = torch.tensor([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=torch.float32)
    rx = torch.tensor([[1, 0, 0], [0, cp, -sp], [0, sp, cp]], dtype=torch.float32)
    R = rx @ ry
    c = torch.as_tensor(center, dtype=torch.float32)
    M = torch.eye(4)
    M[:3, :3] = R
    M[:3, 3] = c - R @ c
    return w2c.float() @ M
