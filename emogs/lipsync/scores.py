"""Sync-E / Sync-C (a.k.a. LSE-D / LSE-C): SyncNet's audio-visual offset search over a clip.

The published protocol (syncnet_python's evaluation, used by Wav2Lip, ER-NeRF, TalkingGaussian and
the method's paper), for a 25 fps video and its 16 kHz audio:
1. face crops: the face box (centre, half-size s = max(w, h) / 2), median-smoothed over 13 frames;
   rows [cy - s, cy + 1.8 s), columns [cx - 1.4 s, cx + 1.4 s) of the frame padded with grey 110,
   resized to 224 x 224 (BGR);
2. for every start frame v < T - 5: the lip embedding of frames v..v+4 and the audio embedding of
   MFCC steps 4v..4v+19 (emogs.lipsync.mfcc);
3. distances [N, 2 K + 1] of each lip embedding to the audio embeddings K frames before .. K after
   (K = `vshift` = 15; zero embeddings beyond the ends), averaged over frames -> per-offset mean;
4. Sync-E = its minimum, Sync-C = its median minus its minimum, AV offset = K - argmin (frames).

Here the face box comes from MediaPipe's 478 landmarks (their bounding box), where the published
pipeline uses the S3FD detector's box: numbers are comparable between emogs runs, close to but not
identical with the papers' tables.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

import cv2
import numpy as np
import torch
from scipy.ndimage import median_filter
from torch import Tensor

from .mfcc import INT16_SCALE, mfcc
from .syncnet import CROP_SIZE, LIP_FRAMES, MFCC_STEPS, SyncNet

FPS = 25.0
SAMPLE_RATE = 16000
MFCC_PER_FRAME = 4  # 100 Hz MFCCs / 25 fps
CROP_SCALE = 0.4
PAD_GREY = 110
SMOOTH_FRAMES = 13


def face_boxes(landmarks: np.ndarray, smooth: int = SMOOTH_FRAMES) -> np.ndarray:
    """[T, P, >=2] landmarks (pixels) -> [T, 3] (cx, cy, half-size), each median-filtered over `smooth`
    frames (edges repeat the end values). Frames with NaN landmarks take their neighbours' boxes."""
    pts = np.asarray(landmarks, np.float64)[..., :2]
    lo, hi = pts.min(1), pts.max(1)
    boxes = np.concatenate([(lo + hi) / 2, (hi - lo).max(1, keepdims=True) / 2], axis=1)
    ok = ~np.isnan(boxes).any(1)
    if not ok.any():
        raise ValueError("face_boxes: no frame has landmarks")
    t = np.arange(len(boxes))
    boxes = np.stack([np.interp(t, t[ok], boxes[ok, j]) for j in range(3)], axis=1)
    return median_filter(boxes, size=(smooth, 1), mode="nearest") if smooth > 1 else boxes


def crop_region(box) -> tuple[float, float, float, float]:
    """The face crop's region (y0, y1, x0, x1) in pixels of a box (cx, cy, half-size): from the box's
    top down 2.8 half-sizes (the chin and below), 2.8 half-sizes wide around its centre."""
    cx, cy, s = (float(v) for v in box)
    return cy - s, cy + s * (1 + 2 * CROP_SCALE), cx - s * (1 + CROP_SCALE), cx + s * (1 + CROP_SCALE)


def face_crop(rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
    """uint8 RGB [H, W, 3] and a box (cx, cy, half-size) -> uint8 BGR [224, 224, 3] SyncNet crop."""
    y0, y1, x0, x1 = (int(np.floor(v)) for v in crop_region(box))
    pad = int(float(box[2]) * (1 + 2 * CROP_SCALE))
    framed = cv2.copyMakeBorder(np.ascontiguousarray(rgb[..., ::-1]), pad, pad, pad, pad,
                                cv2.BORDER_CONSTANT, value=(PAD_GREY,) * 3)
    face = framed[max(y0 + pad, 0):max(y1 + pad, 0), max(x0 + pad, 0):max(x1 + pad, 0)]
    if face.size == 0:
        raise ValueError(f"face_crop: box {box} is outside the {rgb.shape[1]}x{rgb.shape[0]} frame")
    return cv2.resize(face, (CROP_SIZE, CROP_SIZE))


def face_crop_tensor(rgb: Tensor, box) -> Tensor:
    """Differentiable `face_crop`: float RGB [H, W, 3] in [0, 1] -> BGR [224, 224, 3] in 0..255, the
    same region and bilinear sampling (cv2's pixel-centre convention), grey 110 outside the frame."""
    H, W = rgb.shape[:2]
    # the same integer bounds as face_crop's slices of the padded frame (floors, also left of 0)
    y0, y1, x0, x1 = (float(np.floor(v)) for v in crop_region(box))
    centres = (torch.arange(CROP_SIZE, dtype=rgb.dtype, device=rgb.device) + 0.5) / CROP_SIZE
    sx = x0 + centres * (x1 - x0) - 0.5  # source pixel coordinates of the output pixel centres
    sy = y0 + centres * (y1 - y0) - 0.5
    gx, gy = (2 * sx + 1) / W - 1, (2 * sy + 1) / H - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    grey = PAD_GREY / 255.0
    img = (rgb.flip(-1) - grey).permute(2, 0, 1)[None]
    out = torch.nn.functional.grid_sample(img, grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)
    return (out[0].permute(1, 2, 0) + grey) * 255.0


def audio_windows(wav: np.ndarray, num_frames: int, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Float audio [N] in [-1, 1] at 16 kHz -> MFCC windows [num_frames - 5, 1, 13, 20] (window v =
    MFCC steps 4v .. 4v + 19, the 0.2 s from frame v's start)."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"SyncNet's MFCCs need 16 kHz audio, got {sample_rate} Hz")
    ceps = mfcc(np.asarray(wav, np.float64) * INT16_SCALE, SAMPLE_RATE)
    starts = np.arange(max(0, num_frames - LIP_FRAMES)) * MFCC_PER_FRAME
    starts = starts[starts + MFCC_STEPS <= len(ceps)]
    win = ceps[starts[:, None] + np.arange(MFCC_STEPS)[None, :]]  # [N, 20, 13]
    return torch.from_numpy(win.transpose(0, 2, 1)[:, None].astype(np.float32))


def offset_distances(lip: Tensor, audio: Tensor, vshift: int = 15) -> Tensor:
    """[N, D] lip and audio embeddings -> [N, 2 vshift + 1] distances of lip i to audio i - vshift ..
    i + vshift (zero vectors beyond the ends; torch's pairwise_distance, eps 1e-6)."""
    padded = torch.nn.functional.pad(audio, (0, 0, vshift, vshift))
    idx = torch.arange(len(lip))[:, None] + torch.arange(2 * vshift + 1)[None, :]
    return torch.nn.functional.pairwise_distance(lip[:, None, :].expand(-1, 2 * vshift + 1, -1), padded[idx])


def sync_confidence(lip: Tensor, audio: Tensor, vshift: int = 15) -> dict:
    """Sync-E, Sync-C and the AV offset of [N, D] embeddings (frames, the published sign: K - argmin, so
    lips at frame i that match the audio at frame i + d give -d)."""
    n = min(len(lip), len(audio))
    if n == 0:
        raise ValueError("sync_confidence: no window (a clip needs at least 6 frames of video and audio)")
    dist = offset_distances(lip[:n].double(), audio[:n].double(), vshift)
    mean = dist.mean(0)
    best = int(torch.argmin(mean))
    median = float(torch.median(mean))
    return {"sync_e": float(mean[best]), "sync_c": median - float(mean[best]), "offset_frames": vshift - best,
            "windows": n, "framewise_c": (median - dist[:, best]).numpy()}


class ClipMeter:
    """A lip-sync judge's offset search over one clip whose frames stream in one at a time (memory: the
    last 4 crops and one batch of windows).

    crop(frame, t) -> the judge's crop of frame t; embed_clips([N, 5, *crop]) -> [N, E] lip embeddings;
    audio_embeddings(T) -> [T - 5, E] embeddings of the clip's audio windows 0 .. T - 6 (T frames);
    names: how `result` names sync_confidence's `sync_e` / `sync_c` for this judge; label: added
    to the result as "judge" when given."""

    def __init__(self, crop: Callable[[np.ndarray, int], np.ndarray],
                 embed_clips: Callable[[np.ndarray], Tensor], audio_embeddings: Callable[[int], Tensor],
                 num_frames: int, batch: int = 16, names: dict[str, str] | None = None, label: str = ""):
        self.crop, self.embed_clips, self.audio_embeddings = crop, embed_clips, audio_embeddings
        self.num_frames, self.batch = int(num_frames), batch
        self.names, self.label = names or {}, label
        self.recent: deque = deque(maxlen=LIP_FRAMES)
        self.pending: list[np.ndarray] = []
        self.lips: list[Tensor] = []
        self.count = 0

    def add(self, frame_rgb: np.ndarray) -> None:
        if self.count < self.num_frames:
            self.recent.append(self.crop(frame_rgb, self.count))
            if len(self.recent) == LIP_FRAMES:
                self.pending.append(np.stack(self.recent))
                if len(self.pending) >= self.batch:
                    self._flush()
        self.count += 1

    def _flush(self) -> None:
        if self.pending:
            with torch.no_grad():
                self.lips.append(self.embed_clips(np.stack(self.pending)))
            self.pending = []

    def result(self, vshift: int = 15) -> dict:
        """sync_confidence's dict (without the per-frame array) of the frames added so far."""
        self._flush()
        T = min(self.count, self.num_frames)
        with torch.no_grad():
            audio = self.audio_embeddings(T)
        lips = torch.cat(self.lips) if self.lips else torch.zeros(0, audio.shape[-1])
        res = sync_confidence(lips[: max(0, T - LIP_FRAMES)], audio, vshift)
        res.pop("framewise_c")
        res = {self.names.get(k, k): v for k, v in res.items()}
        return {**res, "judge": self.label} if self.label else res


def syncnet_meter(net: SyncNet, boxes: np.ndarray, wav: np.ndarray) -> ClipMeter:
    """ClipMeter for SyncNet: face crops with `boxes` [T, 3] (face_boxes), MFCC windows of `wav` (float,
    16 kHz, starting with frame 0). Its result is Sync-E (`sync_e`) / Sync-C (`sync_c`)."""
    boxes = np.asarray(boxes)
    audio_frames = int(len(wav) // (SAMPLE_RATE / FPS))
    return ClipMeter(
        crop=lambda frame, t: face_crop(frame, boxes[t]),
        embed_clips=lambda clips: net.embed_lips(
            torch.from_numpy(clips.astype(np.float32)).permute(0, 4, 1, 2, 3)),
        audio_embeddings=lambda T: net.embed_audio(audio_windows(wav, min(T, audio_frames))),
        num_frames=min(len(boxes), audio_frames))


def sync_scores(net: SyncNet, frames_rgb: Iterable[np.ndarray], landmarks: np.ndarray, wav: np.ndarray,
                fps: float = FPS, vshift: int = 15) -> dict:
    """The protocol above for a stream of uint8 RGB frames [H, W, 3] at 25 fps, their landmarks
    [T, P, >=2] (pixels; NaN where none) and the float 16 kHz audio that starts with frame 0."""
    if abs(fps - FPS) > 1e-3:
        raise ValueError(f"SyncNet was trained on 25 fps video; this clip is {fps:g} fps")
    meter = syncnet_meter(net, face_boxes(landmarks), wav)
    for frame in frames_rgb:
        if meter.count >= meter.num_frames:
            break
        meter.add(frame)
    return meter.result(vshift)
