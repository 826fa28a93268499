"""Fit a talking avatar to a video: `python tools/fit_person.py video.mp4 [--out DIR] [--preset quick|paper]`.

1. preprocessing (`preprocess.pipeline`, skipped when the dataset is complete) -> OUT/dataset
2. training (emogs.train.Trainer: canonical -> networks -> fuse -> emotion) -> OUT/avatar
   (--resume continues from OUT/avatar/checkpoints after an interruption)
3. evaluation on the validation split -> OUT/avatar/eval.json + side_by_side.mp4

VIDEO may also be an existing person-dataset folder (then step 1 is skipped).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", help="talking-head video, or an existing person dataset folder")
    p.add_argument("--out", help="output folder (default: out/<video name>)")
    p.add_argument("--preset", default="quick", help="quick (CPU demo) | paper (GPU schedule) | a YAML path")
    p.add_argument("--resume", action="store_true", help="continue an interrupted fit from its checkpoint")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every stage's steps (e.g. 0.1)")
    p.add_argument("--lpips-weights", help="AlexNet-LPIPS weights file (enables LPIPS loss and metric)")
    p.add_argument("--syncnet-weights", help="SyncNet weights (syncnet_v2.model as a state dict): enables "
                   "L_sync in training and Sync-E/C in the report")
    p.add_argument("--eval-frames", type=int, default=-1, help="validation frames to evaluate (-1: preset)")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--no-emotion", action="store_true", help="skip the emotional frames and emotion branch")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def preprocess(video: Path, ds_dir: Path, progress: bool, emotion: bool, tts: bool = False) -> Path:
    """Run the preprocessing pipeline (finished stages are skipped), plus the optional stages: the
    person's lip-sync judge (for `person_sync` in the report and L_sync), TTS speech when L_sync
    wants it, and the emotional frames when the emotion branch is wanted. A dataset folder passed
    as VIDEO is used as is."""
    if (video / "manifest.json").exists():
        return video
    from preprocess.config import PreprocessConfig
    from preprocess.errors import PreprocessError
    from preprocess.pipeline import run_pipeline

    t0 = time.time()
    run_pipeline(str(video), str(ds_dir), PreprocessConfig(), progress=progress)
    optional = {"lipsync_judge": "no lip-sync judge ({err}); the report will lack person_sync"}
    if tts:
        optional["tts_audio"] = "no TTS speech ({err}); L_sync sees only the video's own audio"
    if emotion:
        optional["emotion"] = "no emotional frames ({err}); fitting without the emotion branch"
    for stage, warning in optional.items():
        try:
            run_pipeline(str(video), str(ds_dir), PreprocessConfig(), stages=[stage], progress=progress)
        except PreprocessError as err:
            print(f"[fit_person] warning: {warning.format(err=err)}", file=sys.stderr)
    print(f"[fit_person] preprocessing done in {time.time() - t0:.0f} s -> {ds_dir}")
    return ds_dir


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    video = Path(args.video)
    if not video.exists():
        raise SystemExit(f"error: {video} does not exist")
    out = Path(args.out) if args.out else Path("out") / video.stem
    out.mkdir(parents=True, exist_ok=True)
    from emogs.data import PersonDataset
    from emogs.data.emotion_frames import EmotionFrames
    from emogs.eval import evaluate_avatar
    from emogs.io.atomic import save_text
    from emogs.train import Trainer, load_config

    cfg = load_config(args.preset)
    if args.no_emotion:
        cfg.stages["emotion"] = 0
    if args.syncnet_weights:
        cfg.syncnet_weights = args.syncnet_weights
    ds_dir = preprocess(video, out / "dataset", not args.quiet, emotion=cfg.stages.get("emotion", 0) > 0,
                        tts=cfg.resolved_sync_judge() != "none" and cfg.sync_tts_fraction > 0)
    if args.steps_scale != 1.0:  # the stages and the densification schedule shrink together
        def scale(v: int) -> int:
            return max(1, int(round(v * args.steps_scale))) if v else 0

        cfg.stages = {k: scale(v) for k, v in cfg.stages.items()}
        d = cfg.densify
        d.refine_start, d.refine_stop, d.refine_every, d.reset_every = (
            scale(d.refine_start), scale(d.refine_stop), scale(d.refine_every), scale(d.reset_every))
        cfg.checkpoint_every = scale(cfg.checkpoint_every)
    if args.lpips_weights:
        cfg.lpips_weights = args.lpips_weights
    has_emotion = (ds_dir / "emotion" / "source_index.npy").exists() and cfg.stages.get("emotion", 0) > 0
    train = PersonDataset(ds_dir, split="train", load_emotion=has_emotion)
    emotion = EmotionFrames(train) if has_emotion else None
    avatar_dir = out / "avatar"
    t0 = time.time()
    trainer = Trainer(cfg, train, avatar_dir, emotion_frames=emotion, progress=not args.quiet)
    avatar = trainer.run(resume=args.resume)
    train_s = time.time() - t0
    print(f"[fit_person] training done in {train_s / 60:.1f} min -> {avatar_dir}")
    if args.no_eval:
        return 0
    from emogs.lipsync import load_syncnet
    from emogs.lipsync.person_judge import load_person_judge
    from emogs.losses import load_lpips

    val = PersonDataset(ds_dir, split="val")
    lp, reason = load_lpips(cfg.lpips_weights)
    sync_net = load_syncnet(cfg.syncnet_weights) if cfg.syncnet_weights else None
    n = cfg.num_eval_frames if args.eval_frames < 0 else args.eval_frames
    res = evaluate_avatar(avatar, val, num_frames=n, lpips_model=lp, lpips_reason=reason,
                          video_path=avatar_dir / "side_by_side.mp4", sync_net=sync_net,
                          person_judge=load_person_judge(ds_dir)[0])
    res["train_minutes_this_run"] = round(train_s / 60, 2)
    save_text(avatar_dir / "eval.json", json.dumps(res, indent=2))
    print(f"[fit_person] validation PSNR {res['psnr']:.2f} dB, SSIM {res['ssim']:.3f}, "
          f"LMD {res['lmd'] if not isinstance(res['lmd'], dict) else 'n/a'} -> {avatar_dir / 'eval.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
