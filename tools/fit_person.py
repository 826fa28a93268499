"""Fit a talking avatar to a video: `python tools/fit_person.py video.mp4 [--out DIR] [--preset quick|paper]`.

1. preprocessing (`preprocess.pipeline`, skipped when the dataset is complete) -> OUT/dataset
2. training (emogs.train.Trainer: canonical -> networks -> fuse -> emotion) -> OUT/avatar
   (--resume continues from OUT/avatar/checkpoints after an interruption)
3. evaluation on the validation split -> OUT/avatar/eval.json + side_by_side.mp4

VIDEO may also be an existing person-dataset folder (then step 1 is skipped).
Every preprocessing and training option is a flag: --preprocess.FIELD (preprocess.config.PreprocessConfig)
and --train.FIELD / --train.SECTION.FIELD over the preset (emogs.train.config.TrainConfig), e.g.
--train.lr.means 1e-4 --train.stages "{canonical: 100}" --train.model.max_face 10000 --preprocess.size 256.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from emogs.config_cli import ConfigError, add_dataclass_arguments, dataclass_overrides, from_dict
from emogs.device import add_device_argument
from emogs.errors import cli_entry
from emogs.train.config import TrainConfig
from preprocess.config import PreprocessConfig


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                usage="%(prog)s VIDEO [--out DIR] [--preset NAME] [options]")
    p.add_argument("video", help="talking-head video, or an existing person dataset folder")
    p.add_argument("--out", help="output folder (default: out/<video name>)")
    p.add_argument("--preset", default="quick", help="quick (CPU demo) | paper (GPU schedule) | a YAML path")
    p.add_argument("--resume", action="store_true", help="continue an interrupted fit from its checkpoint")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every stage's steps (e.g. 0.1)")
    p.add_argument("--fixed-schedule", action="store_true", help="keep the preset's steps whatever the "
                   "clip's length (default: clips under 40 s train fewer, down to 0.5 x; "
                   "emogs/train/schedule.py)")
    p.add_argument("--val-interleaved", type=int, default=0, metavar="N", help="also hold out N validation "
                   "blocks spread over the clip and report them (for short, changing clips; e.g. 5)")
    p.add_argument("--no-occluders", action="store_true", help="train on hands over the face too")
    p.add_argument("--lpips-weights", help="AlexNet-LPIPS weights file (enables LPIPS loss and metric)")
    p.add_argument("--syncnet-weights", help="SyncNet weights (syncnet_v2.model as a state dict): enables "
                   "L_sync in training and Sync-E/C in the report")
    p.add_argument("--no-eval", action="store_true")
    p.add_argument("--no-emotion", action="store_true", help="skip the emotional frames and emotion branch")
    p.add_argument("--no-audio", action="store_true", help="a video without speech: an avatar that does not "
                   "talk (audio features are zeros; a silent or missing audio track is refused without it)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_dataclass_arguments(p, PreprocessConfig, "preprocess", "preprocessing (python -m preprocess)")
    add_dataclass_arguments(p, TrainConfig, "train", "training, over the preset (configs/*.yaml)",
                            exclude=("preset", "densify.max_gaussians"))
    add_device_argument(p)
    return p


def preprocess(video: Path, ds_dir: Path, pcfg: PreprocessConfig, progress: bool, emotion: bool,
               tts: bool = False, occluders: bool = True) -> Path:
    """Run the preprocessing pipeline (finished stages are skipped), plus the optional stages: the
    person's lip-sync judge (for `person_sync` in the report and L_sync), TTS speech when L_sync
    wants it, and the emotional frames when the emotion branch is wanted. A dataset folder passed
    as VIDEO is used as is."""
    if (video / "manifest.json").exists():
        return video
    from preprocess.errors import PreprocessError
    from preprocess.pipeline import run_pipeline

    t0 = time.time()
    run_pipeline(str(video), str(ds_dir), pcfg, progress=progress)
    optional = {"lipsync_judge": "no lip-sync judge ({err}); the report will lack person_sync"}
    if occluders:
        optional["occluders"] = "no occluder masks ({err}); hands over the face will be learned into it"
    if tts:
        optional["tts_audio"] = "no TTS speech ({err}); L_sync sees only the video's own audio"
    if emotion:
        optional["emotion"] = "no emotional frames ({err}); fitting without the emotion branch"
    for stage, warning in optional.items():
        try:
            run_pipeline(str(video), str(ds_dir), pcfg, stages=[stage], progress=progress)
        except PreprocessError as err:
            print(f"[fit_person] warning: {warning.format(err=err)}", file=sys.stderr)
    print(f"[fit_person] preprocessing done in {time.time() - t0:.0f} s -> {ds_dir}")
    return ds_dir


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from emogs.train import Trainer, load_config

    try:
        cfg = load_config(args.preset, overrides=dataclass_overrides(args, "train"))
        pcfg = from_dict(PreprocessConfig, dataclass_overrides(args, "preprocess"))
    except (ConfigError, FileNotFoundError) as err:
        parser.error(str(err))
    video = Path(args.video)
    if not video.exists():
        raise SystemExit(f"error: {video} does not exist\n  fix: check the path of the video")
    from emogs.device import describe_device, device_from_args
    from emogs.io.outputs import check_output_dir

    device = device_from_args(args)
    out = check_output_dir(Path(args.out) if args.out else Path("out") / video.stem, "--out folder")
    print(f"[fit_person] device: {describe_device(device)}")
    out.mkdir(parents=True, exist_ok=True)
    from emogs.backends import require_backends
    from emogs.data import PersonDataset
    from emogs.data.emotion_frames import EmotionFrames
    from emogs.eval import evaluate_avatar
    from emogs.io.atomic import save_text
    from emogs.train.schedule import clip_steps_scale, scale_steps, short_clip_warning

    require_backends(cfg.model.backend, cfg.model.hash_backend, device)
    if args.no_emotion:
        cfg.stages["emotion"] = 0
    if args.syncnet_weights:
        cfg.syncnet_weights = args.syncnet_weights
    if args.no_audio:
        pcfg.no_audio = True
    if args.val_interleaved:
        pcfg.val_interleaved = args.val_interleaved
    ds_dir = preprocess(video, out / "dataset", pcfg, not args.quiet,
                        emotion=cfg.stages.get("emotion", 0) > 0,
                        tts=cfg.resolved_sync_judge() != "none" and cfg.sync_tts_fraction > 0,
                        occluders=not args.no_occluders)
    train = PersonDataset(ds_dir, split="train")
    clip_s = train.num_frames / train.fps
    warning = short_clip_warning(clip_s)
    if warning:
        print(f"[fit_person] warning: {warning}", file=sys.stderr)
    factor = args.steps_scale * (1.0 if args.fixed_schedule else clip_steps_scale(len(train)))
    scale_steps(cfg, factor)  # the stages and the densification schedule shrink together
    print(f"[fit_person] {clip_s:.1f} s clip, {len(train)} training frames: {factor:.3g} x the preset's "
          "steps")
    if args.lpips_weights:
        cfg.lpips_weights = args.lpips_weights
    has_emotion = (ds_dir / "emotion" / "source_index.npy").exists() and cfg.stages.get("emotion", 0) > 0
    train = PersonDataset(ds_dir, split="train", load_emotion=has_emotion)
    emotion = EmotionFrames(train) if has_emotion else None
    avatar_dir = out / "avatar"
    t0 = time.time()
    trainer = Trainer(cfg, train, avatar_dir, emotion_frames=emotion, progress=not args.quiet, device=device)
    avatar = trainer.run(resume=args.resume)
    train_s = time.time() - t0
    print(f"[fit_person] training done in {train_s / 60:.1f} min -> {avatar_dir}")
    if args.no_eval:
        return 0
    from emogs.lipsync import load_syncnet
    from emogs.lipsync.person_judge import load_person_judge
    from emogs.losses import load_lpips

    lp, reason = load_lpips(cfg.lpips_weights)
    sync_net = load_syncnet(cfg.syncnet_weights) if cfg.syncnet_weights else None
    splits = [s for s in ("val", "val_interleaved") if s in train.manifest.get("split", {})]
    for split in splits:  # the standard split (comparable with the anchors), then the interleaved one
        tag = "" if split == "val" else f"_{split}"
        name = f"eval{tag}.json"
        res = evaluate_avatar(avatar, PersonDataset(ds_dir, split=split), num_frames=cfg.num_eval_frames,
                              lpips_model=lp, lpips_reason=reason,
                              video_path=avatar_dir / f"side_by_side{tag}.mp4", sync_net=sync_net,
                              person_judge=load_person_judge(ds_dir)[0])
        res["train_minutes_this_run"] = round(train_s / 60, 2)
        save_text(avatar_dir / name, json.dumps(res, indent=2))
        print(f"[fit_person] {split}: PSNR {res['psnr']:.2f} dB, SSIM {res['ssim']:.3f}, "
              f"LMD {res['lmd'] if not isinstance(res['lmd'], dict) else 'n/a'} -> {avatar_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
