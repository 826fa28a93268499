"""BiSeNet face parser (19 CelebAMask-HQ classes), written for emogs, loading the widely used
face-parsing checkpoint (``79999_iter.pth``) when the user supplies it.

Architecture (Yu et al., "BiSeNet", ECCV 2018, in the face-parsing variant):
- context path: a ResNet-18 backbone (features at strides 8 / 16 / 32), a global-average
  context vector, attention refinement modules (ARM) on the stride-16 and stride-32 features,
  and 3x3 heads that upsample them to stride 8;
- spatial path: the face-parsing checkpoint uses the backbone's stride-8 features (layer2, 128
  channels) as its spatial path; ``spatial_path="conv"`` builds the paper's three stride-2
  conv-bn-relu blocks instead (not in that checkpoint);
- feature fusion module (FFM): concatenation, 1x1 conv-bn-relu, squeeze-excite style channel
  attention, residual;
- three output heads (the fused one is used at inference; the stride-16 / 32 heads are the
  auxiliary training outputs, kept so the checkpoint loads strictly).

State-dict layout (``cp.resnet.*``, ``cp.arm16.*``, ``cp.arm32.*``, ``cp.conv_head32.*``,
``cp.conv_head16.*``, ``cp.conv_avg.*``, ``ffm.*``, ``conv_out.*``, ``conv_out16.*``,
``conv_out32.*``) matches that checkpoint. Input: RGB resized to 512, ImageNet mean / std.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 19
BISENET_CLASSES = [
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_glasses", "l_ear", "r_ear",
    "earring", "nose", "mouth", "u_lip", "l_lip", "neck", "necklace", "cloth", "hair", "hat",
]  # fmt: skip
# BiSeNet class -> emogs class (preprocess.parsing.CLASS_NAMES): ears, nose, glasses and earrings
# are face skin; "mouth" is the cavity (teeth are split from it by colour in FaceParser); hats hair.
TO_EMOGS = np.array([0, 1, 2, 2, 3, 3, 1, 1, 1, 1, 1, 5, 4, 4, 8, 8, 9, 7, 7], dtype=np.uint8)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Sequential):
    """conv (no bias) -> batch norm -> ReLU; keys ``conv.*``, ``bn.*``."""

    def __init__(self, cin: int, cout: int, ks: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ks, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(out + skip, inplace=True)


class ResNet18Features(nn.Module):
    """ResNet-18 trunk without the classifier. x [B,3,H,W] -> (stride 8, 16, 32 features)."""

    def __init__(self, width: int = 64):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(w, w), BasicBlock(w, w))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2), BasicBlock(2 * w, 2 * w))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2), BasicBlock(4 * w, 4 * w))
        self.layer4 = nn.Sequential(BasicBlock(4 * w, 8 * w, 2), BasicBlock(8 * w, 8 * w))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x)), inplace=True))
        f8 = self.layer2(self.layer1(x))
        f16 = self.layer3(f8)
        f32 = self.layer4(f16)
        return f8, f16, f32


def _global_pool(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3), keepdim=True)


class AttentionRefinement(nn.Module):
    """3x3 conv-bn-relu, then channel attention from the pooled features (1x1 conv, bn, sigmoid)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, cout, 3, 1, 1)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        return feat * torch.sigmoid(self.bn_atten(self.conv_atten(_global_pool(feat))))


class ContextPath(nn.Module):
    """-> (stride-8 backbone features, refined context at stride 8, refined context at stride 16)."""

    def __init__(self, width: int = 64, mid: int = 128):
        super().__init__()
        self.resnet = ResNet18Features(width)
        self.arm16 = AttentionRefinement(4 * width, mid)
        self.arm32 = AttentionRefinement(8 * width, mid)
        self.conv_head32 = ConvBNReLU(mid, mid, 3, 1, 1)
        self.conv_head16 = ConvBNReLU(mid, mid, 3, 1, 1)
        self.conv_avg = ConvBNReLU(8 * width, mid, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f8, f16, f32 = self.resnet(x)
        ctx = self.conv_avg(_global_pool(f32))
        up32 = self.arm32(f32) + ctx  # broadcast = nearest upsampling of the 1x1 context
        up32 = self.conv_head32(F.interpolate(up32, size=f16.shape[2:], mode="nearest"))
        up16 = self.arm16(f16) + up32
        up16 = self.conv_head16(F.interpolate(up16, size=f8.shape[2:], mode="nearest"))
        return f8, up16, up32


class SpatialPath(nn.Module):
    """The paper's spatial path: three stride-2 conv-bn-relu blocks and a 1x1 projection (stride 8)."""

    def __init__(self, cout: int = 128):
        super().__init__()
        self.conv1 = ConvBNReLU(3, 64, 7, 2, 3)
        self.conv2 = ConvBNReLU(64, 64, 3, 2, 1)
        self.conv3 = ConvBNReLU(64, 64, 3, 2, 1)
        self.conv_out = ConvBNReLU(64, cout, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv3(self.conv2(self.conv1(x))))


class FeatureFusion(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, 1, 1, 0)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        atten = torch.sigmoid(self.conv2(F.relu(self.conv1(_global_pool(feat)), inplace=True)))
        return feat + feat * atten


class OutputHead(nn.Module):
    def __init__(self, cin: int, mid: int, n_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, mid, 3, 1, 1)
        self.conv_out = nn.Conv2d(mid, n_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """x [B, 3, H, W] (normalised RGB) -> logits [B, n_classes, H, W] (the fused head).

    ``width`` (64 for the checkpoint) scales the backbone; ``mid`` (128) the context channels.
    ``forward(x, aux=True)`` also returns the stride-16 / stride-32 auxiliary logits.
    """

    def __init__(
        self, n_classes: int = NUM_CLASSES, width: int = 64, mid: int = 128, spatial_path: str = "res8"
    ):
        super().__init__()
        if spatial_path not in ("res8", "conv"):
            raise ValueError("spatial_path must be 'res8' (the face-parsing checkpoint) or 'conv'.")
        self.cp = ContextPath(width, mid)
        self.sp = SpatialPath(2 * width) if spatial_path == "conv" else None
        fuse = 2 * width + mid
        self.ffm = FeatureFusion(fuse, fuse)
        self.conv_out = OutputHead(fuse, fuse, n_classes)
        self.conv_out16 = OutputHead(mid, mid // 2, n_classes)
        self.conv_out32 = OutputHead(mid, mid // 2, n_classes)

    def forward(self, x: torch.Tensor, aux: bool = False):
        size = x.shape[2:]
        f8, c8, c16 = self.cp(x)
        spatial = f8 if self.sp is None else self.sp(x)
        up = lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=True)  # noqa: E731
        out = up(self.conv_out(self.ffm(spatial, c8)))
        if not aux:
            return out
        return out, up(self.conv_out16(c8)), up(self.conv_out32(c16))


def _bad_weights(problem: str):
    fix = (
        "pass the 19-class BiSeNet face-parsing checkpoint (79999_iter.pth, a state dict saved with "
        "torch.save(model.state_dict())) or use the 'geometry' parsing backend"
    )
    try:
        from preprocess.errors import BadWeightsError

        return BadWeightsError(problem, fix)
    except ImportError:  # pragma: no cover
        return ValueError(f"{problem}; {fix}")


def load_bisenet(
    weights: str | Path, device: str = "cpu", width: int | None = None, mid: int | None = None
) -> BiSeNet:
    """Build ``BiSeNet`` and load a state dict safely (``torch.load(weights_only=True)``).

    ``width`` / ``mid`` default to the checkpoint's own (64 / 128 for 79999_iter.pth).

    Raises ``preprocess.errors.BadWeightsError`` (a RuntimeError) naming the problem for a missing
    file, a pickle that is not a plain state dict, or wrong keys / shapes.
    """
    from emogs.io.weights import WeightsFileError, read_state_dict

    path = Path(weights)
    try:
        state = read_state_dict(path, "BiSeNet (--parsing-weights)")
    except WeightsFileError as err:
        raise _bad_weights(str(err)) from err
    if width is None:
        w = state.get("cp.resnet.conv1.weight")
        width = int(w.shape[0]) if w is not None and w.ndim == 4 else 64
    if mid is None:
        w = state.get("cp.arm16.conv.conv.weight")
        mid = int(w.shape[0]) if w is not None and w.ndim == 4 else 128
    model = BiSeNet(NUM_CLASSES, width, mid)
    expected = model.state_dict()
    # checkpoints saved by old PyTorch versions have no BatchNorm step counters: keep ours
    for k in expected:
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = expected[k]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise _bad_weights(
            f"{path} is not a BiSeNet face-parsing checkpoint: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:3]})"
        )
    wrong = [
        (k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items() if state[k].shape != v.shape
    ]
    if wrong:
        k, got, want = wrong[0]
        raise _bad_weights(
            f"{path} has {len(wrong)} tensors of the wrong shape (e.g. {k}: {got}, expected {want}); "
            f"a checkpoint with another class count or backbone width"
        )
    model.load_state_dict(state)
    return model.eval().to(device)


@torch.no_grad()
def bisenet_logits(
    model: BiSeNet, rgb: np.ndarray, device: str = "cpu", input_size: int = 512
) -> torch.Tensor:
    """rgb [S, S, 3] uint8 -> logits [19, input_size, input_size] (float32, on CPU)."""
    import cv2

    img = (
        cv2.resize(rgb, (input_size, input_size), interpolation=cv2.INTER_LINEAR)
        if rgb.shape[0] != input_size
        else rgb
    )
    x = torch.from_numpy(np.ascontiguousarray(img)).to(device).permute(2, 0, 1)[None].float() / 255.0
    x = (x - torch.tensor(MEAN, device=device)[:, None, None]) / torch.tensor(STD, device=device)[
        :, None, None
    ]
    return model(x)[0].float().cpu()


def parse_with_bisenet(
    model: BiSeNet, rgb: np.ndarray, device: str = "cpu", input_size: int = 512
) -> np.ndarray:
    """rgb [S, S, 3] uint8 -> emogs labels [S, S] uint8 (BiSeNet classes mapped with TO_EMOGS)."""
    import cv2

    cls = bisenet_logits(model, rgb, device, input_size).argmax(0).numpy().astype(np.uint8)
    if cls.shape != rgb.shape[:2]:
        cls = cv2.resize(cls, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
    return TO_EMOGS[cls]
