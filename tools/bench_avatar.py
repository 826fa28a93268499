"""Benchmark: render a 512x512 avatar frame from audio (features -> deformation -> rasterize -> composite).

    python tools/bench_avatar.py [--size 512] [--face 20000] [--mouth 4000] [--frames 20] [--threads 2]

Prints per-stage times, the end-to-end FPS and, as the in-process reference, the same frame
with the pure-torch rasterizer backend (ratio = reference time / our time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--face", type=int, default=20000, help="face Gaussians (quick preset caps at 20k)")
    p.add_argument("--mouth", type=int, default=4000)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--preset", default="quick", help="model sizes from this preset")
    p.add_argument("--no-reference", action="store_true", help="skip the pure-torch reference run")
    p.add_argument("--avatar", help="benchmark this fitted avatar (and its dataset) instead of a fresh one")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from emogs.avatar import build_avatar
    from emogs.avatar.drive import DriveOptions, drive_conditions
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.train import load_config
    from emogs.train.trainer import avatar_config_for
    from preprocess.audio_features import extract_audio_features

    if args.avatar:
        from emogs.train import load_avatar

        avatar, meta = load_avatar(args.avatar)
        ds = PersonDataset(meta["dataset"], split="all")
        acfg = avatar.config
    else:  # a fresh avatar of the preset's size on a toy dataset (Gaussians larger than trained ones)
        tmp = Path(tempfile.mkdtemp(prefix="emogs_bench_"))
        root = write_toy_dataset(tmp / "ds", num_frames=4, size=args.size, audio_dim=80)
        ds = PersonDataset(root, split="all")
        cfg = load_config(args.preset)
        cfg.model.num_face, cfg.model.num_mouth = args.face, args.mouth
        acfg = avatar_config_for(cfg, ds, with_emotion=True)
        t = np.load(root / "camera.npz")["template"]
        avatar = build_avatar(acfg, t, (ds.image(0).numpy() * 255).astype(np.uint8), ds.w2c[0].numpy(),
                              ds.K.numpy()).eval()
        with torch.no_grad():  # non-trivial deformations (trained nets are not zero)
            for net in (avatar.face_net, avatar.mouth_net, avatar.emotion_net):
                net.head.output_layer.weight.normal_(0, 0.01)

    fps = ds.fps
    sr = 16000
    n_audio = max(args.frames, 50)
    wav = (0.1 * np.random.default_rng(0).standard_normal(int(n_audio / fps * sr))).astype(np.float32)
    t0 = time.perf_counter()
    feats, _ = extract_audio_features(wav, n_audio, fps, "logmel")
    if feats.shape[1] != acfg.audio_dim:  # an avatar fitted on other features: time them, feed zeros
        feats = np.zeros((n_audio, acfg.audio_dim), np.float32)
    t_feat = (time.perf_counter() - t0) / n_audio
    va = np.tile([0.6, 0.4], (args.frames, 1))
    conds = list(drive_conditions(ds, feats[: args.frames], acfg.audio_window,
                                  va if avatar.emotion_net is not None else None, DriveOptions()))

    def run(backend: str, n: int) -> tuple[float, float]:
        avatar.config.backend = backend
        avatar.render_frame(conds[0], args.size, image_size=ds.size)  # warm-up
        t_def = 0.0
        t0 = time.perf_counter()
        for c in conds[:n]:
            td = time.perf_counter()
            with torch.no_grad():
                avatar._deformed(avatar.face, avatar.face_net, (c.audio, c.aus), c.va)
                avatar._deformed(avatar.mouth, avatar.mouth_net, (c.audio,), None)
            t_def += time.perf_counter() - td
            avatar.render_frame(c, args.size, image_size=ds.size, normals=False)
        total = (time.perf_counter() - t0 - t_def) / n  # render_frame alone (it deforms again inside)
        return total, t_def / n

    t_frame, t_def = run("auto", args.frames)
    print(f"avatar: {len(avatar.face)} face + {len(avatar.mouth)} mouth Gaussians, {args.size}x{args.size}, "
          f"{args.threads} threads, preset {args.preset}")
    print(f"  audio features (logmel)      {t_feat * 1e3:8.2f} ms/frame")
    print(f"  deformation (face+mouth+emo) {t_def * 1e3:8.2f} ms/frame")
    print(f"  render_frame (deform+raster+composite, RGB only) {t_frame * 1e3:8.2f} ms/frame")
    end = t_feat + t_frame
    print(f"  end to end: {end * 1e3:.1f} ms/frame = {1 / end:.1f} FPS (target >= 25)")
    if not args.no_reference:
        t_ref, _ = run("torch", 1)
        print(f"  reference (pure-torch rasterizer backend): {t_ref * 1e3:.0f} ms/frame; "
              f"ratio {t_ref / t_frame:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
