#!/usr/bin/env python
"""Check a demo-actor clip against its ground truth with the project's landmark detector.

  python tools/check_demo_clip.py assets/demo/demo            # uses demo.mp4 + demo_truth.npz
  python tools/check_demo_clip.py assets/demo/heldout

Prints: the truth statistics (median inner-lip gap per viseme, head-pose ranges), frames with a
detected face, lip-landmark error (px) overall and at the widest turns, detected vs true inner-lip
gap correlation, mouth gap vs audio-envelope correlation, eye-aspect dip at blinks. Streams the
video (never holds it in memory).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from demo_actor.face_rig import eye_aspect
from demo_actor.truth import load_truth, truth_statistics
from emogs.errors import cli_entry
from emogs.face.landmarks import FaceMeshDetector
from emogs.face.topology import LEFT_EYE, LIPS_INNER, LIPS_OUTER, RIGHT_EYE


@cli_entry
def main(argv: list[str] | None = None) -> int:
    import av

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stem", help="path without extension: STEM.mp4 and STEM_truth.npz")
    args = ap.parse_args(argv)
    truth = load_truth(args.stem + "_truth.npz")
    print(json.dumps(truth_statistics(truth), indent=1, sort_keys=True))
    tr = truth["landmarks"]
    t = len(tr)
    pts = np.full((t, 478, 3), np.nan, np.float32)
    chunks = []
    with FaceMeshDetector(video_mode=False, max_faces=1) as det, av.open(args.stem + ".mp4") as c:
        for k, f in enumerate(c.decode(video=0)):
            faces = det(f.to_ndarray(format="rgb24"))
            if faces and k < t:
                pts[k] = faces[0].points
    with av.open(args.stem + ".mp4") as c:
        for f in c.decode(audio=0):
            x = f.to_ndarray()
            chunks.append(x.mean(0) if x.ndim == 2 else x)
    audio = np.concatenate(chunks).astype(np.float32)
    found = ~np.isnan(pts[:, 0, 0])
    m = LIPS_OUTER + LIPS_INNER
    err = np.linalg.norm(pts[found][:, m, :2] - tr[found][:, m, :2], axis=-1).mean(1)  # [F] per frame
    print(f"frames {t}, face found in {found.sum()}/{t}")
    print(f"lip landmarks (40): mean error {err.mean():.2f} px, 95th pct {np.percentile(err, 95):.2f} px, "
          f"max {err.max():.2f} px")
    if "head_euler_deg" in truth:
        yaw = np.abs(truth["head_euler_deg"][found, 1])
        wide = yaw >= np.percentile(yaw, 90)
        print(f"at the widest 10 % of turns (|yaw| >= {np.percentile(yaw, 90):.1f} deg): "
              f"mean lip error {err[wide].mean():.2f} px")
    gap_det = pts[found, 14, 1] - pts[found, 13, 1]
    r_gap = np.corrcoef(gap_det, truth["mouth_gap_px"][found])[0, 1]
    print(f"inner-lip gap: detected vs truth r = {r_gap:.3f}")
    rms = np.array([np.sqrt(np.mean(audio[a:b] ** 2)) if b <= len(audio) else 0.0
                    for a, b in truth["audio_range"]])
    print(f"mouth gap vs audio RMS envelope r = {np.corrcoef(truth['mouth_gap_px'], rms)[0, 1]:.3f}")
    ear = np.array([0.5 * (eye_aspect(p, LEFT_EYE) + eye_aspect(p, RIGHT_EYE)) if ok else np.nan
                    for p, ok in zip(pts, found)])
    blink, open_ = truth["au45"] > 4, truth["au45"] == 0
    if blink.any():
        print(f"blinks: {int(np.sum(np.diff(blink.astype(int)) == 1))}; detected eye aspect at blinks "
              f"{np.nanmean(ear[blink]):.3f} vs open {np.nanmedian(ear[open_]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
