"""Judge the synthetic emotional frames directly: the upper bound of what an avatar can learn.

    python tools/bench_emotion_frames.py out/demo/dataset [--frames 6] [--sheet out.png] [--json out.json]
    python tools/bench_emotion_frames.py portrait.jpg      # one photo
    python tools/bench_emotion_frames.py clip.mp4 --frames 4   # 4 evenly spaced frames of a clip

For the paper's protocol (12 V/A targets evenly on the circle, radius 0.8) the generator
(`emogs.emotion.edit.EmotionalFrameGenerator`, `--set FIELD=VALUE` overrides its config) makes
emotional versions of `--frames` source frames. Two judges: fer, as tools/evaluate.py (Haar face
crop; V/A averaged over the frames of a target) -> V-RMSE, A-RMSE, V-SA, A-SA, E-Acc top-3
(`emotion_conditioned_eval`), and the blendshape judge (`emogs.emotion.blendshapes`: do the
expected blendshapes move the right way against the source frames) -> sign agreement. Articulation:
MediaPipe re-detected on each emotional frame vs its source: the inner-lip opening
(`opening_preservation`) and all 40 lip points (`lip_preservation`, which moves by design when the
mouth corners carry the emotion). `--sheet`: targets x sources face crops. Accuracy, not timings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from emogs.errors import cli_entry


def _crop_face(rgb: np.ndarray, det, size: int = 512, margin: float = 0.6) -> np.ndarray | None:
    """RGB [size, size, 3] uint8: the face in a square crop (its landmarks' box grown by `margin` on each
    side), as the decode stage crops; None without a face."""
    import cv2

    faces = det(rgb)
    if not faces:
        return None
    p = faces[0].points[:, :2]
    (x0, y0), (x1, y1) = p.min(0), p.max(0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    k = size / side
    m = np.array([[k, 0, size / 2 - cx * k], [0, k, size / 2 - cy * k]])
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def _face_frames(path: Path, det, n: int) -> list[np.ndarray]:
    """Face crops of an image, or of `n` evenly spaced frames of a video (read one at a time)."""
    import cv2

    bgr = cv2.imread(str(path))
    if bgr is not None:
        picked = [bgr]
    else:
        cap = cv2.VideoCapture(str(path))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if not cap.isOpened() or total < 1:
            raise SystemExit(f"{path}: neither a dataset folder nor a readable image / video")
        want = set(np.linspace(0, total - 1, n + 2).round().astype(int)[1:-1].tolist() if total > n + 1
                   else range(min(n, total)))
        picked = []
        for i in range(total):
            ok, f = cap.read()
            if not ok:
                break
            if i in want:
                picked.append(f)
        cap.release()
    crops = [_crop_face(np.ascontiguousarray(f[..., ::-1]), det) for f in picked]
    crops = [c for c in crops if c is not None]
    if not crops:
        raise SystemExit(f"{path}: no face found")
    return crops


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help="a person dataset folder, or one image / video (its first frame)")
    ap.add_argument("--frames", type=int, default=6, help="training frames per target (evenly spaced)")
    ap.add_argument("--crop", choices=("haar", "landmarks"), default="haar",
                    help="judge face crop: haar (as tools/evaluate.py) or the detected landmarks")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override an EmotionalFrameConfig field (repeatable), e.g. --set lip_corners=0")
    ap.add_argument("--sheet", help="contact sheet PNG (face crops, one row per source frame)")
    ap.add_argument("--sheet-tile", type=int, default=192, help="contact sheet tile size (px)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    from emogs.io.outputs import check_output_file

    for path, kind in ((args.sheet, (".png", ".jpg")), (args.json, (".json",))):
        if path:  # checked before the work, not after it
            check_output_file(path, kind)

    import cv2

    from emogs.data.schema import manifest_so_far
    from emogs.emotion.blendshapes import judge_with_blendshapes
    from emogs.emotion.edit import EmotionalFrameConfig, EmotionalFrameGenerator
    from emogs.emotion.judge import EmotionJudge
    from emogs.emotion.metrics import emotion_conditioned_eval, lip_preservation, opening_preservation
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
    else:  # one photo, or --frames frames of a video, cropped around the face like the decode stage
        real = _face_frames(root, det, args.frames)
        real_pts = [det(f)[0].points.astype(np.float64) for f in real]
        src = np.arange(len(real))
    rest = judge(np.stack(real), points478=[crop_pts(k, p) for k, p in enumerate(real_pts)])
    if cfg.rest_va is None and cfg.relative_to_rest:  # a photo: its judged V/A is the rest expression
        cfg.rest_va = tuple(float(x) for x in np.asarray(rest.va).reshape(-1, 2).mean(0))
    gen = EmotionalFrameGenerator(cfg)
    det_real = [det(f)[0].points for f in real]

    made: dict[tuple, list] = {}
    neutral_lm, emo_lm = [], []

    def render_fn(va):
        outs = []
        for k in range(len(src)):
            img, p = gen(real[k], real_pts[k], va)
            outs.append(img)
            faces = det(img)
            if faces:
                neutral_lm.append(det_real[k])
                emo_lm.append(faces[0].points)
        made[tuple(np.round(va, 3))] = outs
        return outs

    if args.crop == "landmarks":
        res = emotion_conditioned_eval(render_fn, judge, circle_targets(12),
                                       landmarks_fn=lambda f: det(f)[0].points if det(f) else None)
    else:
        res = emotion_conditioned_eval(render_fn, judge, circle_targets(12))
    lip = lip_preservation(np.stack(neutral_lm), np.stack(emo_lm))
    opening = opening_preservation(np.stack(neutral_lm), np.stack(emo_lm))
    keys = list(made)
    bs = judge_with_blendshapes(real, [made[k] for k in keys], np.asarray(keys), cfg.rest_va)
    summary = {k: round(res[k], 3) for k in ("V_RMSE", "A_RMSE", "V_SA", "A_SA", "E_Acc_top3")}
    summary.update(
        judge="fer (mini-Xception), crop=" + args.crop,
        frames=src.tolist(),
        rest_va_judged=np.round(rest.va.mean(0), 3).tolist(),
        rest_top1=[t[0] for t in rest.top3],
        generator_rest_va=None if cfg.rest_va is None else np.round(cfg.rest_va, 3).tolist(),
        lip_mean_px=round(lip["mean_px"], 3),
        lip_max_px=round(lip["max_px"], 3),
        lip_opening_change_px=round(opening["mean_abs_diff_px"], 3),
        lip_opening_correlation=round(opening["correlation"], 3),
        blendshape_sign_agreement=round(bs["sign_agreement"], 3) if "sign_agreement" in bs else bs,
        detected=f"{len(emo_lm)}/{12 * len(src)}",
        config={k: v for k, v in vars(cfg).items() if not k.startswith("_")},
    )
    for p, b in zip(res["per_target"], bs.get("per_target", [{}] * len(keys))):
        cues = " ".join(f"{au}{'+' if w > 0 else '-'}{'ok' if ok else 'NO'}({g})"
                        for au, (w, g, ok) in b.get("cues", {}).items())
        print(f"target {p['target'][0]:+.2f},{p['target'][1]:+.2f} [{p['class']:>8}] -> "
              f"{p['judged'][0]:+.2f},{p['judged'][1]:+.2f} top3={p['top3']} {'hit' if p['hit'] else ''}"
              f" | {cues}")
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}))
    if args.json:
        out = {"summary": summary, "per_target": res["per_target"], "blendshapes": bs}
        Path(args.json).write_text(json.dumps(out, indent=1))
    if args.sheet:
        from emogs.emotion.edit import face_box

        # targets x sources: a row per target (the real frames first), a column per source frame, the rows
        # folded into two side-by-side blocks so the sheet stays readable
        tile = args.sheet_tile
        labels = ["real"] + ["{} {:+.1f},{:+.1f}".format(p["class"], *p["target"]) for p in res["per_target"]]
        rows = []
        for j, lab in enumerate(labels):
            row = []
            for k in range(len(src)):
                x0, y0, x1, y1 = face_box(real_pts[k], real[k].shape[0], 0.9)
                img = real[k] if j == 0 else made[keys[j - 1]][k]
                c = cv2.resize(img[y0:y1, x0:x1], (tile, tile), interpolation=cv2.INTER_AREA).copy()
                cv2.putText(c, lab, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
                row.append(c)
            rows.append(np.concatenate(row, 1))
        half = (len(rows) + 1) // 2
        rows += [np.zeros_like(rows[0])] * (2 * half - len(rows))
        sheet = np.concatenate([np.concatenate(rows[:half], 0), np.full((half * tile, 8, 3), 255, np.uint8),
                                np.concatenate(rows[half:], 0)], 1)
        cv2.imwrite(args.sheet, sheet[..., ::-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
