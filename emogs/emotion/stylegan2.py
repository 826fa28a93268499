"""StyleGAN2 generator (Karras et al. 2020, config F): mapping network + synthesis network.

Our implementation of the published architecture: equalised learning rate, an 8-layer mapping
MLP (pixel norm, lr multiplier 0.01, leaky ReLU x sqrt 2), a learned constant 4x4 input,
modulated 3x3 convolutions with weight demodulation, per-layer noise with a learned strength,
upsampling by a stride-2 transposed convolution followed by a [1, 3, 3, 1] FIR blur, and
toRGB outputs summed through FIR-upsampled skip connections. W+ latents: [B, n_latent, w_dim]
with n_latent = 2 * log2(size) - 2.

Parameter names follow the widely used PyTorch conversion layout of the FFHQ checkpoints
(`style.<i>`, `input.input`, `conv1`, `to_rgb1`, `convs.<i>`, `to_rgbs.<i>`, `noises.noise_<i>`),
so a converted FFHQ state dict loads with `load_stylegan2` (safetensors or
`torch.load(weights_only=True)`; code is never unpickled).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


def fir_kernel(k=(1, 3, 3, 1)) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Zero-insertion upsampling by `up`, padding (pad0, pad1) on both axes, 2-D FIR filtering."""
    b, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(b, c, h, up, w, up)
        y[:, :, :, 0, :, 0] = x
        x = y.reshape(b, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = torch.flip(kernel, (0, 1)).to(x)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


class EqualLinear(nn.Module):
    def __init__(
        self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0, activation: bool = False
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.scale, self.lr_mul, self.activation = lr_mul / math.sqrt(cin), lr_mul, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight * self.scale)
        b = self.bias * self.lr_mul
        if self.activation:
            return F.leaky_relu(y + b, 0.2) * SQRT2
        return y + b


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """Weight [1, out, in, k, k] modulated per sample by an affine map of w, then demodulated."""

    def __init__(
        self, cin: int, cout: int, k: int, w_dim: int, demodulate: bool = True, upsample: bool = False
    ):
        super().__init__()
        self.cin, self.cout, self.k = cin, cout, k
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.modulation = EqualLinear(w_dim, cin, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.demodulate, self.upsample = demodulate, upsample
        self.register_buffer("blur_kernel", fir_kernel() * 4, persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, c, h, wd = x.shape
        s = self.modulation(w).view(b, 1, c, 1, 1)
        weight = self.scale * self.weight * s  # [B, out, in, k, k]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum((2, 3, 4), keepdim=True) + 1e-8)
        x = x.reshape(1, b * c, h, wd)
        if self.upsample:
            wt = weight.transpose(1, 2).reshape(b * c, self.cout, self.k, self.k)
            y = F.conv_transpose2d(x, wt, stride=2, groups=b)
            y = y.view(b, self.cout, y.shape[-2], y.shape[-1])
            return upfirdn2d(y, self.blur_kernel, pad=(1, 1))
        y = F.conv2d(x, weight.reshape(b * self.cout, c, self.k, self.k), padding=self.k // 2, groups=b)
        return y.view(b, self.cout, h, wd)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, x.shape[2], x.shape[3]).normal_()
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


class StyledConv(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, w_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(cout)

    def forward(self, x, w, noise=None):
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    def __init__(self, cin: int, w_dim: int, upsample: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(cin, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.upsample = upsample
        self.register_buffer("up_kernel", fir_kernel() * 4, persistent=False)

    def forward(self, x, w, skip=None):
        out = self.conv(x, w) + self.bias
        if skip is not None:
            out = out + upfirdn2d(skip, self.up_kernel, up=2, pad=(2, 1))
        return out


def default_channels(channel_multiplier: int = 2, base: int = 512) -> dict[int, int]:
    return {
        4: base,
        8: base,
        16: base,
        32: base,
        64: base // 2 * channel_multiplier,
        128: base // 4 * channel_multiplier,
        256: base // 8 * channel_multiplier,
        512: base // 16 * channel_multiplier,
        1024: base // 32 * channel_multiplier,
    }


class StyleGAN2Generator(nn.Module):
    """z [B, w_dim] -> w via `mapping`; W+ [B, n_latent, w_dim] -> RGB [B, 3, size, size] (about [-1, 1])."""

    def __init__(
        self,
        size: int = 1024,
        w_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        channels: dict[int, int] | None = None,
        lr_mlp: float = 0.01,
    ):
        super().__init__()
        self.size, self.w_dim = size, w_dim
        self.log_size = int(math.log2(size))
        if 2**self.log_size != size or size < 8:
            raise ValueError(f"StyleGAN2 size must be a power of two >= 8; got {size}")
        ch = channels or default_channels(channel_multiplier)
        self.style = nn.Sequential(
            PixelNorm(), *[EqualLinear(w_dim, w_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)]
        )
        self.input = _ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], w_dim)
        self.to_rgb1 = ToRGB(ch[4], w_dim, upsample=False)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        self.num_layers = (self.log_size - 2) * 2 + 1
        for i in range(self.num_layers):
            res = (i + 5) // 2
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, 2**res, 2**res))
        cin = ch[4]
        for i in range(3, self.log_size + 1):
            cout = ch[2**i]
            self.convs.append(StyledConv(cin, cout, w_dim, upsample=True))
            self.convs.append(StyledConv(cout, cout, w_dim))
            self.to_rgbs.append(ToRGB(cout, w_dim))
            cin = cout
        self.n_latent = self.log_size * 2 - 2

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096) -> torch.Tensor:
        return self.mapping(torch.randn(n, self.w_dim, device=self.input.input.device)).mean(0, keepdim=True)

    def synthesis(self, wplus: torch.Tensor, randomize_noise: bool = False) -> torch.Tensor:
        if wplus.ndim == 2:
            wplus = wplus[:, None].repeat(1, self.n_latent, 1)
        if wplus.shape[1:] != (self.n_latent, self.w_dim):
            raise ValueError(f"W+ must be [B, {self.n_latent}, {self.w_dim}]; got {tuple(wplus.shape)}")
        noise = [
            None if randomize_noise else getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)
        ]
        x = self.input(wplus.shape[0])
        x = self.conv1(x, wplus[:, 0], noise[0])
        skip = self.to_rgb1(x, wplus[:, 1])
        i = 1
        for up, conv, n1, n2, to_rgb in zip(
            self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs
        ):
            x = up(x, wplus[:, i], n1)
            x = conv(x, wplus[:, i + 1], n2)
            skip = to_rgb(x, wplus[:, i + 2], skip)
            i += 2
        return skip

    def forward(
        self, z: torch.Tensor, truncation: float = 1.0, w_avg: torch.Tensor | None = None
    ) -> torch.Tensor:
        w = self.mapping(z)
        if truncation < 1.0 and w_avg is not None:
            w = w_avg + truncation * (w - w_avg)
        return self.synthesis(w)


class _ConstantInput(nn.Module):
    def __init__(self, c: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, c, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


def load_stylegan2(path: str | os.PathLike, size: int | None = None, **kwargs) -> StyleGAN2Generator:
    """A generator with converted FFHQ weights (`g_ema` state dict) from safetensors or a weights-only .pt."""
    from emogs.io.weights import read_state_dict

    path = Path(path)
    sd = read_state_dict(path, "StyleGAN2 (converted FFHQ g_ema)", nested_keys=("g_ema", "state_dict"))
    if "input.input" not in sd:
        raise ValueError(f"{path} is not a StyleGAN2 generator state dict (no 'input.input')")
    n_up = len({k.split(".")[1] for k in sd if k.startswith("to_rgbs.")})
    size = size or 2 ** (n_up + 2)
    channels = {4: sd["input.input"].shape[1]}
    for j in range(n_up):
        channels[2 ** (j + 3)] = sd[f"convs.{2 * j}.conv.weight"].shape[1]
    n_mlp = len({k.split(".")[1] for k in sd if k.startswith("style.") and k.endswith(".weight")})
    kwargs = {"w_dim": sd["style.1.weight"].shape[0], "n_mlp": n_mlp, "channels": channels, **kwargs}
    g = StyleGAN2Generator(size=size, **kwargs)
    # fixed FIR kernels are stored as buffers by some conversions; ours are recomputed
    sd = {k: v for k, v in sd.items() if not k.endswith(("blur.kernel", "upsample.kernel"))}
    missing, unexpected = g.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: StyleGAN2 key mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return g.eval()
