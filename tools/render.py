"""Render an avatar speaking new audio: `python tools/render.py AVATAR --audio speech.wav --out out.mp4`.

Audio -> features (with the extractor recorded in the avatar) -> per-frame deformation ->
rasterize -> composite over the training frames' torso / background -> MP4 with the audio muxed.
Emotion: --valence/--arousal, --emotion happy:strong, or --va-trajectory keyframes.csv|json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("avatar", help="avatar folder (OUT/avatar) or the OUT folder of tools/fit_person.py")
    p.add_argument("--audio", required=True, help="speech audio (wav or any file PyAV decodes)")
    p.add_argument("--out", required=True, help="output video (.mp4)")
    p.add_argument("--dataset", help="the avatar's person dataset (default: the one recorded in the avatar)")
    emo = p.add_mutually_exclusive_group()
    emo.add_argument("--emotion", help="emotion name with intensity, e.g. happy:strong, sad:mild, neutral")
    emo.add_argument("--va-trajectory", help="V/A keyframes file (CSV or JSON, see emogs.emotion.trajectory)")
    emo.add_argument("--valence", type=float, help="valence in [-1,1] (with --arousal)")
    p.add_argument("--arousal", type=float, help="arousal in [-1,1] (with --valence)")
    p.add_argument("--blink", default="dataset",
                   help="'dataset' (blinks of the training frames), 'none', or an AU45 value (0..5)")
    p.add_argument("--au", action="append", default=[], metavar="AUxx=V", help="fix an AU, e.g. --au AU01=2")
    p.add_argument("--pose", choices=("cycle", "fixed"), default="cycle",
                   help="head pose / background: training frames cycled, or fixed to --pose-frame")
    p.add_argument("--pose-frame", type=int, default=0)
    p.add_argument("--size", type=int, default=0, help="output size (default: the dataset's)")
    p.add_argument("--max-seconds", type=float, default=0, help="render only the first N seconds")
    return p


def _va_per_frame(args, num_frames: int, fps: float) -> np.ndarray | None:
    if args.valence is not None or args.arousal is not None:
        if args.valence is None or args.arousal is None:
            raise SystemExit("error: give both --valence and --arousal")
        va = np.array([args.valence, args.arousal], np.float32)
        if np.any(np.abs(va) > 1):
            raise SystemExit("error: --valence/--arousal must be in [-1, 1]")
        return np.tile(va, (num_frames, 1))
    if args.emotion:
        from emogs.emotion.va_model import emotion_to_va

        return np.tile(emotion_to_va(args.emotion).astype(np.float32), (num_frames, 1))
    if args.va_trajectory:
        from emogs.emotion.trajectory import load_va_trajectory

        return load_va_trajectory(args.va_trajectory).at_frames(num_frames, fps).astype(np.float32)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch
    from tqdm import tqdm

    from emogs.avatar.drive import AudioExtractorError, DriveOptions, drive_conditions, speech_features
    from emogs.avatar.inference import tune_allocator
    from emogs.avatar.store import load_avatar
    from emogs.data import PersonDataset
    from emogs.io import read_audio, write_video

    tune_allocator()  # reuse frame-sized buffers instead of page-faulting them every frame
    avatar, meta = load_avatar(args.avatar)
    cfg = avatar.config
    avatar.prepare_inference()
    ds_root = args.dataset or meta.get("dataset")
    if not ds_root or not Path(ds_root).exists():
        raise SystemExit(f"error: the avatar's dataset {ds_root!r} was not found; pass --dataset DIR.")
    ds = PersonDataset(ds_root, split="train", audio_window=cfg.audio_window)
    fps = float(ds.fps)
    wav = read_audio(args.audio, 16000)
    if args.max_seconds:
        wav = wav[: int(args.max_seconds * 16000)]
    try:
        feats = speech_features(wav, fps, cfg)
    except AudioExtractorError as err:
        raise SystemExit(f"error: {err}") from None
    num_frames = len(feats)
    va = _va_per_frame(args, num_frames, fps)
    if va is not None and avatar.emotion_net is None:
        print("warning: this avatar has no emotion branch; the emotion setting is ignored", file=sys.stderr)
    blink = args.blink if args.blink in ("dataset", "none") else float(args.blink)
    overrides = {}
    for a in args.au:
        k, _, v = a.partition("=")
        overrides[k] = float(v)
    opts = DriveOptions(pose=args.pose, fixed_frame=args.pose_frame, blink=blink, au_overrides=overrides)
    size = args.size or ds.size
    t0 = time.time()

    def frames():
        for cond in tqdm(drive_conditions(ds, feats, cfg.audio_window, va, opts), total=num_frames,
                         desc="render"):
            with torch.no_grad():
                yield avatar.render_frame(cond, size, image_size=ds.size, normals=False)["rgb"]

    write_video(args.out, frames(), fps=fps, audio=wav, sample_rate=16000)
    dt = time.time() - t0
    print(f"wrote {args.out}: {num_frames} frames at {size}x{size} in {dt:.1f} s ({num_frames / dt:.1f} FPS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
