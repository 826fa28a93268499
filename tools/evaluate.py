"""Evaluate an avatar: `python tools/evaluate.py AVATAR [--audio heldout.wav --truth heldout_truth.npz]`.

Self-reconstruction on the dataset's validation split: PSNR, SSIM, LMD, AUE-U/L, render FPS
(LPIPS with --lpips-weights; Sync-E/C with --syncnet-weights, else reported as not computed). With
--audio (speech the avatar never heard): Sync-E/C of the avatar speaking it (with --syncnet-weights);
with --truth-video (its true video) and/or --truth (the demo generator's exact landmarks) also LMD.
Offline, the dataset's own lip-sync judge (preprocessing stage lipsync_judge) gives `person_sync`
(its offset search: not Sync-E/C) on the validation renders, the real frames and held-out speech.
With an emotion branch, the emotion-conditioned metrics (emogs.emotion.metrics).
Writes AVATAR/eval.json (or --out) and AVATAR/side_by_side.mp4.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emogs.errors import cli_entry


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("avatar", help="avatar folder (OUT/avatar) or the OUT folder of tools/fit_person.py")
    p.add_argument("--dataset", help="person dataset (default: the one recorded in the avatar)")
    p.add_argument("--split", default="val")
    p.add_argument("--num-frames", type=int, default=0, help="evaluate N evenly spaced frames (0 = all)")
    p.add_argument("--lpips-weights", help="AlexNet-LPIPS weights file (.safetensors/.pth)")
    p.add_argument("--syncnet-weights", help="SyncNet weights (syncnet_v2.model as a state dict, or "
                   ".safetensors): Sync-E / Sync-C")
    p.add_argument("--audio", help="held-out speech to drive the avatar with (Sync-E/C; LMD with --truth*)")
    p.add_argument("--truth", help="ground truth .npz of the held-out speech (landmarks [T,478,>=2])")
    p.add_argument("--truth-video", help="the held-out speech's true video (LMD with the same detector)")
    p.add_argument("--no-video", action="store_true", help="do not write the side-by-side video")
    p.add_argument("--no-emotion", action="store_true", help="skip the emotion-conditioned metrics")
    p.add_argument("--out", help="output JSON (default AVATAR/eval.json)")
    p.add_argument("--print-json", action="store_true", help="print every figure, not the summary")
    from emogs.device import add_device_argument

    add_device_argument(p)
    return p


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.truth or args.truth_video) and not args.audio:
        raise SystemExit("error: --truth / --truth-video need --audio (the held-out speech)")
    from emogs.io.outputs import check_output_file

    if args.out:  # checked before the work, not after it
        check_output_file(args.out, (".json",), "--out file", "eval.json")
    from emogs.device import device_from_args

    device = device_from_args(args)
    from emogs.avatar.store import load_avatar, resolve_avatar_folder
    from emogs.data import PersonDataset
    from emogs.eval import emotion_metrics, evaluate_avatar, heldout_eval
    from emogs.io.atomic import save_text
    from emogs.lipsync import load_syncnet
    from emogs.lipsync.person_judge import load_person_judge
    from emogs.losses import load_lpips

    avatar, meta = load_avatar(args.avatar)
    from emogs.backends import require_backends

    require_backends(avatar.config.backend, avatar.config.face_encoder.backend, device)
    avatar.to(device)
    folder = resolve_avatar_folder(args.avatar)
    ds_root = args.dataset or meta.get("dataset")
    if not ds_root or not Path(ds_root).exists():
        raise SystemExit(f"error: the avatar's dataset {ds_root!r} was not found; pass --dataset DIR.")
    ds = PersonDataset(ds_root, split=args.split, audio_window=avatar.config.audio_window)
    lp, reason = load_lpips(args.lpips_weights)
    sync_net = load_syncnet(args.syncnet_weights) if args.syncnet_weights else None
    judge, judge_meta = load_person_judge(ds_root)
    video = None if args.no_video else folder / "side_by_side.mp4"
    res = evaluate_avatar(avatar, ds, num_frames=args.num_frames, lpips_model=lp, lpips_reason=reason,
                          video_path=video, sync_net=sync_net, person_judge=judge)
    if judge is not None:
        res["person_sync_judge"] = {k: judge_meta.get(k) for k in (
            "val_accuracy", "val_offset_frames", "val_confidence", "val_distance", "audio_extractor")}
    if args.audio:
        res.update(heldout_eval(avatar, PersonDataset(ds_root, split="train"), args.audio, args.truth,
                                args.truth_video, sync_net, judge))
    if avatar.emotion_net is not None and not args.no_emotion:
        res["emotion"] = emotion_metrics(avatar, ds, folder)
    out = Path(args.out) if args.out else folder / "eval.json"
    save_text(out, json.dumps(res, indent=2))
    if args.print_json:
        print(json.dumps(res, indent=2))
    else:
        from emogs.eval.summary import summary_lines

        print("\n".join(summary_lines(res)) + f"\n-> {out} (every figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
