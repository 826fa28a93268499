"""Training losses. Images are [H,W,C] float in [0,1] unless stated otherwise.

- photometric: `l1`, `dssim` (pytorch-msssim), `rgb_loss` = L1 + w D-SSIM (+ w LPIPS);
- normals: `normal_loss` = w1 L1(N_hat, N) on valid pixels + w2 TV(N_hat) + w3 ||Delta n||^2;
- TalkingGaussian's small regularisers on the deformation offsets (`deformation_reg`) and on
  the alpha masks (`alpha_mask_loss`);
- `LPIPS`: the real AlexNet-LPIPS architecture; weights only from a user file (`load_lpips`);
- L_sync (SyncNet's towers on five rendered frames) is `emogs.train.sync_term.SyncTerm`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _nchw(img: Tensor) -> Tensor:
    if img.dim() != 3:
        raise ValueError(f"expected an image [H,W,C], got shape {tuple(img.shape)}")
    return img.permute(2, 0, 1).unsqueeze(0)


def l1(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean |pred - target|; with `mask` [H,W] (0/1) the mean over masked pixels."""
    d = (pred - target).abs()
    if mask is None:
        return d.mean()
    m = mask.to(d.dtype).unsqueeze(-1)
    return (d * m).sum() / (m.sum() * d.shape[-1]).clamp_min(1.0)


def ssim(pred: Tensor, target: Tensor) -> Tensor:
    """SSIM of two [H,W,C] images in [0,1] (Gaussian window 11, sigma 1.5; smaller for tiny images)."""
    from pytorch_msssim import ssim as _ssim

    h, w = pred.shape[:2]
    win = min(11, (min(h, w) // 2) * 2 - 1)
    if win < 3:
        raise ValueError(f"SSIM needs images of at least 4x4 pixels (got {h}x{w}).")
    return _ssim(_nchw(pred), _nchw(target), data_range=1.0, win_size=win, size_average=True)


def dssim(pred: Tensor, target: Tensor) -> Tensor:
    """D-SSIM = 1 - SSIM (the 3DGS convention, not halved)."""
    return 1.0 - ssim(pred, target)


def total_variation(img: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute difference of horizontally / vertically adjacent pixels of [H,W,C]."""
    dx = (img[:, 1:] - img[:, :-1]).abs()
    dy = (img[1:] - img[:-1]).abs()
    if mask is None:
        return dx.mean() + dy.mean()
    m = mask.to(img.dtype)
    mx = (m[:, 1:] * m[:, :-1]).unsqueeze(-1)
    my = (m[1:] * m[:-1]).unsqueeze(-1)
    c = img.shape[-1]
    return (dx * mx).sum() / (mx.sum() * c).clamp_min(1) + (dy * my).sum() / (my.sum() * c).clamp_min(1)


def normal_loss(
    pred: Tensor,
    target: Tensor,
    valid: Tensor,
    delta_n: Tensor | None = None,
    w_l1: float = 1.0,
    w_tv: float = 0.1,
    w_dn: float = 0.01,
) -> Tensor:
    """L_normal = w_l1 L1(pred, target | valid) + w_tv TV(pred | valid) + w_dn mean ||delta_n||^2.

    pred, target: [H,W,3] unit normals (camera frame); valid: [H,W] bool; delta_n: [N,3].
    """
    loss = w_l1 * l1(pred, target, valid) + w_tv * total_variation(pred, valid)
    if delta_n is not None and delta_n.numel():
        loss = loss + w_dn * (delta_n ** 2).sum(-1).mean()
    return loss


def leave_out(pred: Tensor, target: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """(pred, target) with both set to the detached `pred` where `mask` (bool [H,W]) is True.

    Those pixels then add nothing to a per-pixel loss, get no gradient, and their true content (a
    hand over the face) never enters any loss - windowed ones (D-SSIM, LPIPS) included, whose windows
    see the render on both sides there. pred: [H,W] or [H,W,C]; target: the same, or [H,W] for a
    [H,W,1] pred (an alpha vs its mask); mask None -> both unchanged."""
    if mask is None:
        return pred, target
    m = mask if pred.dim() == mask.dim() else mask[..., None]
    if target.dim() < pred.dim():
        target = target[..., None]
    held = pred.detach()
    return torch.where(m, held, pred), torch.where(m, held, target.to(pred.dtype))


def deformation_reg(*offsets: Tensor | None, weight: float = 1e-3) -> Tensor:
    """TalkingGaussian-style small penalty: weight x sum of mean squared offsets (None skipped)."""
    terms = [(o ** 2).mean() for o in offsets if o is not None]
    if not terms:
        return torch.zeros(())
    return weight * torch.stack(terms).sum()


def alpha_mask_loss(alpha: Tensor, mask: Tensor) -> Tensor:
    """Mean |alpha - mask|: alpha [H,W,1] of a Gaussian set vs its parsing mask [H,W] (0/1)."""
    return (alpha.squeeze(-1) - mask.to(alpha.dtype)).abs().mean()


# ----------------------------------------------------------------------------- LPIPS
_ALEX_CONVS = (  # (in, out, kernel, stride, padding)
    (3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)
)
_ALEX_INDICES = (0, 3, 6, 8, 10)  # torchvision `alexnet().features` module indices of the convs


class LPIPS(nn.Module):
    """LPIPS (Zhang et al. 2018) with the AlexNet backbone.

    Weights: a `.safetensors` or torch `.pth` file holding the backbone as
    `features.{0,3,6,8,10}.{weight,bias}` (torchvision AlexNet naming) and the linear heads as
    `lin{0..4}.model.1.weight` [1,C,1,1] (the `lpips` package's naming); load with `load_lpips`.
    Nothing is downloaded. Input images [H,W,3] in [0,1]; returns a scalar distance.
    """

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(i, o, k, s, p) for i, o, k, s, p in _ALEX_CONVS])
        self.lins = nn.ModuleList([nn.Conv2d(c[1], 1, 1, bias=False) for c in _ALEX_CONVS])
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.requires_grad_(False)

    def _features(self, x: Tensor) -> list[Tensor]:
        feats = []
        for i, conv in enumerate(self.convs):
            if i in (1, 2):
                x = F.max_pool2d(x, 3, 2)
            x = F.relu(conv(x))
            feats.append(x)
        return feats

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        a = (_nchw(pred) * 2 - 1 - self.shift) / self.scale
        b = (_nchw(target) * 2 - 1 - self.shift) / self.scale
        total = torch.zeros((), dtype=a.dtype, device=a.device)
        for fa, fb, lin in zip(self._features(a), self._features(b), self.lins):
            na = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((na - nb) ** 2).mean()
        return total

    def load_weights(self, state: dict[str, Tensor]) -> None:
        mapped = {}
        for i, idx in enumerate(_ALEX_INDICES):
            for p in ("weight", "bias"):
                key = f"features.{idx}.{p}"
                if key not in state:
                    raise KeyError(f"LPIPS weights lack '{key}' (AlexNet backbone, torchvision naming).")
                mapped[f"convs.{i}.{p}"] = state[key]
            key = f"lin{i}.model.1.weight"
            if key not in state:
                raise KeyError(f"LPIPS weights lack '{key}' (linear head, lpips-package naming).")
            mapped[f"lins.{i}.weight"] = state[key]
        mapped["shift"], mapped["scale"] = self.shift, self.scale
        self.load_state_dict(mapped)


def load_lpips(path: str | Path | None) -> tuple[LPIPS | None, str]:
    """(LPIPS model, "ok") from a user-supplied weights file, or (None, reason) when unavailable."""
    if not path:
        return None, "LPIPS not computed: no backbone weights configured (set lpips_weights to a file)."
    path = Path(path)
    if not path.exists():
        return None, f"LPIPS not computed: weights file {path} does not exist."
    from emogs.io.weights import read_state_dict

    state = read_state_dict(path, "LPIPS")
    model = LPIPS()
    model.load_weights(state)
    return model.eval(), "ok"


def mask_box(mask: Tensor, margin: float = 0.25, min_pixels: int = 4) -> tuple[int, int, int, int] | None:
    """Bounding box (y0, y1, x0, x1), end-exclusive, of `mask` [H,W] > 0.5, grown by `margin` x its
    size on each side and clipped to the image; None when fewer than `min_pixels` are set."""
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if len(ys) < min_pixels:
        return None
    H, W = mask.shape
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    my, mx = int(round(margin * (y1 - y0))), int(round(margin * (x1 - x0)))
    return max(0, y0 - my), min(H, y1 + my), max(0, x0 - mx), min(W, x1 + mx)


def region_l1(pred: Tensor, target: Tensor, box: tuple[int, int, int, int] | None) -> Tensor:
    """Mean |pred - target| inside `box` (y0, y1, x0, x1) of [H,W,C] images; 0 when `box` is None.

    Averaging over the box alone, not the image, makes a small region (the mouth: ~1-2 % of the
    frame) weigh as much as the whole image in L1."""
    if box is None:
        return pred.sum() * 0.0
    y0, y1, x0, x1 = box
    return (pred[y0:y1, x0:x1] - target[y0:y1, x0:x1]).abs().mean()


def flow_l1(pred: Tensor, target: Tensor, alpha: Tensor, region: Tensor) -> Tensor:
    """Mean |pred - alpha * target| over `region` of the motion images pred, target [H,W,2] (px).

    pred is alpha-blended (a premultiplied feature), so the target is scaled by the rendered alpha
    [H,W,1] (detached) to match it; region [H,W] in [0,1] weights the pixels (e.g. the face mask).
    Non-finite target pixels (unknown motion, e.g. an eyeball the lids uncovered) are left out."""
    known = torch.isfinite(target).all(-1)
    region = region * known
    target = torch.where(known[..., None], target, torch.zeros_like(target))
    err = (pred - alpha.detach() * target).abs().sum(-1)
    return (err * region).sum() / region.sum().clamp_min(1.0)


def rgb_loss(
    pred: Tensor, target: Tensor, w_dssim: float = 0.2, lpips: LPIPS | None = None, w_lpips: float = 0.0
) -> Tensor:
    """L_rgb = L1 + w_dssim D-SSIM (+ w_lpips LPIPS when a model is given)."""
    loss = l1(pred, target) + w_dssim * dssim(pred, target)
    if lpips is not None and w_lpips > 0:
        loss = loss + w_lpips * lpips(pred, target)
    return loss
