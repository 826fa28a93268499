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
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emogs._ext import has_extension  # noqa: E402
from emogs.fields import FaceDeformNet, TriplaneConfig, TriplaneEncoding  # noqa: E402


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)  # the least-disturbed run: the machine is shared


def bench_encoding(backend: str, xyz: torch.Tensor, repeats: int) -> float:
    torch.manual_seed(0)
    enc = TriplaneEncoding(TriplaneConfig(backend=backend))
    x = xyz.clone().requires_grad_(True)
    w = torch.randn(xyz.shape[0], enc.out_dim)

    def step():
        enc.zero_grad(set_to_none=True)
        x.grad = None
        (enc(x) * w).sum().backward()

    return _time(step, repeats)


def bench_face_net(backend: str, xyz: torch.Tensor, audio_dim: int, repeats: int) -> float:
    torch.manual_seed(0)
    net = FaceDeformNet(audio_dim, 11, TriplaneConfig(backend=backend))
    with torch.no_grad():  # a trained-looking head so the backward reaches the tables
        net.head.output_layer.weight.normal_(0, 1e-2)
    audio = torch.randn(9, audio_dim)
    aus = torch.rand(11) * 2

    def step():
        net.zero_grad(set_to_none=True)
        out = net(xyz, audio, aus)
        (out.d_xyz.square().sum() + out.d_rot.square().sum() + out.d_scale.square().sum()).backward()

    return _time(step, repeats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=30_000)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--audio-dim", type=int, default=384, help="audio feature dim (whisper tiny.en: 384)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not has_extension("hashgrid"):
        sys.exit("emogs._ext_hashgrid is not built: run `make build` first")
    torch.manual_seed(0)
    xyz = (torch.rand(args.points, 3) * 2 - 1) * 0.15

    rows = {}
    for name, fn in (
        ("triplane fwd+bwd", lambda b: bench_encoding(b, xyz, args.repeats)),
        ("FaceDeformNet fwd+bwd", lambda b: bench_face_net(b, xyz, args.audio_dim, args.repeats)),
    ):
        t_ref = fn("torch")
        t_cpu = fn("cpu")
        rows[name] = (t_ref, t_cpu)

    print(f"hash grid benchmark: {args.points} points, {torch.get_num_threads()} threads, best of "
          f"{args.repeats}")
    print(f"{'what':<24}{'torch ref (ms)':>16}{'cpu kernel (ms)':>17}{'speed-up':>10}")
    for name, (t_ref, t_cpu) in rows.items():
        print(f"{name:<24}{t_ref * 1e3:>16.1f}{t_cpu * 1e3:>17.1f}{t_ref / t_cpu:>9.1f}x")
    enc_ref, enc_cpu = rows["triplane fwd+bwd"]
    net_ref, net_cpu = rows["FaceDeformNet fwd+bwd"]
    print(
        json.dumps(
            {
                "bench": "hashgrid",
                "points": args.points,
                "threads": torch.get_num_threads(),
                "triplane_torch_ms": round(enc_ref * 1e3, 2),
                "triplane_cpu_ms": round(enc_cpu * 1e3, 2),
                "triplane_speedup": round(enc_ref / enc_cpu, 2),
                "face_net_torch_ms": round(net_ref * 1e3, 2),
                "face_net_cpu_ms": round(net_cpu * 1e3, 2),
                "face_net_speedup": round(net_ref / net_cpu, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
