"""Judge the synthetic emotional frames directly: the upper bound of what an avatar can learn.

    python tools/bench_emotion_frames.py out/demo/dataset [--frames 6] [--sheet out.png] [--json out.json]
    python tools/bench_emotion_frames.py portrait.jpg      # one photo (or a video's first frame)

For the paper's protocol (12 V/A targets evenly on the circle, radius 0.8) the generator
(`emogs.emotion.edit.EmotionalFrameGenerator`) makes emotional versions of `--frames`
training frames, the same judge as tools/evaluate.py (fer, Haar face crop) judges them (V/A
averaged over the frames of a target) -> V-RMSE, A-RMSE, V-SA, A-SA, E-Acc top-3 via
`emogs.emotion.metrics.emotion_conditioned_eval`. Lip preservation: MediaPipe re-detected on
each emotional frame vs on its source frame (`lip_preservation`, all 40 lip landmarks), plus the
inner-lip opening (13-14, 82-87, 312-317 gaps) change. Accuracy numbers, not timings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

OPENING_PAIRS = ((13, 14), (82, 87), (312, 317), (81, 178), (311, 402))


def _opening(p: np.ndarray) -> np.ndarray:
    """Inner-lip gaps [..., len(OPENING_PAIRS)] in px of landmarks [..., 478, >=2]."""
    return np.stack([np.linalg.norm(p[..., a, :2] - p[..., b, :2], axis=-1) for a, b in OPENING_PAIRS], -1)


def _face_frame(path: Path, det, size: int = 512, margin: float = 0.6) -> np.ndarray:
    """RGB [size, size, 3] uint8: the face of an image or a video's first frame, in a square crop
    (its landmarks' box grown by `margin` on each side)."""
    import cv2

    bgr = cv2.imread(str(path))
    if bgr is None:
        ok, bgr = cv2.VideoCapture(str(path)).read()
        if not ok:
            raise SystemExit(f"{path}: neither a dataset folder nor a readable image / video")
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    faces = det(rgb)
    if not faces:
        raise SystemExit(f"{path}: no face found")
    p = faces[0].points[:, :2]
    (x0, y0), (x1, y1) = p.min(0), p.max(0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    k = size / side
    m = np.array([[k, 0, size / 2 - cx * k], [0, k, size / 2 - cy * k]])
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="a person dataset folder, or one image / video (its first frame)")
    ap.add_argument("--frames", type=int, default=6, help="training frames per target (evenly spaced)")
    ap.add_argument("--crop", choices=("haar", "landmarks"), default="haar",
                    help="judge face crop: haar (as tools/evaluate.py) or the detected landmarks")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override an EmotionalFrameConfig field (repeatable), e.g. --set lip_corners=0")
    ap.add_argument("--sheet", help="contact sheet PNG (face crops, one row per source frame)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    import cv2

    from emogs.data.schema import manifest_so_far
    from emogs.emotion.edit import EmotionalFrameConfig, EmotionalFrameGenerator
    from emogs.emotion.judge import EmotionJudge
    from emogs.emotion.metrics import emotion_conditioned_eval, lip_preservation
    from emogs.emotion.va_model import circle_targets
    from emogs.face.landmarks import FaceMeshDetector
    from preprocess.emotional_frames import rest_va_of_dataset

    cfg = EmotionalFrameConfig()
    for kv in args.set:
        k, v = kv.split("=", 1)
        cur = getattr(cfg, k)
        setattr(cfg, k, type(cur)(v) if not isinstance(cur, tuple | type(None)) else json.loads(v))
    judge = EmotionJudge()
    det = FaceMeshDetector(video_mode=False, max_faces=1)
    crop_pts = (lambda k, p: p) if args.crop == "landmarks" else (lambda k, p: None)

    root = Path(args.dataset)
    if root.is_dir():
        frames = np.load(root / "frames.npy", mmap_mode="r")
        lms = np.load(root / "landmarks.npy", mmap_mode="r")
        man = manifest_so_far(root)
        lo, hi = man.get("split", {}).get("train", (0, len(frames)))
        src = np.linspace(lo, hi - 1, args.frames + 2).round().astype(int)[1:-1]
        real = [np.asarray(frames[i]) for i in src]
        real_pts = [np.asarray(lms[i], np.float64) for i in src]
        if cfg.rest_va is None and cfg.relative_to_rest:
            cfg.rest_va = rest_va_of_dataset(root)
    else:  # one photo (or a video's first frame), cropped around its face like the decode stage
        real, real_pts = [_face_frame(root, det)], []
        real_pts.append(det(real[0])[0].points.astype(np.float64))
        src = np.zeros(1, int)
    rest = judge(np.stack(real), points478=[crop_pts(k, p) for k, p in enumerate(real_pts)])
    if cfg.rest_va is None and cfg.relative_to_rest:  # a photo: its judged V/A is the rest expression
        cfg.rest_va = tuple(float(x) for x in np.asarray(rest.va).reshape(-1, 2).mean(0))
    gen = EmotionalFrameGenerator(cfg)
    det_real = [det(f)[0].points for f in real]

    made: dict[tuple, list] = {}
    neutral_lm, emo_lm, open_d = [], [], []

    def render_fn(va):
        outs = []
        for k in range(len(src)):
            img, p = gen(real[k], real_pts[k], va)
            outs.append(img)
            faces = det(img)
            if faces:
                neutral_lm.append(det_real[k])
                emo_lm.append(faces[0].points)
                open_d.append(np.abs(_opening(faces[0].points) - _opening(det_real[k])).mean())
        made[tuple(np.round(va, 3))] = outs
        return outs

    if args.crop == "landmarks":
        res = emotion_conditioned_eval(render_fn, judge, circle_targets(12),
                                       landmarks_fn=lambda f: det(f)[0].points if det(f) else None)
    else:
        res = emotion_conditioned_eval(render_fn, judge, circle_targets(12))
    lip = lip_preservation(np.stack(neutral_lm), np.stack(emo_lm))
    summary = {k: round(res[k], 3) for k in ("V_RMSE", "A_RMSE", "V_SA", "A_SA", "E_Acc_top3")}
    summary.update(
        judge="fer (mini-Xception), crop=" + args.crop,
        frames=src.tolist(),
        rest_va_judged=np.round(rest.va.mean(0), 3).tolist(),
        rest_top1=[t[0] for t in rest.top3],
        generator_rest_va=None if cfg.rest_va is None else np.round(cfg.rest_va, 3).tolist(),
        lip_mean_px=round(lip["mean_px"], 3),
        lip_max_px=round(lip["max_px"], 3),
        lip_opening_change_px=round(float(np.mean(open_d)), 3),
        detected=f"{len(emo_lm)}/{12 * len(src)}",
        config={k: v for k, v in vars(cfg).items() if not k.startswith("_")},
    )
    for p in res["per_target"]:
        print(f"target {p['target'][0]:+.2f},{p['target'][1]:+.2f} [{p['class']:>8}] -> "
              f"{p['judged'][0]:+.2f},{p['judged'][1]:+.2f} top3={p['top3']} {'hit' if p['hit'] else ''}")
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}))
    if args.json:
        out = {"summary": summary, "per_target": res["per_target"]}
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.sheet:
        from emogs.emotion.edit import face_box

        tile = 160
        rows = []
        for k in range(len(src)):
            x0, y0, x1, y1 = face_box(real_pts[k], real[k].shape[0], 0.9)
            cells = [real[k]] + [made[key][k] for key in made]
            row = []
            for j, c in enumerate(cells):
                c = cv2.resize(c[y0:y1, x0:x1], (tile, tile), interpolation=cv2.INTER_AREA).copy()
                if k == 0:
                    lab = "real" if j == 0 else res["per_target"][j - 1]["class"][:5] + \
                        " {:+.1f},{:+.1f}".format(*res["per_target"][j - 1]["target"])
                    cv2.putText(c, lab, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 0), 1,
                                cv2.LINE_AA)
                row.append(c)
            rows.append(np.concatenate(row, 1))
        sheet = np.concatenate(rows, 0)
        cv2.imwrite(args.sheet, sheet[..., ::-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
