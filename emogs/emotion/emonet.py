"""EmoNet (Toisoul et al., Nature Machine Intelligence 2021): our implementation + a loader for user weights.

Architecture (as described in the paper): a face-alignment network (FAN: stem, `num_modules`
stacked 4-level hourglasses of bottleneck `ConvBlock`s predicting 68 landmark heatmaps), whose
features are concatenated with the stem features, multiplied by the summed heatmaps
(attention), then reduced by a 1x1 conv, 4 x (ConvBlock + max-pool), global average pool and an
MLP to `n_expression` logits + valence + arousal. Input: RGB [B, 3, 256, 256] in [0, 1].

Module names follow the public EmoNet checkpoints (`emonet_8.pth` / `emonet_5.pth`): m0, top_m_0,
conv_last0, bn_end0, l0, bl0, al0, conv1x1_input_emo_2, emo_net_2, emo_fc_2. `load_emonet`
reads them with `torch.load(weights_only=True)` (or safetensors) and reports missing /
unexpected keys. The weights are not available offline here: tests use random weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EMONET_CLASSES_8: tuple[str, ...] = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "angry",
    "contempt",
)


class ConvBlock(nn.Module):
    """FAN bottleneck: BN-ReLU-conv3x3 to out/2, out/4, out/4, concatenated, plus a (projected) skip."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        h, q = cout // 2, cout // 4
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, h, 3, 1, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(h), nn.Conv2d(h, q, 3, 1, 1, bias=False)
        self.bn3, self.conv3 = nn.BatchNorm2d(q), nn.Conv2d(q, cout - h - q, 3, 1, 1, bias=False)
        self.downsample = (
            nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(True), nn.Conv2d(cin, cout, 1, 1, bias=False))
            if cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o1 = self.conv1(F.relu(self.bn1(x)))
        o2 = self.conv2(F.relu(self.bn2(o1)))
        o3 = self.conv3(F.relu(self.bn3(o2)))
        res = x if self.downsample is None else self.downsample(x)
        return torch.cat([o1, o2, o3], 1) + res


class HourGlass(nn.Module):
    """Recursive hourglass of `depth` levels (modules b1_<l>, b2_<l>, b2_plus_1, b3_<l>)."""

    def __init__(self, depth: int, features: int):
        super().__init__()
        self.depth = depth
        for level in range(depth, 0, -1):
            self.add_module(f"b1_{level}", ConvBlock(features, features))
            self.add_module(f"b2_{level}", ConvBlock(features, features))
            if level == 1:
                self.add_module("b2_plus_1", ConvBlock(features, features))
            self.add_module(f"b3_{level}", ConvBlock(features, features))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        up1 = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2))
        low = self._level(level - 1, low) if level > 1 else self._modules["b2_plus_1"](low)
        low = self._modules[f"b3_{level}"](low)
        return up1 + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, x)


class EmoNet(nn.Module):
    """RGB [B,3,256,256] in [0,1] -> {"heatmap" [B,68,64,64], "expression", "valence" / "arousal" [B]}."""

    def __init__(self, n_expression: int = 8, num_modules: int = 2, features: int = 256, n_blocks: int = 4):
        super().__init__()
        self.n_expression, self.num_modules = n_expression, num_modules
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, features)
        for i in range(num_modules):
            self.add_module(f"m{i}", HourGlass(4, features))
            self.add_module(f"top_m_{i}", ConvBlock(features, features))
            self.add_module(f"conv_last{i}", nn.Conv2d(features, features, 1))
            self.add_module(f"bn_end{i}", nn.BatchNorm2d(features))
            self.add_module(f"l{i}", nn.Conv2d(features, 68, 1))
            if i < num_modules - 1:
                self.add_module(f"bl{i}", nn.Conv2d(features, features, 1))
                self.add_module(f"al{i}", nn.Conv2d(68, features, 1))
        self.conv1x1_input_emo_2 = nn.Conv2d(features * (num_modules + 1), features, 1)
        blocks: list[nn.Module] = []
        for _ in range(n_blocks):
            blocks += [ConvBlock(features, features), nn.MaxPool2d(2, 2)]
        self.emo_net_2 = nn.Sequential(*blocks)
        self.emo_fc_2 = nn.Sequential(
            nn.Linear(features, 128), nn.BatchNorm1d(128), nn.ReLU(True), nn.Linear(128, n_expression + 2)
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"EmoNet expects RGB [B, 3, 256, 256] in [0, 1]; got {tuple(x.shape)}")
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, stride=2)
        x = self.conv4(self.conv3(x))
        prev, feats, heat = x, [], None
        for i in range(self.num_modules):
            ll = self._modules[f"top_m_{i}"](self._modules[f"m{i}"](prev))
            ll = F.relu(self._modules[f"bn_end{i}"](self._modules[f"conv_last{i}"](ll)))
            heat = self._modules[f"l{i}"](ll)
            if i < self.num_modules - 1:
                ll = self._modules[f"bl{i}"](ll)
                prev = prev + ll + self._modules[f"al{i}"](heat)
            feats.append(ll)
        attn = heat.sum(1, keepdim=True)
        emo = torch.cat([x, torch.cat(feats, 1) * attn], 1)
        f = self.emo_net_2(self.conv1x1_input_emo_2(emo))
        f = F.adaptive_avg_pool2d(f, 1).flatten(1)
        out = self.emo_fc_2(f)
        return {"heatmap": heat, "expression": out[:, :-2], "valence": out[:, -2], "arousal": out[:, -1]}


def load_emonet(path: str | os.PathLike) -> EmoNet:
    """EmoNet with user weights (`emonet_8.pth`, `emonet_5.pth`, or our safetensors), in eval mode."""
    from emogs.io.weights import read_state_dict

    path = Path(path)
    sd = read_state_dict(path, "EmoNet")
    if "emo_fc_2.3.weight" not in sd or "conv4.conv1.weight" not in sd:
        raise ValueError(f"{path} is not an EmoNet checkpoint (no emo_fc_2.3 / conv4 weights)")
    n_expr = sd["emo_fc_2.3.weight"].shape[0] - 2
    num_modules = len({k.split(".")[0] for k in sd if k.startswith("top_m_")})
    features = sd["conv4.conv1.weight"].shape[0] * 2
    n_blocks = len({k.split(".")[1] for k in sd if k.startswith("emo_net_2.") and k.endswith("conv1.weight")})
    net = EmoNet(n_expr, num_modules, features, n_blocks)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: EmoNet key mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return net.eval()


def face_crop_rgb(rgb: np.ndarray, face_bbox=None, points478=None, size: int = 256) -> np.ndarray:
    """Square RGB face crop -> float32 [3, size, size] in [0, 1] (EmoNet's input)."""
    h, w = rgb.shape[:2]
    if points478 is not None:
        p = np.asarray(points478, dtype=np.float64)[:, :2]
        x0, y0, x1, y1 = p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()
        scale = 1.2
    elif face_bbox is not None:
        x0, y0, x1, y1 = map(float, face_bbox)
        scale = 1.2
    else:
        x0, y0, x1, y1, scale = 0.0, 0.0, float(w), float(h), 1.0
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * scale
    s = size / max(side, 1.0)
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])
    crop = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return (crop.astype(np.float32) / 255.0).transpose(2, 0, 1).copy()
