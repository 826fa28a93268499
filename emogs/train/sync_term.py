"""L_sync (method, stages 2 and 3): SyncNet's verdict on five consecutive rendered frames against the
audio of the same 0.2 s, ||S_I(I_hat) - S_A(A)||^2, SyncNet frozen (user weights).

The judge has a small interface (`audio_frames(source)`, `lips(rgb [5, h, w, 3], boxes [5, 3]) ->
[1, E]`, `audio(source, frame) -> [1, E]`, `loss(lips, audio)`); `SyncNetLoss` is the one shipped.
The person's own judge (emogs.lipsync.person_judge) was tried behind it and not kept: its gradient
painted adversarial speckles instead of moving the lips (docs/training.md).

Windows come from the training split with the video's own audio, or, with a TTS bank
(`DATASET/tts/`, emogs.data.tts_bank) and `tts_fraction` > 0, from speech the person never spoke:
a random training frame's pose, AUs and background with the TTS audio features - no true frame
exists, only the judge says whether the lips fit (the method's TTS augmentation).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..avatar import FrameConditions
from ..io import read_audio
from ..lipsync.mfcc import INT16_SCALE, mfcc
from ..lipsync.scores import FPS, MFCC_PER_FRAME, face_boxes, face_crop_tensor
from ..lipsync.syncnet import LIP_FRAMES, MFCC_STEPS


class SyncNetLoss:
    """SyncNet (user weights) as L_sync's judge: squared distance of its embeddings."""

    def __init__(self, net, dataset, tts=None):
        if abs(float(dataset.fps) - FPS) > 1e-3:
            raise ValueError(f"L_sync: SyncNet needs 25 fps video; the dataset {dataset.root} is "
                             f"{dataset.fps:g} fps. Preprocess at 25 fps (the default) or drop "
                             "syncnet_weights.")
        wav_path = dataset.root / "audio.wav"
        if not wav_path.exists():
            raise ValueError(f"L_sync needs the video's audio; {wav_path} does not exist (a video without "
                             "sound cannot be lip-synced): drop syncnet_weights.")
        self.net = net.eval().requires_grad_(False)
        self.ceps = {"real": mfcc(read_audio(wav_path, 16000).astype(np.float64) * INT16_SCALE)}
        if tts is not None:
            self.ceps["tts"] = mfcc(np.asarray(tts.audio, np.float64) * INT16_SCALE)

    def audio_frames(self, source: str) -> int:
        """Frames whose 5-frame window has MFCCs."""
        return (len(self.ceps[source]) - MFCC_STEPS) // MFCC_PER_FRAME + 1

    def lips(self, rgb: Tensor, boxes: np.ndarray) -> Tensor:
        crops = torch.stack([face_crop_tensor(img, box) for img, box in zip(rgb, boxes)])
        return self.net.embed_lips(crops.permute(3, 0, 1, 2)[None])  # [1, 3, 5, 224, 224]

    def audio(self, source: str, frame: int) -> Tensor:
        a = frame * MFCC_PER_FRAME
        win = torch.from_numpy(self.ceps[source][a:a + MFCC_STEPS].T.astype(np.float32))[None, None]
        win = win.to(next(self.net.parameters()).device)
        with torch.no_grad():
            return self.net.embed_audio(win)

    def loss(self, lips: Tensor, audio: Tensor) -> Tensor:
        return ((lips - audio) ** 2).sum()


class SyncTerm:
    """Draws a window (the video's audio, or TTS speech with probability `tts_fraction`) and returns
    L_sync of the avatar's renders. dataset: the training PersonDataset; size: the training size."""

    def __init__(self, judge, dataset, size: int, tts=None, tts_fraction: float = 0.0):
        self.judge, self.dataset = judge, dataset
        self.size = int(size)
        self.tts = tts if tts is not None and tts_fraction > 0 else None
        self.tts_fraction = float(tts_fraction)
        self.boxes = face_boxes(np.asarray(dataset.landmarks))  # [T, 3] at the dataset's size
        idx = np.asarray(dataset.frame_indices)
        pos = np.arange(len(idx) - LIP_FRAMES + 1)
        consecutive = idx[pos + LIP_FRAMES - 1] - idx[pos] == LIP_FRAMES - 1
        audible = idx[pos] < judge.audio_frames("real")
        self.starts = pos[consecutive & audible]  # split positions of usable window starts
        if len(self.starts) == 0:
            raise ValueError("L_sync: the training split has no 5 consecutive frames with audio.")
        if self.tts is not None:
            ok = self.tts.window_starts(LIP_FRAMES)
            self.tts_starts = ok[ok < judge.audio_frames("tts")]

    def _cond(self, frame: int, audio: Tensor, emotion: bool) -> FrameConditions:
        """Conditions of video frame `frame` speaking `audio` [2W+1, D] (no image or normals read)."""
        ds = self.dataset
        va = torch.from_numpy(np.array(ds.valence_arousal[frame], np.float32)) if emotion else None
        return FrameConditions(w2c=ds.w2c[frame].float(), K=ds.K.float(), audio=audio,
                               aus=torch.from_numpy(np.array(ds.aus[frame], np.float32)), va=va,
                               background=ds.torso_background(frame).float())

    def __call__(self, avatar, generator: torch.Generator, emotion: bool = False) -> Tensor:
        """L_sync of one window drawn with `generator`; the emotion stage renders with each frame's V/A."""
        pick = int(torch.randint(len(self.starts), (), generator=generator))
        start = int(self.dataset.frame_indices[int(self.starts[pick])])  # a video frame index
        use_tts = self.tts is not None and float(torch.rand((), generator=generator)) < self.tts_fraction
        if use_tts:  # one training frame's pose / AUs / background, speaking 0.2 s of TTS speech
            first = int(self.tts_starts[int(torch.randint(len(self.tts_starts), (), generator=generator))])
            W = self.dataset.audio_window_size
            conds = [self._cond(start, torch.from_numpy(self.tts.audio_window(first + k, W)), emotion)
                     for k in range(LIP_FRAMES)]
            boxes = np.repeat(self.boxes[start][None], LIP_FRAMES, 0)
            audio = self.judge.audio("tts", first)
        else:
            frames = range(start, start + LIP_FRAMES)
            conds = [self._cond(t, self.dataset.audio_window(t), emotion) for t in frames]
            boxes = self.boxes[list(frames)]
            audio = self.judge.audio("real", start)
        rgb = torch.stack([avatar.render(c, self.size, self.size, deform=True, emotion=emotion,
                                         image_size=self.dataset.size, normals=False)["rgb"] for c in conds])
        return self.judge.loss(self.judge.lips(rgb, boxes * (self.size / float(self.dataset.size))), audio)
