"""Export an avatar's Gaussians at one frame as a standard 3DGS PLY (SuperSplat, gsplat, nerfstudio...).

    python tools/export_ply.py AVATAR [--frame N] [--valence V --arousal A | --emotion happy:strong]
                               [--out avatar.ply]

The face, eyeball and inside-mouth Gaussians, deformed by training frame N's audio and action units
(and the emotion branch at the given V/A), in the avatar's canonical head space. Layout of 3DGS'
own exporter: x y z nx ny nz f_dc_* f_rest_* opacity (logit) scale_* (log) rot_* (wxyz), float32,
binary little endian.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emogs.emotion.cli_parse import emotion_arg
from emogs.errors import cli_entry


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("avatar", help="avatar folder (OUT/avatar) or the OUT folder of tools/fit_person.py")
    p.add_argument("--frame", type=int, default=0, help="training frame whose audio / AUs deform the face")
    p.add_argument("--dataset", help="the avatar's person dataset (default: the one recorded in the avatar)")
    emo = p.add_mutually_exclusive_group()
    emo.add_argument("--emotion", type=emotion_arg, help="happy, happy:strong, sad:0.5, or valence,arousal")
    emo.add_argument("--valence", type=float, help="valence in [-1, 1] (with --arousal)")
    p.add_argument("--arousal", type=float, help="arousal in [-1, 1] (with --valence)")
    p.add_argument("--out", help="output .ply (default AVATAR/frame_N.ply)")
    return p


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.valence is None) != (args.arousal is None):
        raise SystemExit("error: give both --valence and --arousal (or --emotion)")
    va = args.emotion.va if args.emotion is not None else (
        (args.valence, args.arousal) if args.valence is not None else None)
    if va is not None and max(abs(va[0]), abs(va[1])) > 1:
        raise SystemExit("error: --valence / --arousal must be in [-1, 1]")
    from emogs.io.outputs import check_output_file

    if args.out:
        check_output_file(args.out, (".ply",), "--out file", "avatar.ply")
    import numpy as np
    import torch

    from emogs.avatar import FrameConditions
    from emogs.avatar.export import deformed_gaussians
    from emogs.avatar.store import load_avatar, resolve_avatar_folder
    from emogs.data import PersonDataset
    from emogs.io.ply import write_gaussians_ply

    avatar, meta = load_avatar(args.avatar)
    cfg = avatar.config
    ds_root = args.dataset or meta.get("dataset")
    if not ds_root or not Path(ds_root).exists():
        raise SystemExit(f"error: the avatar's dataset {ds_root!r} was not found\n"
                         "  fix: pass --dataset DIR (the frame's audio and action units come from it)")
    ds = PersonDataset(ds_root, split="train", audio_window=cfg.audio_window)
    if not 0 <= args.frame < ds.num_frames:
        raise SystemExit(f"error: --frame {args.frame} is outside the dataset's 0..{ds.num_frames - 1}")
    if va is not None and avatar.emotion_net is None:
        print("warning: this avatar has no emotion branch; the emotion setting is ignored", file=sys.stderr)
    cond = FrameConditions(w2c=ds.w2c[args.frame], K=ds.K, audio=ds.audio_window(args.frame),
                           aus=torch.from_numpy(np.array(ds.aus[args.frame], np.float32)),
                           va=torch.tensor(va, dtype=torch.float32) if va is not None else None)
    g = deformed_gaussians(avatar, cond)
    out = Path(args.out) if args.out else resolve_avatar_folder(args.avatar) / f"frame_{args.frame}.ply"
    write_gaussians_ply(out, g["means"], g["quats"], g["log_scales"], g["opacity_logit"], g["sh0"], g["shN"])
    counts = np.bincount(g["part"], minlength=3)
    print(f"wrote {out}: {len(g['means'])} Gaussians (face {counts[0]}, eyes {counts[1]}, mouth {counts[2]}) "
          f"at frame {args.frame}" + (f", V/A ({va[0]:.2f}, {va[1]:.2f})" if va is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
