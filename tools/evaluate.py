"""Evaluate an avatar: `python tools/evaluate.py AVATAR [--audio heldout.wav --truth heldout_truth.npz]`.

Self-reconstruction on the dataset's validation split: PSNR, SSIM, LMD, AUE-U/L, render FPS
(LPIPS with --lpips-weights; Sync is reported as not computed without a SyncNet). With --audio
and --truth (the demo generator's ground truth), LMD of the avatar speaking held-out audio.
With an emotion branch, the emotion-conditioned metrics (emogs.emotion.metrics).
Writes AVATAR/eval.json (or --out) and AVATAR/side_by_side.mp4.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("avatar", help="avatar folder written by tools/fit_person.py")
    p.add_argument("--dataset", help="person dataset (default: the one recorded in the avatar)")
    p.add_argument("--split", default="val")
    p.add_argument("--num-frames", type=int, default=0, help="evaluate N evenly spaced frames (0 = all)")
    p.add_argument("--lpips-weights", help="AlexNet-LPIPS weights file (.safetensors/.pth)")
    p.add_argument("--audio", help="held-out speech to drive the avatar with (needs --truth)")
    p.add_argument("--truth", help="ground truth .npz of the held-out speech (landmarks [T,478,>=2])")
    p.add_argument("--no-video", action="store_true", help="do not write the side-by-side video")
    p.add_argument("--no-emotion", action="store_true", help="skip the emotion-conditioned metrics")
    p.add_argument("--out", help="output JSON (default AVATAR/eval.json)")
    return p


def heldout_lmd(avatar, ds, audio_path: str, truth_path: str) -> dict:
    """LMD of the avatar driven by held-out audio vs the ground-truth landmarks of that speech."""
    import torch

    from emogs import metrics
    from emogs.avatar.drive import DriveOptions, drive_conditions
    from emogs.io import read_audio
    from preprocess.audio_features import extract_audio_features
    from preprocess.landmarks import FaceMeshDetector
    from tools.render import extractor_name

    truth = np.load(truth_path)
    if "landmarks" not in truth:
        raise SystemExit(f"error: {truth_path} has no 'landmarks' array (expected [T,478,>=2]).")
    lm_true = np.asarray(truth["landmarks"], np.float64)[..., :2]
    crop = ds.manifest.get("crop")
    if crop:  # truth is in the source video's pixels; the dataset (and renders) in the crop's
        lm_true = (lm_true - [crop["x0"], crop["y0"]]) * (ds.size / float(crop["side"]))
    wav = read_audio(audio_path, 16000)
    T = min(len(lm_true), max(1, int(round(len(wav) / 16000 * ds.fps))))
    feats, _ = extract_audio_features(wav, T, ds.fps, extractor_name(avatar.config.audio_extractor))
    preds, trues = [], []
    with FaceMeshDetector(video_mode=True, max_faces=1) as det:
        for t, cond in enumerate(drive_conditions(ds, feats, avatar.config.audio_window, None,
                                                  DriveOptions(pose="fixed"))):
            with torch.no_grad():
                rgb = avatar.render_frame(cond, ds.size, image_size=ds.size)["rgb"]
            faces = det((rgb.numpy() * 255 + 0.5).astype(np.uint8))
            if faces:
                preds.append(faces[0].points)
                trues.append(lm_true[t])
    if not preds:
        return {"heldout_lmd": metrics.to_json(metrics.NotComputed("no face detected in the renders"))}
    # the render's head pose (fixed training frame) differs from the truth's: compare the mouth
    # shape, centred on the mouth per frame, in pixels of the dataset crop
    p = np.stack(preds)[..., :2]
    q = np.stack(trues)
    idx = list(metrics.LIP_INDICES)
    p = p - p[:, idx].mean(1, keepdims=True)
    q = q - q[:, idx].mean(1, keepdims=True)
    static = np.repeat(q.mean(0, keepdims=True), len(q), axis=0)  # a mouth that never moves
    return {"heldout_lmd_centred": metrics.lmd(p, q), "heldout_frames": len(preds),
            "heldout_lmd_static_baseline": metrics.lmd(static, q),
            "heldout_note": "mouth landmarks centred per frame (pose of the render differs from the truth); "
                            "the static baseline is the truth's mean mouth shape held still"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from emogs.data import PersonDataset
    from emogs.losses import load_lpips
    from emogs.train import evaluate_avatar, load_avatar

    avatar, meta = load_avatar(args.avatar)
    ds_root = args.dataset or meta.get("dataset")
    if not ds_root or not Path(ds_root).exists():
        raise SystemExit(f"error: the avatar's dataset {ds_root!r} was not found; pass --dataset DIR.")
    ds = PersonDataset(ds_root, split=args.split, audio_window=avatar.config.audio_window)
    lp, reason = load_lpips(args.lpips_weights)
    video = None if args.no_video else Path(args.avatar) / "side_by_side.mp4"
    res = evaluate_avatar(avatar, ds, num_frames=args.num_frames, lpips_model=lp, lpips_reason=reason,
                          video_path=video)
    if args.audio or args.truth:
        if not (args.audio and args.truth):
            raise SystemExit("error: --audio and --truth go together")
        res.update(heldout_lmd(avatar, PersonDataset(ds_root, split="train"), args.audio, args.truth))
    if avatar.emotion_net is not None and not args.no_emotion:
        res["emotion"] = emotion_metrics(avatar, ds)
    out = Path(args.out) if args.out else Path(args.avatar) / "eval.json"
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


def emotion_metrics(avatar, ds) -> dict:
    """Emotion-conditioned evaluation via emogs.emotion (E); reported as not computed on failure."""
    try:
        import torch

        from emogs.emotion.judge import EmotionJudge
        from emogs.emotion.metrics import emotion_conditioned_eval
        from emogs.train.evaluate import frame_conditions

        judge = EmotionJudge()
        base = frame_conditions(ds[0])

        def render_fn(va):
            base.va = torch.as_tensor(np.asarray(va), dtype=torch.float32)
            rgb = avatar.render_frame(base, ds.size, image_size=ds.size)["rgb"]
            return (rgb.numpy() * 255 + 0.5).astype(np.uint8)

        return emotion_conditioned_eval(render_fn, judge)
    except Exception as err:  # report, never fake
        return {"computed": False, "reason": f"emotion metrics not computed: {type(err).__name__}: {err}"}


if __name__ == "__main__":
    sys.exit(main())
