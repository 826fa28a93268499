#!/usr/bin/env python
"""Check a demo-actor clip against its ground truth with the project's landmark detector.

  python tools/check_demo_clip.py assets/demo/demo            # uses demo.mp4 + demo_truth.npz
  python tools/check_demo_clip.py assets/demo/heldout --sheet /tmp/heldout_sheet.png

Prints: frames with a detected face, mouth-landmark error (px), detected vs true inner-lip gap
correlation, mouth gap vs audio-envelope correlation, eye-aspect dip at blinks, A/V durations.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from demo_actor.face_rig import eye_aspect
from demo_actor.truth import load_truth
from demo_actor.video import read_clip
from emogs.face.landmarks import FaceMeshDetector
from emogs.face.topology import LEFT_EYE, LIPS_INNER, LIPS_OUTER, RIGHT_EYE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stem", help="path without extension: STEM.mp4 and STEM_truth.npz")
    ap.add_argument("--sheet", help="also write a contact sheet here")
    args = ap.parse_args(argv)
    truth = load_truth(args.stem + "_truth.npz")
    frames, audio, fps, sr = read_clip(args.stem + ".mp4")
    t = len(frames)
    pts = np.full((t, 478, 3), np.nan, np.float32)
    with FaceMeshDetector(video_mode=False, max_faces=1) as det:
        for k, f in enumerate(frames):
            faces = det(f)
            if faces:
                pts[k] = faces[0].points
    found = ~np.isnan(pts[:, 0, 0])
    tr = truth["landmarks"]
    m = LIPS_OUTER + LIPS_INNER
    err = np.linalg.norm(pts[found][:, m, :2] - tr[found][:, m, :2], axis=-1)
    gap_det = pts[found, 14, 1] - pts[found, 13, 1]
    rms = np.array([np.sqrt(np.mean(audio[a:b] ** 2)) if b <= len(audio) else 0.0
                    for a, b in truth["audio_range"]])
    ear = np.array([0.5 * (eye_aspect(p, LEFT_EYE) + eye_aspect(p, RIGHT_EYE)) if ok else np.nan
                    for p, ok in zip(pts, found)])
    blink, open_ = truth["au45"] > 4, truth["au45"] == 0
    print(f"frames {t} ({t / fps:.2f} s video, {len(audio) / sr:.3f} s audio), "
          f"face found in {found.sum()}/{t}")
    print(f"mouth landmarks (40): mean error {err.mean():.2f} px, 95th pct of per-frame mean "
          f"{np.percentile(err.mean(1), 95):.2f} px, max {err.max():.2f} px")
    r_gap = np.corrcoef(gap_det, truth["mouth_gap_px"][found])[0, 1]
    print(f"inner-lip gap: detected vs truth r = {r_gap:.3f}")
    print(f"mouth gap vs audio RMS envelope r = {np.corrcoef(truth['mouth_gap_px'], rms)[0, 1]:.3f}")
    if blink.any():
        print(f"blinks: {int(np.sum(np.diff(blink.astype(int)) == 1))}; detected eye aspect at blinks "
              f"{np.nanmean(ear[blink]):.3f} vs open {np.nanmedian(ear[open_]):.3f}")
    if args.sheet:
        from demo_actor.sheet import contact_sheet, pick_frames

        picks = pick_frames(truth, 8)
        contact_sheet({k: frames[k] for k in picks}, truth, args.sheet, tile=192)
    return 0


if __name__ == "__main__":
    sys.exit(main())
