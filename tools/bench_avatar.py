"""Benchmark: render a 512x512 avatar frame from audio (features -> deformation -> rasterize -> composite).

    python tools/bench_avatar.py [--size 512] [--face 20000] [--mouth 4000] [--frames 20] [--threads 2]

Prints per-stage median times (deformation, rasterize face, rasterize mouth, composite) of the fast
inference path (`Avatar.render_frame`, cached canonical part) next to the plain differentiable path
(`Avatar.render` under no_grad) run alternately in the same process, the end-to-end FPS (audio
features + fast frame) and, as a second reference, one frame with the pure-torch rasterizer backend.
An avatar with eyeballs is also timed without them (the same sets and nets, its own inference cache),
alternately, for what they cost (they are rasterized with the face).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--face", type=int, default=20000, help="face Gaussians (quick preset caps at 20k)")
    p.add_argument("--mouth", type=int, default=4000)
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--preset", default="quick", help="model sizes from this preset")
    p.add_argument("--no-reference", action="store_true", help="skip the pure-torch reference run")
    p.add_argument("--no-plain", action="store_true", help="skip the plain (differentiable) path")
    p.add_argument("--no-malloc-tune", action="store_true",
                   help="leave glibc malloc at its defaults (no emogs.avatar.inference.tune_allocator())")
    p.add_argument("--avatar", help="benchmark this fitted avatar (and its dataset) instead of a fresh one")
    p.add_argument("--va", choices=("fixed", "varying", "none"), default="fixed",
                   help="emotion input: one V/A for all frames (sliders at rest), a new V/A every frame, "
                        "or no emotion edit")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from emogs.avatar.inference import tune_allocator

    tuned = False if args.no_malloc_tune else tune_allocator()
    from emogs.audio.features import extract_audio_features
    from emogs.avatar import build_avatar
    from emogs.avatar.drive import DriveOptions, drive_conditions
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.train import load_config
    from emogs.train.trainer import avatar_config_for

    if args.avatar:
        from emogs.avatar.store import load_avatar

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
    if args.va == "varying":  # a new V/A every frame: the emotion branch runs every frame
        va = np.stack([0.6 + 0.01 * np.arange(args.frames), np.full(args.frames, 0.4)], 1)
    else:  # fixed sliders / a constant --valence: the emotion offsets are computed once
        va = np.tile([0.6, 0.4], (args.frames, 1))
    conds = list(drive_conditions(ds, feats[: args.frames], acfg.audio_window,
                                  va if avatar.emotion_net is not None and args.va != "none" else None,
                                  DriveOptions()))

    stages = ("deform", "raster_face", "raster_mouth", "composite")

    def plain_frame(c, t: dict) -> None:
        """Avatar.render (the differentiable path) split into the same stages, under no_grad."""
        from emogs.avatar.avatar import scale_intrinsics
        from emogs.avatar.compositor import composite

        t0 = time.perf_counter()
        fm, fq, fs, _ = avatar._deformed(avatar.face, avatar.face_net, (c.audio, c.aus), c.va)
        mm, mq, ms, _ = avatar._deformed(avatar.mouth, avatar.mouth_net, (c.audio,), None)
        face_parts = [(avatar.face, fm, fq, fs)]
        if avatar.eyes is not None:  # rasterized with the face
            face_parts.append((avatar.eyes, *avatar._deformed(avatar.eyes, None, (), None)[:3]))
        t1 = time.perf_counter()
        K = scale_intrinsics(c.K, args.size / float(ds.size))
        R, tt = c.w2c[:3, :3].float(), c.w2c[:3, 3].float()
        f = avatar._render_set(face_parts, R, tt, K, args.size, args.size, False)
        t2 = time.perf_counter()
        m = avatar._render_set([(avatar.mouth, mm, mq, ms)], R, tt, K, args.size, args.size, False)
        t3 = time.perf_counter()
        composite(f[0], f[2], m[0], m[2], c.background).clamp(0, 1)
        t4 = time.perf_counter()
        for k, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            t.setdefault(k, []).append(dt)

    # the same avatar without its eyeballs (its own inference cache), for their cost side by side
    from emogs.avatar import Avatar

    no_eyes = (Avatar(avatar.config, avatar.face, avatar.mouth, avatar.face_net, avatar.mouth_net,
                      avatar.emotion_net) if avatar.eyes is not None else None)

    def fast_frame(c, t: dict, av=avatar) -> None:
        d: dict = {}
        av.render_frame(c, args.size, image_size=ds.size, normals=False, timings=d)
        for k in stages:
            t.setdefault(k, []).append(d[k])

    def summary(t: dict) -> dict:
        """Median per stage; the total is the sum of the medians (the machine is shared: a per-frame
        total mixes in other processes' bursts) and `best` the fastest whole frame."""
        out = {k: 1e3 * float(np.median(t[k])) for k in stages}
        out["total"] = sum(out[k] for k in stages)
        out["best"] = 1e3 * float(min(sum(v) for v in zip(*(t[k] for k in stages))))
        return out

    avatar.config.backend = "auto"
    with torch.no_grad():
        t0 = time.perf_counter()
        avatar.prepare_inference(force=True)
        t_prep = time.perf_counter() - t0
        fast_frame(conds[0], {})  # warm-up
        plain_frame(conds[0], {})
        t_fast: dict = {}
        t_plain: dict = {}
        t_no_eyes: dict = {}
        if no_eyes is not None:
            fast_frame(conds[0], {}, no_eyes)
        for c in conds:  # alternate, so both paths see the same machine load
            fast_frame(c, t_fast)
            if not args.no_plain:
                plain_frame(c, t_plain)
            if no_eyes is not None:
                fast_frame(c, t_no_eyes, no_eyes)
    fast = summary(t_fast)
    eyes = f" + {len(avatar.eyes)} eyeball" if avatar.eyes is not None else ""
    print(f"avatar: {len(avatar.face)} face{eyes} + {len(avatar.mouth)} mouth Gaussians, "
          f"{args.size}x{args.size}, "
          f"{args.threads} threads, {args.frames} frames (median ms per frame), malloc tuned: {tuned}")
    print(f"  prepare_inference (once)   {t_prep * 1e3:8.2f} ms")
    print(f"  {'stage':<26} {'fast':>9} {'plain':>9}")
    plain = summary(t_plain) if t_plain else None
    rows = [("audio features (logmel)", t_feat * 1e3, t_feat * 1e3)]
    rows += [(k, fast[k], plain[k] if plain else float("nan")) for k in (*stages, "total", "best")]
    for name, a, b in rows:
        print(f"  {name:<26} {a:9.2f} {b:9.2f}")
    end = t_feat + fast["total"] / 1e3
    print(f"  end to end (fast): {end * 1e3:.1f} ms/frame = {1 / end:.1f} FPS (target >= 25)")
    if plain:
        print(f"  fast vs plain render_frame: {plain['total'] / fast['total']:.2f}x")
    res = {"fast": fast, "plain": plain, "features_ms": t_feat * 1e3, "fps": 1 / end, "va": args.va,
           "threads": args.threads, "size": args.size, "malloc_tuned": tuned}
    if t_no_eyes:
        bare = summary(t_no_eyes)
        print(f"  without the eyeballs: raster_face {bare['raster_face']:.2f} ms, total "
              f"{bare['total']:.2f} ms (with them: x{fast['total'] / bare['total']:.3f})")
        res["fast_without_eyes"] = bare
    if not args.no_reference:
        avatar.config.backend = "torch"
        t0 = time.perf_counter()
        avatar.render_frame(conds[0], args.size, image_size=ds.size, normals=False)
        t_ref = time.perf_counter() - t0
        avatar.config.backend = "auto"
        print(f"  reference (pure-torch rasterizer backend): {t_ref * 1e3:.0f} ms/frame; "
              f"ratio {t_ref * 1e3 / fast['total']:.1f}x")
        res["reference_ms"] = t_ref * 1e3
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
