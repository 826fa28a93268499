"""Benchmark the tri-plane hash grid: compiled CPU kernels vs the pure-torch reference, same process.

Measures, for N points (default 30k, TalkingGaussian's face config: 3 planes x 12 levels x 1 feature,
table 2^17):
  1. TriplaneEncoding forward + backward (gradients to the tables and to xyz);
  2. FaceDeformNet forward + backward (what one training step pays for the face net).
Prints both backends side by side with the speed-up, then one JSON line.

    python tools/bench_hashgrid.py [--points 30000] [--repeats 10] [--audio-dim 384] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from emogs._ext import has_extension
from emogs.fields import FaceDeformNet, TriplaneConfig, TriplaneEncoding


def _paired(make_step, repeats: int) -> tuple[float, float, float]:
    """Alternate reference and kernel steps (the machine is shared: both see the same load).

    Returns (best reference time, best kernel time, median of the per-pair ratios).
    """
    ref, cpu = make_step("torch"), make_step("cpu")
    ref(), cpu()  # warm-up
    t_ref, t_cpu = [], []
    for _ in range(repeats):
        for fn, acc in ((ref, t_ref), (cpu, t_cpu)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    ratios = sorted(r / c for r, c in zip(t_ref, t_cpu))
    return min(t_ref), min(t_cpu), ratios[len(ratios) // 2]


def encoding_step(backend: str, xyz: torch.Tensor, finest: int = 256):
    torch.manual_seed(0)
    enc = TriplaneEncoding(TriplaneConfig(finest_resolution=finest, backend=backend))
    x = xyz.clone().requires_grad_(True)
    w = torch.randn(xyz.shape[0], enc.out_dim)

    def step():
        enc.zero_grad(set_to_none=True)
        x.grad = None
        (enc(x) * w).sum().backward()

    return step


def face_net_step(backend: str, xyz: torch.Tensor, audio_dim: int, finest: int = 256):
    torch.manual_seed(0)
    net = FaceDeformNet(audio_dim, 11, TriplaneConfig(finest_resolution=finest, backend=backend))
    with torch.no_grad():  # a trained-looking head so the backward reaches the tables
        net.head.output_layer.weight.normal_(0, 1e-2)
    audio = torch.randn(9, audio_dim)
    aus = torch.rand(11) * 2
    x = xyz.clone().requires_grad_(True)  # Gaussian means are parameters: gradients reach them

    def step():
        net.zero_grad(set_to_none=True)
        x.grad = None
        out = net(x, audio, aus)
        (out.d_xyz.square().sum() + out.d_rot.square().sum() + out.d_scale.square().sum()).backward()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=30_000)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--audio-dim", type=int, default=384, help="audio feature dim (whisper tiny.en: 384)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--finest", type=int, default=256,
                    help="finest resolution (256: emogs default; 38: TalkingGaussian's 256*bound)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not has_extension("hashgrid"):
        sys.exit("emogs._ext_hashgrid is not built: run `make build` first")
    torch.manual_seed(0)
    xyz = (torch.rand(args.points, 3) * 2 - 1) * 0.15

    rows = {
        "triplane fwd+bwd": _paired(lambda b: encoding_step(b, xyz, args.finest), args.repeats),
        "FaceDeformNet fwd+bwd": _paired(
            lambda b: face_net_step(b, xyz, args.audio_dim, args.finest), args.repeats
        ),
    }
    print(
        f"hash grid benchmark: {args.points} points, finest {args.finest}, "
        f"{torch.get_num_threads()} threads, "
        f"best of {args.repeats}; speed-up = median of paired runs"
    )
    print(f"{'what':<24}{'torch ref (ms)':>16}{'cpu kernel (ms)':>17}{'speed-up':>10}")
    for name, (t_ref, t_cpu, ratio) in rows.items():
        print(f"{name:<24}{t_ref * 1e3:>16.1f}{t_cpu * 1e3:>17.1f}{ratio:>9.1f}x")
    enc_ref, enc_cpu, enc_ratio = rows["triplane fwd+bwd"]
    net_ref, net_cpu, net_ratio = rows["FaceDeformNet fwd+bwd"]
    print(
        json.dumps(
            {
                "bench": "hashgrid",
                "points": args.points,
                "finest_resolution": args.finest,
                "threads": torch.get_num_threads(),
                "triplane_torch_ms": round(enc_ref * 1e3, 2),
                "triplane_cpu_ms": round(enc_cpu * 1e3, 2),
                "triplane_speedup": round(enc_ratio, 2),
                "face_net_torch_ms": round(net_ref * 1e3, 2),
                "face_net_cpu_ms": round(net_cpu * 1e3, 2),
                "face_net_speedup": round(net_ratio, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
