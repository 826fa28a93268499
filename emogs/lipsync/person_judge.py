"""A lip-sync judge trained on the person's own video: the offline default where SyncNet's weights
cannot be had (design: "lip-sync judge: SyncNet (user weights) | one trained on the person's own video").

Like SyncNet it embeds 5 video frames (0.2 s) of the mouth and the same 0.2 s of audio in one space,
in-sync pairs close. It is small and sees only this person:
* lips: grey mouth crops [N, 5, 32, 48] in [0, 1] (`mouth_crops`: a fixed part of SyncNet's face
  crop, below the nose to below the chin), each window normalised to zero mean / unit variance ->
  3 conv layers -> 128-d, unit length;
* audio: the dataset's per-frame audio features of the same 5 frames [N, 5, D] (the avatar's own
  extractor, so TTS or new speech is featurised the same way), standardised with the training
  clip's statistics -> MLP -> 128-d, unit length;
* in-sync logit = scale * cosine + bias, trained with binary cross-entropy on aligned windows vs the
  same lips with audio >= `min_shift` frames away (Wav2Lip's lip-sync expert objective).

Its scores are **not** Sync-E / Sync-C (another judge, trained on the same person's video): they are
reported as `person_sync` and are comparable only between renders of the same dataset. The judge's
own quality is measured on the validation split it never saw (`train_person_judge`'s report).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .scores import crop_region, sync_confidence
from .syncnet import LIP_FRAMES

WINDOW = LIP_FRAMES  # video frames per window, as SyncNet
MOUTH_SIZE = (32, 48)  # rows, cols
# the mouth region as fractions of SyncNet's face crop (rows from its top, cols from its left)
MOUTH_ROWS = (0.38, 0.74)
MOUTH_COLS = (0.22, 0.78)
WEIGHTS_FILE = "lipsync_judge.safetensors"
REPORT_FILE = "lipsync_judge.json"


def mouth_boxes(face_boxes: np.ndarray) -> np.ndarray:
    """[T, 3] face boxes (cx, cy, half-size; emogs.lipsync.scores.face_boxes) -> [T, 4] mouth regions
    (y0, y1, x0, x1) in pixels: a fixed part of the face crop, so it moves with the head, not the jaw."""
    out = []
    for box in np.asarray(face_boxes, np.float64):
        top, bottom, left, right = crop_region(box)
        rows, cols = np.array(MOUTH_ROWS) * (bottom - top) + top, np.array(MOUTH_COLS) * (right - left) + left
        out.append((*rows, *cols))
    return np.array(out).reshape(-1, 4)


def mouth_crops(rgb: Tensor, boxes: np.ndarray, margin: int = 0) -> Tensor:
    """Float RGB [N, H, W, 3] in [0, 1] and [N, 4] mouth regions -> grey [N, 32 + 2 m, 48 + 2 m]
    (antialiased bilinear; differentiable in the pixels), the regions grown by `margin` m output
    pixels on each side (room for shift augmentation) and clipped to the image."""
    grey = rgb @ torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype)
    H, W = grey.shape[1:]
    size = (MOUTH_SIZE[0] + 2 * margin, MOUTH_SIZE[1] + 2 * margin)
    out = []
    for img, (y0, y1, x0, x1) in zip(grey, np.asarray(boxes, np.float64)):
        gy, gx = margin * (y1 - y0) / MOUTH_SIZE[0], margin * (x1 - x0) / MOUTH_SIZE[1]
        r0, r1 = int(np.clip(round(y0 - gy), 0, H - 1)), int(np.clip(round(y1 + gy), 1, H))
        c0, c1 = int(np.clip(round(x0 - gx), 0, W - 1)), int(np.clip(round(x1 + gx), 1, W))
        cut = img[r0:max(r1, r0 + 1), c0:max(c1, c0 + 1)][None, None]
        out.append(F.interpolate(cut, size=size, mode="bilinear", align_corners=False, antialias=True)[0, 0])
    return torch.stack(out)


class PersonSyncJudge(nn.Module):
    """Lip and audio towers; `audio_mean` / `audio_std` [D] standardise the audio features."""

    def __init__(self, audio_dim: int, embed_dim: int = 128):
        super().__init__()
        self.lips = nn.Sequential(
            nn.Conv2d(WINDOW, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.2),
            nn.Linear(64 * (MOUTH_SIZE[0] // 8) * (MOUTH_SIZE[1] // 8), embed_dim))
        self.audio = nn.Sequential(nn.Flatten(), nn.Linear(WINDOW * audio_dim, 256), nn.ReLU(),
                                   nn.Dropout(0.2), nn.Linear(256, embed_dim))
        self.register_buffer("audio_mean", torch.zeros(audio_dim))
        self.register_buffer("audio_std", torch.ones(audio_dim))
        self.scale = nn.Parameter(torch.tensor(5.0))
        self.bias = nn.Parameter(torch.tensor(0.0))

    def embed_lips(self, mouths: Tensor) -> Tensor:
        """[N, 5, 32, 48] grey mouth crops in [0, 1] -> [N, E] unit vectors."""
        flat = mouths.flatten(1)
        x = (mouths - flat.mean(1)[:, None, None, None]) / (flat.std(1)[:, None, None, None] + 1e-3)
        return F.normalize(self.lips(x), dim=-1)

    def embed_audio(self, features: Tensor) -> Tensor:
        """[N, 5, D] audio features of the same frames -> [N, E] unit vectors."""
        return F.normalize(self.audio((features - self.audio_mean) / self.audio_std), dim=-1)

    def logits(self, lips: Tensor, audio: Tensor) -> Tensor:
        """In-sync logits of embedding pairs [N, E] x [N, E] -> [N]."""
        return self.scale * (lips * audio).sum(-1) + self.bias


def feature_windows(features: np.ndarray, starts: np.ndarray) -> Tensor:
    """[T, D] per-frame features and window starts [N] -> [N, 5, D] (frames v .. v + 4)."""
    idx = np.asarray(starts)[:, None] + np.arange(WINDOW)[None, :]
    return torch.from_numpy(np.asarray(features, np.float32)[idx])


def _blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Per-sample Gaussian blur of [N, C, H, W] (sigma [N] in px; 0 = none): renders are softer than video."""
    r = 2
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-(t[None] ** 2) / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))
    k = k / k.sum(1, keepdim=True)  # [N, 5]
    n, c = x.shape[:2]
    y = F.pad(x.reshape(1, n * c, *x.shape[2:]), (r, r, r, r), mode="replicate")
    kx = k.repeat_interleave(c, 0)[:, None, None, :]
    ky = k.repeat_interleave(c, 0)[:, None, :, None]
    y = F.conv2d(F.conv2d(y, kx, groups=n * c), ky, groups=n * c)
    return y.reshape_as(x)


def train_person_judge(mouths: np.ndarray, features: np.ndarray, train: tuple[int, int], val: tuple[int, int],
                       steps: int = 1200, batch: int = 32, min_shift: int = 3, seed: int = 0,
                       progress=None) -> tuple[PersonSyncJudge, dict]:
    """Fit the judge on the frames [train[0], train[1]) and measure it on [val[0], val[1]).

    mouths: uint8 [T, 36, 52] grey crops (2 px margin: random 32 x 48 shifts augment them);
    features: [T, D] the dataset's audio features. Returns (judge in eval mode, report): the report
    gives the validation accuracy on balanced in-sync / shifted pairs and the offset search on the
    validation clip (`offset_frames` 0 and a clear `confidence` mean the judge hears the lips)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    T, D = features.shape
    starts = np.arange(train[0], train[1] - WINDOW + 1)
    if len(starts) < 4 * min_shift:
        raise ValueError(f"the training split has {train[1] - train[0]} frames: too few to train a "
                         "lip-sync judge")
    judge = PersonSyncJudge(D)
    tr = np.asarray(features[train[0]:train[1]], np.float64)
    judge.audio_mean.copy_(torch.from_numpy(tr.mean(0)).float())
    judge.audio_std.copy_(torch.from_numpy(tr.std(0) + 1e-3).float())
    mouths_t = torch.from_numpy(np.asarray(mouths)).float() / 255.0  # [T, 36, 52]
    feats_t = torch.from_numpy(np.array(features, np.float32))
    opt = torch.optim.Adam(judge.parameters(), lr=1e-3, weight_decay=1e-4)
    win = torch.arange(WINDOW)
    judge.train()
    losses = []
    for _ in range(steps):
        v = torch.from_numpy(starts)[torch.randint(len(starts), (batch,), generator=g)]
        shift = torch.randint(min_shift, len(starts) // 2, (batch,), generator=g) * \
            (torch.randint(2, (batch,), generator=g) * 2 - 1)
        u = torch.from_numpy(starts[0] + (v.numpy() - starts[0] + shift.numpy()) % len(starts))
        positive = torch.rand(batch, generator=g) < 0.5
        a = torch.where(positive, v, u)
        dy, dx = (int(torch.randint(0, 5, (), generator=g)) for _ in range(2))  # one shift per batch
        clip = mouths_t[v[:, None] + win][..., dy:dy + MOUTH_SIZE[0], dx:dx + MOUTH_SIZE[1]]  # [B, 5, 32, 48]
        clip = _blur(clip, torch.rand(batch, generator=g) * 1.2 * (torch.rand(batch, generator=g) < 0.5))
        clip = clip + 0.01 * torch.randn(clip.shape, generator=g)
        logits = judge.logits(judge.embed_lips(clip), judge.embed_audio(feats_t[a[:, None] + win]))
        loss = F.binary_cross_entropy_with_logits(logits, positive.float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(1)
    judge.eval()
    report = {"train_frames": int(train[1] - train[0]), "steps": steps,
              "final_train_loss": float(np.mean(losses[-50:]))}
    report.update(validate_person_judge(judge, mouths_t[:, 2:2 + MOUTH_SIZE[0], 2:2 + MOUTH_SIZE[1]], feats_t,
                                        val, min_shift))
    return judge, report


def validate_person_judge(judge: PersonSyncJudge, mouths: Tensor, features: Tensor, val: tuple[int, int],
                          min_shift: int = 3) -> dict:
    """Accuracy on balanced in-sync / shifted windows of [val[0], val[1]) and its offset search."""
    starts = np.arange(val[0], val[1] - WINDOW + 1)
    if len(starts) < 2 * min_shift + 2:
        return {"val_windows": int(len(starts)),
                "val_note": "the validation split is too short to measure the judge"}
    win = np.arange(WINDOW)
    with torch.no_grad():
        lips = judge.embed_lips(mouths[starts[:, None] + win])
        audio = judge.embed_audio(features[starts[:, None] + win])
        pos = judge.logits(lips, audio)
        k = np.arange(len(starts))
        shifted = (k + np.maximum(min_shift, len(starts) // 2)) % len(starts)
        neg = judge.logits(lips, audio[shifted])
        search = sync_confidence(lips, audio, vshift=min(15, len(starts) - 1))
    return {"val_windows": int(len(starts)),
            "val_accuracy": float(((pos > 0).float().mean() + (neg <= 0).float().mean()) / 2),
            "val_offset_frames": int(search["offset_frames"]), "val_confidence": float(search["sync_c"]),
            "val_distance": float(search["sync_e"])}


def save_person_judge(judge: PersonSyncJudge, folder: str | Path, meta: dict) -> None:
    """Write `folder`/lipsync_judge.safetensors and .json (meta: extractor, report ...) atomically."""
    from safetensors.torch import save_file

    from ..io.atomic import atomic_path, save_text

    folder = Path(folder)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file({k: v.contiguous() for k, v in judge.state_dict().items()}, str(tmp),
                  metadata={"audio_dim": str(int(judge.audio_mean.shape[0]))})
    save_text(folder / REPORT_FILE, json.dumps(meta, indent=2))


def load_person_judge(folder: str | Path) -> tuple[PersonSyncJudge, dict] | tuple[None, str]:
    """(judge, meta) from a dataset folder, or (None, why not)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = Path(folder)
    path = folder / WEIGHTS_FILE
    if not path.exists():
        return None, (f"no person lip-sync judge in {folder} (run the preprocessing stage 'lipsync_judge')")
    with safe_open(str(path), "pt") as f:
        dim = int(f.metadata()["audio_dim"])
    judge = PersonSyncJudge(dim)
    judge.load_state_dict(load_file(str(path)))
    meta = json.loads((folder / REPORT_FILE).read_text()) if (folder / REPORT_FILE).exists() else {}
    return judge.eval(), meta



def person_meter(judge: PersonSyncJudge, face_boxes: np.ndarray, features: np.ndarray):
    """ClipMeter (emogs.lipsync.scores) for the person judge: mouth crops of frames with `face_boxes`
    [T, 3], audio windows of `features` [T, D] (the clip's per-frame audio features, frame 0 first).
    Its result names the offset search's numbers `distance` / `confidence`, so they cannot pass for
    SyncNet's Sync-E / Sync-C, and says which judge gave them."""
    from .scores import ClipMeter

    regions = mouth_boxes(face_boxes)
    features = np.asarray(features, np.float32)

    def crop(frame: np.ndarray, t: int) -> np.ndarray:
        rgb = torch.from_numpy(np.asarray(frame)).float()[None] / 255.0
        return mouth_crops(rgb, regions[t:t + 1])[0].numpy()

    return ClipMeter(crop=crop, embed_clips=lambda clips: judge.embed_lips(torch.from_numpy(clips)),
                     audio_embeddings=lambda T: judge.embed_audio(
                         feature_windows(features, np.arange(max(0, T - WINDOW)))),
                     num_frames=min(len(regions), len(features)),
                     names={"sync_e": "distance", "sync_c": "confidence"},
                     label="person (emogs.lipsync.person_judge; not SyncNet)")
