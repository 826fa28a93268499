"""g_LEF: the lip-aligned emotional face generator (method.md), for users who bring weights.

    W (inverted frame) --EmoStyle-style edit--> W' = W + d(W, e)
    lip landmarks of I -> heatmaps H -> E(H) = z_l -> M_lip([z_l, W']) = d_l -> W'' = W' + d_l
    StyleGAN2(W'') = I_E, whose lips match I; then seamless cloning (emogs.emotion.edit).

Trained: E and M_lip (the generator and the V/A edit are frozen, loaded from user weights).
Losses: lip landmark L2 (L_ll), lip-pixel L2 inside the lip mask (L_lp), ||d_l||^2 (L_reg),
emotion (V/A of I_E vs e through a differentiable V/A network, e.g. EmoNet; L_emo), identity
(1 - cosine of identity embeddings of I_E and I; L_id). The lip detector, V/A network and
identity network are passed in as differentiable callables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .stylegan2 import StyleGAN2Generator


def _mlp(cin: int, hidden: int, cout: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    c = cin
    for _ in range(layers - 1):
        mods += [nn.Linear(c, hidden), nn.LeakyReLU(0.2)]
        c = hidden
    mods.append(nn.Linear(c, cout))
    return nn.Sequential(*mods)


class LatentEmotionEdit(nn.Module):
    """EmoStyle-style V/A edit: d(W, e) [B, L, w_dim] from each W+ layer and e = (valence, arousal)."""

    def __init__(self, w_dim: int, n_latent: int, hidden: int = 512, layers: int = 4):
        super().__init__()
        self.net = _mlp(w_dim + 2 + n_latent, hidden, w_dim, layers)
        self.n_latent = n_latent

    def forward(self, wplus: torch.Tensor, va: torch.Tensor) -> torch.Tensor:
        b, n, _ = wplus.shape
        layer = torch.eye(n, device=wplus.device, dtype=wplus.dtype)[None].expand(b, n, n)
        x = torch.cat([wplus, va[:, None, :].expand(b, n, 2).to(wplus), layer], -1)
        return self.net(x)


def lip_heatmaps(points: torch.Tensor, size: int = 64, sigma: float = 1.5) -> torch.Tensor:
    """Gaussian heatmaps [B, K, size, size] of lip landmarks `points` [B, K, 2] in [0, 1] image coords."""
    g = (torch.arange(size, device=points.device, dtype=points.dtype) + 0.5) / size
    px = points[..., 0:1] - g  # [B, K, size]
    py = points[..., 1:2] - g
    s2 = 2 * (sigma / size) ** 2
    return torch.exp(-(py[..., :, None] ** 2) / s2) * torch.exp(-(px[..., None, :] ** 2) / s2)


class LipEncoder(nn.Module):
    """E: lip heatmaps [B, K, 64, 64] -> lip embedding z_l [B, z_dim]."""

    def __init__(self, num_points: int = 40, z_dim: int = 256, width: int = 32):
        super().__init__()
        c = [num_points, width, width * 2, width * 4, width * 8]
        convs: list[nn.Module] = []
        for a, b in zip(c[:-1], c[1:]):
            convs += [nn.Conv2d(a, b, 3, 2, 1), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*convs)
        self.fc = nn.Linear(c[-1], z_dim)

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(heatmaps).mean((2, 3)))


class LipExtract(nn.Module):
    """M_lip: [z_l, W'] -> lip correction d_l [B, L, w_dim]; zero at initialisation (W'' = W')."""

    def __init__(self, z_dim: int, w_dim: int, n_latent: int, hidden: int = 512, layers: int = 3):
        super().__init__()
        self.net = _mlp(z_dim + w_dim + n_latent, hidden, w_dim, layers)
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, z_l: torch.Tensor, w_edit: torch.Tensor) -> torch.Tensor:
        b, n, _ = w_edit.shape
        layer = torch.eye(n, device=w_edit.device, dtype=w_edit.dtype)[None].expand(b, n, n)
        return self.net(torch.cat([z_l[:, None].expand(b, n, z_l.shape[-1]), w_edit, layer], -1))


class LipAlignedEmotionGenerator(nn.Module):
    """g_LEF = StyleGAN2 + V/A edit (frozen) + E + M_lip (trained)."""

    def __init__(
        self,
        generator: StyleGAN2Generator,
        edit: LatentEmotionEdit,
        num_lip_points: int = 40,
        z_dim: int = 256,
        heatmap_size: int = 64,
    ):
        super().__init__()
        self.generator, self.edit = generator, edit
        for p in list(generator.parameters()) + list(edit.parameters()):
            p.requires_grad_(False)
        self.encoder = LipEncoder(num_lip_points, z_dim)
        self.lip_extract = LipExtract(z_dim, generator.w_dim, generator.n_latent)
        self.heatmap_size = heatmap_size

    def trainable_parameters(self):
        return list(self.encoder.parameters()) + list(self.lip_extract.parameters())

    def forward(
        self, wplus: torch.Tensor, va: torch.Tensor, lip_points: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """wplus [B, L, w_dim] (the inverted frame), va [B, 2], lip_points [B, K, 2] in [0, 1]."""
        w_edit = wplus + self.edit(wplus, va)
        z_l = self.encoder(lip_heatmaps(lip_points, self.heatmap_size))
        d_l = self.lip_extract(z_l, w_edit)
        w_final = w_edit + d_l
        return {"image": self.generator.synthesis(w_final), "w_edit": w_edit, "d_l": d_l, "w_final": w_final}


@dataclass
class LEFLossWeights:
    lip_landmarks: float = 1.0
    lip_pixels: float = 1.0
    reg: float = 0.1
    emotion: float = 0.1
    identity: float = 0.1


def lef_losses(
    out: dict[str, torch.Tensor],
    frame: torch.Tensor,
    lip_mask: torch.Tensor,
    lip_points: torch.Tensor,
    va: torch.Tensor,
    lip_detector: Callable,
    va_net: Callable | None = None,
    id_net: Callable | None = None,
    weights: LEFLossWeights | None = None,
) -> dict[str, torch.Tensor]:
    """The g_LEF training losses.

    frame [B,3,H,W] (the real frame I, same range as the generator), lip_mask [B,1,H,W] in {0,1},
    lip_points [B,K,2] (lips of I), va [B,2] (target e); lip_detector: image -> [B,K,2];
    va_net: image -> [B,2]; id_net: image -> [B,D]. Returns each term and "total".
    """
    w = weights or LEFLossWeights()
    img = out["image"]
    if img.shape != frame.shape:
        img = F.interpolate(img, size=frame.shape[-2:], mode="bilinear", align_corners=False)
    terms = {
        "lip_landmarks": F.mse_loss(lip_detector(img), lip_points),
        "lip_pixels": ((img - frame) ** 2 * lip_mask).sum() / (lip_mask.sum() * img.shape[1]).clamp_min(1.0),
        "reg": out["d_l"].pow(2).mean(),
    }
    terms["emotion"] = F.mse_loss(va_net(img), va) if va_net is not None else img.new_zeros(())
    if id_net is not None:
        terms["identity"] = (1 - F.cosine_similarity(id_net(img), id_net(frame).detach(), dim=-1)).mean()
    else:
        terms["identity"] = img.new_zeros(())
    terms["total"] = (
        w.lip_landmarks * terms["lip_landmarks"]
        + w.lip_pixels * terms["lip_pixels"]
        + w.reg * terms["reg"]
        + w.emotion * terms["emotion"]
        + w.identity * terms["identity"]
    )
    return terms


def project_to_wplus(
    generator: StyleGAN2Generator,
    target: torch.Tensor,
    steps: int = 200,
    lr: float = 0.05,
    n_mean: int = 2048,
) -> torch.Tensor:
    """Invert images [B, 3, S, S] (generator range) to W+ by optimisation from the mean latent (pixel L2).

    A simple stand-in for an e4e / pSp encoder (which needs weights); returns [B, n_latent, w_dim].
    """
    w0 = generator.mean_latent(n_mean)
    w = w0[:, None].repeat(target.shape[0], generator.n_latent, 1).clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        img = generator.synthesis(w)
        if img.shape != target.shape:
            img = F.interpolate(img, size=target.shape[-2:], mode="bilinear", align_corners=False)
        loss = F.mse_loss(img, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach()
