import math

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from emogs.emotion.lef import (
    LatentEmotionEdit,
    LipAlignedEmotionGenerator,
    lef_losses,
    lip_heatmaps,
    project_to_wplus,
)
from emogs.emotion.stylegan2 import StyleGAN2Generator, load_stylegan2, upfirdn2d

TINY = dict(size=16, w_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16})


def test_upfirdn_matches_reference_upsample():
    # FIR upsampling of a constant image keeps it constant away from the border
    x = torch.ones(1, 1, 6, 6)
    k = torch.tensor([1.0, 3, 3, 1])
    k = (k[None] * k[:, None]) / 64 * 4
    y = upfirdn2d(x, k, up=2, pad=(2, 1))
    assert y.shape == (1, 1, 12, 12)
    torch.testing.assert_close(y[..., 2:-2, 2:-2], torch.ones(1, 1, 8, 8))


def test_generator_shapes_demod_and_loader(tmp_path):
    torch.manual_seed(0)
    g = StyleGAN2Generator(**TINY).eval()
    assert g.n_latent == 6
    z = torch.randn(2, 32)
    img = g(z)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    # demodulation: output statistics do not blow up with a scaled style
    w = g.mapping(z)[:, None].repeat(1, g.n_latent, 1)
    conv = g.convs[1].conv
    x = torch.randn(2, conv.cin, 8, 8)
    a, b = conv(x, w[:, 0]), conv(x, w[:, 0] * 0 + 5.0)
    assert 0.2 < a.std() / b.std() < 5
    # per-sample modulation: sample 0 alone == sample 0 in the batch
    torch.testing.assert_close(g.synthesis(w[:1]), g.synthesis(w)[:1], atol=1e-5, rtol=1e-5)
    p = tmp_path / "g.safetensors"
    save_file({k: v.contiguous() for k, v in g.state_dict().items()}, str(p))
    g2 = load_stylegan2(p)
    torch.testing.assert_close(g2.synthesis(w), g.synthesis(w))
    pt = tmp_path / "g.pt"
    torch.save({"g_ema": g.state_dict()}, pt)
    torch.testing.assert_close(load_stylegan2(pt).synthesis(w), g.synthesis(w))
    torch.save({"nothing": torch.zeros(1)}, pt)
    with pytest.raises(ValueError, match="not a StyleGAN2"):
        load_stylegan2(pt)


def test_lip_heatmaps_peak_at_points():
    pts = torch.tensor([[[0.25, 0.75], [0.5, 0.5]]])
    h = lip_heatmaps(pts, size=32)
    assert h.shape == (1, 2, 32, 32)
    iy, ix = divmod(int(h[0, 0].argmax()), 32)
    assert abs((ix + 0.5) / 32 - 0.25) < 1 / 32 and abs((iy + 0.5) / 32 - 0.75) < 1 / 32


class TinyNet(nn.Module):
    def __init__(self, out, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.c = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.Tanh(), nn.Conv2d(8, 8, 3, 2, 1), nn.Tanh())
        self.f = nn.Linear(8 * 4 * 4, out)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.f(self.c(x).flatten(1))


def test_tiny_lef_training_losses_fall():
    torch.manual_seed(0)
    g = StyleGAN2Generator(**TINY).eval()
    edit = LatentEmotionEdit(32, g.n_latent, hidden=64, layers=2)
    with torch.no_grad():  # a strong emotion edit, so the lips of I_E start off wrong
        edit.net[-1].weight.mul_(3.0)
    lef = LipAlignedEmotionGenerator(g, edit, num_lip_points=4, z_dim=32, heatmap_size=16)
    k = 4
    lip_det = TinyNet(2 * k, 1)
    detector = lambda im: torch.sigmoid(lip_det(im)).view(-1, k, 2)  # noqa: E731
    va_net = TinyNet(2, 2)
    id_net = TinyNet(16, 3)
    opt = torch.optim.Adam(lef.trainable_parameters(), lr=3e-3)
    b = 8
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 10:14, 5:11] = 1.0
    first, last = None, None
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(b, 32, generator=gen)
    with torch.no_grad():
        wplus = g.mapping(z)[:, None].repeat(1, g.n_latent, 1)
        frame = g.synthesis(wplus)
        lips = detector(frame)
    for step in range(80):
        t = torch.rand(b, generator=gen) * 2 * math.pi
        va = 0.8 * torch.stack([torch.cos(t), torch.sin(t)], -1)
        out = lef(wplus, va, lips)
        losses = lef_losses(out, frame, mask.expand(b, 1, 16, 16), lips, va, detector, va_net, id_net)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        vals = {kk: float(v.detach()) for kk, v in losses.items()}
        if step < 5:
            first = vals if first is None else {kk: first[kk] + vals[kk] for kk in vals}
        if step >= 75:
            last = vals if last is None else {kk: last[kk] + vals[kk] for kk in vals}
    assert last["total"] < 0.6 * first["total"], (first, last)
    assert last["lip_pixels"] < 0.6 * first["lip_pixels"]
    assert last["lip_landmarks"] < first["lip_landmarks"]
    # the frozen parts stayed frozen
    assert all(not p.requires_grad for p in g.parameters())


def test_projection_reduces_error():
    torch.manual_seed(0)
    g = StyleGAN2Generator(**TINY).eval()
    with torch.no_grad():
        target = g(torch.randn(1, 32))
        w0 = g.mean_latent(256)[:, None].repeat(1, g.n_latent, 1)
        e0 = float(((g.synthesis(w0) - target) ** 2).mean())
    w = project_to_wplus(g, target, steps=60, lr=0.05, n_mean=256)
    with torch.no_grad():
        e1 = float(((g.synthesis(w) - target) ** 2).mean())
    assert e1 < 0.5 * e0
