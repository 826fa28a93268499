"""L_sync = ||S_I(I_hat) - S_A(A)||^2 (method, stages 2 and 3): SyncNet's lip embedding of five
consecutive rendered training frames against its audio embedding of the same 0.2 s of the video's
audio. Needs user SyncNet weights (`syncnet_weights` in the config); the towers stay frozen.

A term costs five renders at `train_size`, the SyncNet lip tower and their backward pass, so the
trainer adds it every `sync_every` steps. Its weight (`loss.sync`) has not been tuned against real
weights here: none can be had offline.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..io import read_audio
from ..lipsync.mfcc import INT16_SCALE, mfcc
from ..lipsync.scores import FPS, MFCC_PER_FRAME, face_boxes, face_crop_tensor
from ..lipsync.syncnet import LIP_FRAMES, MFCC_STEPS, SyncNet
from .targets import make_target


class SyncTerm:
    """Draws a 5-frame window of the training split and returns L_sync for the avatar's renders.

    dataset: the training PersonDataset (25 fps, with audio.wav); size: the training resolution."""

    def __init__(self, net: SyncNet, dataset, size: int):
        if abs(float(dataset.fps) - FPS) > 1e-3:
            raise ValueError(f"L_sync: SyncNet needs 25 fps video; the dataset {dataset.root} is "
                             f"{dataset.fps:g} fps. Preprocess at 25 fps (the default) or drop "
                             "syncnet_weights.")
        wav_path = dataset.root / "audio.wav"
        if not wav_path.exists():
            raise ValueError(f"L_sync needs the video's audio; {wav_path} does not exist (a video without "
                             "sound cannot be lip-synced): drop syncnet_weights.")
        self.net = net.eval().requires_grad_(False)
        self.dataset, self.size = dataset, int(size)
        self.ceps = mfcc(read_audio(wav_path, 16000).astype(np.float64) * INT16_SCALE)  # [F, 13] at 100 Hz
        self.boxes = face_boxes(np.asarray(dataset.landmarks))  # [T, 3] at the dataset's size
        idx = np.asarray(dataset.frame_indices)
        pos = np.arange(len(idx) - LIP_FRAMES + 1)
        consecutive = idx[pos + LIP_FRAMES - 1] - idx[pos] == LIP_FRAMES - 1
        audible = idx[pos] * MFCC_PER_FRAME + MFCC_STEPS <= len(self.ceps)
        self.starts = pos[consecutive & audible]  # split positions of usable window starts
        if len(self.starts) == 0:
            raise ValueError("L_sync: the training split has no 5 consecutive frames with audio.")

    def audio_embedding(self, frame: int) -> Tensor:
        """[1, D] SyncNet audio embedding of the 0.2 s starting at video frame `frame`."""
        a = frame * MFCC_PER_FRAME
        win = torch.from_numpy(self.ceps[a:a + MFCC_STEPS].T.astype(np.float32))[None, None]
        with torch.no_grad():
            return self.net.embed_audio(win)

    def __call__(self, avatar, generator: torch.Generator, emotion: bool = False) -> Tensor:
        """L_sync of one window drawn with `generator`; the emotion stage renders with each frame's V/A."""
        start = int(self.starts[int(torch.randint(len(self.starts), (), generator=generator))])
        scale = self.size / float(self.dataset.size)
        crops = []
        for k in range(LIP_FRAMES):
            sample = self.dataset[start + k]
            tgt = make_target(sample, self.size, use_va=emotion)
            out = avatar.render(tgt.cond, self.size, self.size, deform=True, emotion=emotion,
                                image_size=tgt.image_size, normals=False)
            crops.append(face_crop_tensor(out["rgb"], self.boxes[sample.index] * scale))
        clip = torch.stack(crops).permute(3, 0, 1, 2)[None]  # [1, 3, 5, 224, 224]
        lip = self.net.embed_lips(clip)
        first = int(self.dataset.frame_indices[start])
        return ((lip - self.audio_embedding(first)) ** 2).sum()
