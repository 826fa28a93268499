"""SyncNet (Chung & Zisserman, "Out of time", ACCV 2016 workshops): the lip-sync judge behind Sync-E
/ Sync-C (LSE-D / LSE-C) and the method's L_sync. Our implementation of the architecture of the
published `syncnet_v2.model`; its weights are not shipped (no package has them): users pass the file.

Two towers map 0.2 s of speech and the 5 video frames of the same 0.2 s into one 1024-d space,
where in-sync pairs lie close:
* audio: MFCCs [N, 1, 13, 20] (13 coefficients x 20 steps of 10 ms; emogs.lipsync.mfcc) ->
  2-D conv stack -> [N, 512] -> MLP -> [N, 1024];
* lips: face crops [N, 3, 5, 224, 224] (BGR, 0..255 floats, 5 frames at 25 fps; the crop of
  emogs.lipsync.scores.face_crop) -> 3-D conv stack (the first layer spans the 5 frames) -> [N, 512]
  -> MLP -> [N, 1024].

Every conv is followed by batch norm and ReLU. The published state dict's keys are
`netcnnaud.* / netfcaud.* / netcnnlip.* / netfclip.*` with the layer indices of these stacks;
`load_syncnet` reads that layout (or ours) with `torch.load(weights_only=True)` / safetensors.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor, nn

EMBED_DIM = 1024
LIP_FRAMES = 5  # video frames per window (0.2 s at 25 fps)
MFCC_STEPS = 20  # MFCC steps per window (0.2 s at 100 Hz)
CROP_SIZE = 224

# (kind, arguments): "conv" = conv + batch norm + ReLU (3 modules), "pool" = max pool (1 module).
# conv: (in, out, kernel, stride, padding); pool: (kernel, stride, padding).
AUDIO_LAYERS = (
    ("conv", (1, 64, (3, 3), 1, 1)), ("pool", ((1, 1), 1, 0)),
    ("conv", (64, 192, (3, 3), 1, 1)), ("pool", ((3, 3), (1, 2), 0)),
    ("conv", (192, 384, (3, 3), 1, 1)),
    ("conv", (384, 256, (3, 3), 1, 1)),
    ("conv", (256, 256, (3, 3), 1, 1)), ("pool", ((3, 3), 2, 0)),
    ("conv", (256, 512, (5, 4), 1, 0)),
)
LIP_LAYERS = (
    ("conv", (3, 96, (5, 7, 7), (1, 2, 2), 0)), ("pool", ((1, 3, 3), (1, 2, 2), 0)),
    ("conv", (96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1))), ("pool", ((1, 3, 3), (1, 2, 2), (0, 1, 1))),
    ("conv", (256, 256, (1, 3, 3), 1, (0, 1, 1))),
    ("conv", (256, 256, (1, 3, 3), 1, (0, 1, 1))),
    ("conv", (256, 256, (1, 3, 3), 1, (0, 1, 1))), ("pool", ((1, 3, 3), (1, 2, 2), 0)),
    ("conv", (256, 512, (1, 6, 6), 1, 0)),
)
# our attribute -> the published state dict's prefix
PUBLISHED_PREFIX = {"audio_cnn": "netcnnaud", "audio_head": "netfcaud", "lip_cnn": "netcnnlip",
                    "lip_head": "netfclip"}


def conv_stack(layers, dims: int) -> nn.Sequential:
    """The conv / pool spec `layers` as modules for 2-D (dims=2) or 3-D (dims=3) inputs."""
    conv, norm, pool = (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if dims == 2 else (
        nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d)
    mods: list[nn.Module] = []
    for kind, args in layers:
        if kind == "conv":
            cin, cout, kernel, stride, padding = args
            mods += [conv(cin, cout, kernel, stride=stride, padding=padding), norm(cout), nn.ReLU()]
        else:
            kernel, stride, padding = args
            mods.append(pool(kernel, stride=stride, padding=padding))
    return nn.Sequential(*mods)


def embedding_head(dim: int = EMBED_DIM) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, dim))


class SyncNet(nn.Module):
    """Audio and lip towers of SyncNet. Use in eval mode (batch norm with its running statistics)."""

    def __init__(self, embed_dim: int = EMBED_DIM):
        super().__init__()
        self.audio_cnn = conv_stack(AUDIO_LAYERS, 2)
        self.audio_head = embedding_head(embed_dim)
        self.lip_cnn = conv_stack(LIP_LAYERS, 3)
        self.lip_head = embedding_head(embed_dim)

    def embed_audio(self, mfcc_windows: Tensor) -> Tensor:
        """[N, 1, 13, 20] MFCC windows -> [N, D]."""
        if mfcc_windows.shape[1:] != (1, 13, MFCC_STEPS):
            raise ValueError(f"SyncNet audio input must be [N, 1, 13, {MFCC_STEPS}], "
                             f"got {tuple(mfcc_windows.shape)}")
        return self.audio_head(self.audio_cnn(mfcc_windows).flatten(1))

    def embed_lips(self, clips: Tensor) -> Tensor:
        """[N, 3, 5, 224, 224] BGR face crops in 0..255 -> [N, D]."""
        if clips.shape[1:] != (3, LIP_FRAMES, CROP_SIZE, CROP_SIZE):
            raise ValueError(f"SyncNet lip input must be [N, 3, {LIP_FRAMES}, {CROP_SIZE}, {CROP_SIZE}] "
                             f"(BGR 0..255), got {tuple(clips.shape)}")
        return self.lip_head(self.lip_cnn(clips).flatten(1))

    def published_state_dict(self) -> dict[str, Tensor]:
        """Our weights under the published file's key names (the inverse of `load_syncnet`'s renaming)."""
        out = {}
        for key, value in self.state_dict().items():
            head, rest = key.split(".", 1)
            out[f"{PUBLISHED_PREFIX[head]}.{rest}"] = value
        return out


def from_published_keys(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename `netcnnaud.3.weight`-style keys to ours; keys already in our layout pass unchanged."""
    ours = {v: k for k, v in PUBLISHED_PREFIX.items()}
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        out[f"{ours.get(head, head)}.{rest}"] = value
    return out


def load_syncnet(path: str | os.PathLike) -> SyncNet:
    """SyncNet with user weights (`syncnet_v2.model` converted to a plain state dict, or ours as
    .safetensors / .pt), in eval mode. Raises ValueError naming the file when keys or shapes differ."""
    from emogs.io.weights import read_state_dict

    path = Path(path)
    state = from_published_keys(read_state_dict(path, "SyncNet"))
    net = SyncNet(embed_dim=int(state["audio_head.3.weight"].shape[0]) if "audio_head.3.weight" in state
                  else EMBED_DIM)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path} is not a SyncNet (syncnet_v2) state dict: missing {missing[:4]}, unexpected "
            f"{unexpected[:4]}, wrong shapes {wrong[:3]}; expected the keys netcnnaud.* / netfcaud.* / "
            "netcnnlip.* / netfclip.* of syncnet_v2.model")
    net.load_state_dict(state, strict=False)
    return net.eval()
