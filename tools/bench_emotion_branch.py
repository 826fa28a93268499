"""How well does a fresh emotion branch learn its synthetic frames? (an accuracy A/B, not a timing)

    python tools/bench_emotion_branch.py out/demo/avatar [--steps 600] [--flow 0.5] [--embedding facs]

Takes a fitted avatar (its face, mouth and audio/AU nets stay frozen), replaces its emotion branch
by a fresh one (`EmotionDeformNet` from the avatar's config, `--embedding`), runs the emotion stage
for `--steps` steps on the dataset's `emotion/` frames with `loss.emotion_flow = --flow` (the rest
of the avatar's training preset unchanged), then reports:

* brow motion: MediaPipe brow landmarks on renders of the first validation frame at the 12
  protocol targets vs no edit, against the generator's own brow displacement for that frame
  (`emogs.emotion.metrics.motion_fidelity`: error, gain, correlation), one row per target;
* dense motion error: mean |rendered - synthetic| motion (px at train_size, over the face mask) of
  one emotional frame per target, next to the error of not moving at all;
* eye colour error: mean |rendered - synthetic| RGB (0-255) over boxes around the synthetic frames'
  eye openings (where raised lids uncover eyeball), next to the render without emotion's.

The weights are not saved unless `--save FILE` (the emotion branch's state dict).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("avatar", help="a fitted avatar folder (or the OUT folder of fit_person)")
    ap.add_argument("--dataset", help="its person dataset (default: the one it was trained on)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--flow", type=float, default=0.5, help="loss.emotion_flow")
    ap.add_argument("--embedding", choices=("facs", "va"), default="facs")
    ap.add_argument("--finest", type=int, help="the branch encoder's finest resolution (default: avatar's)")
    ap.add_argument("--eye-region", type=float, help="loss.eye_region (default: the preset's)")
    ap.add_argument("--eyes", type=int, help="eyeball Gaussians: 0 drops the avatar's, N > 0 gives an avatar "
                    "without any N fresh ones (trained here, in the emotion stage only); default: as fitted")
    ap.add_argument("--sheet", help="write a PNG: per target, synthetic frame | render (face crops)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save", help="write the trained branch's state dict here")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    import torch

    from emogs.avatar.avatar import build_networks
    from emogs.avatar.drive import frame_conditions
    from emogs.avatar.store import load_avatar
    from emogs.data import PersonDataset
    from emogs.data.emotion_frames import EmotionFrames
    from emogs.emotion.au_mesh import LEFT_BROW, RIGHT_BROW
    from emogs.emotion.edit import EmotionalFrameConfig, EmotionalFrameGenerator
    from emogs.emotion.metrics import motion_fidelity
    from emogs.emotion.va_model import circle_targets
    from emogs.face.eye_layer import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR
    from emogs.face.landmarks import FaceMeshDetector
    from emogs.losses import flow_l1
    from emogs.train.config import config_from_dict, load_config
    from emogs.train.targets import make_target
    from emogs.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    folder = Path(args.avatar)
    if (folder / "avatar").is_dir() and not (folder / "avatar.json").is_file():
        folder = folder / "avatar"
    avatar, meta = load_avatar(folder)
    root = Path(args.dataset or meta["dataset"])
    ds = PersonDataset(root, split="train", load_emotion=True, audio_window=avatar.config.audio_window)
    em = EmotionFrames(ds)
    rest = ds.manifest.get("stages", {}).get("emotion", {}).get("rest_va")
    avatar.config.with_emotion, avatar.config.emotion_embedding = True, args.embedding
    avatar.config.emotion_rest_va = rest
    if args.finest is not None:
        avatar.config.emotion_encoder.finest_resolution = args.finest
    avatar.emotion_net = build_networks(avatar.config)[2]

    train = dict((meta.get("train") or {}).get("config") or {"preset": "quick"})
    train.update(stages={"canonical": 0, "networks": 0, "fuse": 0, "emotion": args.steps},
                 checkpoint_every=10**9, seed=1)
    train.setdefault("loss", {})["emotion_flow"] = args.flow
    if args.eye_region is not None:
        train["loss"]["eye_region"] = args.eye_region
    cfg = config_from_dict(train) if "train_size" in train else load_config("quick", train)
    out_dir = Path(args.save).parent if args.save else Path("/tmp") / "emogs_bench_emotion_branch"
    tr = Trainer(cfg, ds, out_dir, emotion_frames=em, progress=True)
    if args.eyes == 0:
        avatar.eyes = None
    elif args.eyes and avatar.eyes is None:
        tr.cfg.model.num_eyes = tr.avatar_cfg.num_eyes = args.eyes
        avatar.eyes = tr._fresh_avatar().eyes
    tr._setup(avatar.train())
    tr._snapshot()
    t0 = time.time()
    while tr.step < tr.total_steps:
        tr.train_step()
        tr.step += 1
    train_s = time.time() - t0
    avatar.eval()

    # brow motion at the protocol's targets on the first validation frame
    val = PersonDataset(root, split="val", audio_window=avatar.config.audio_window)
    gen = EmotionalFrameGenerator(EmotionalFrameConfig(rest_va=tuple(rest) if rest else None))
    sample = val[0]
    cond = frame_conditions(sample)
    brows = list(LEFT_BROW + RIGHT_BROW)

    def render(va):
        cond.va = None if va is None else torch.as_tensor(np.asarray(va), dtype=torch.float32)
        with torch.no_grad():
            rgb = avatar.render_frame(cond, val.size, image_size=val.size)["rgb"]
        return (rgb.numpy() * 255 + 0.5).astype(np.uint8)

    targets = circle_targets(12)
    with FaceMeshDetector(video_mode=False, max_faces=1) as det:
        faces = [det(render(t)) for t in [None, *targets]]
    rows, fid = [], {"computed": False, "reason": "MediaPipe found no face in the renders"}
    if all(faces):
        p0, moved = faces[0][0].points, [f[0].points for f in faces[1:]]
        lm = sample.landmarks.numpy().astype(np.float64)
        intended = [gen.displacement(lm, t, val.size)[0] for t in targets]
        fid = motion_fidelity(np.stack([p0] * len(targets)), np.stack(moved), np.stack(intended), brows)
        for t, p, d in zip(targets, moved, intended):
            rows.append({"target": np.round(t, 2).tolist(),
                         "render_brow_dy": float(p[brows, 1].mean() - p0[brows, 1].mean()),
                         "synthetic_brow_dy": float(d[brows, 1].mean())})

    # dense motion error, one emotional frame per target (the first of each)
    va = np.asarray(ds.emotion["valence_arousal"])[em.indices]
    _, first = np.unique(np.round(va, 3), axis=0, return_index=True)
    dense, still, eye_err, eye_still, cells, labels = [], [], [], [], [], []
    s = cfg.train_size
    for j in sorted(first):
        smp = em[int(j)]
        if smp.emotion_flow is None:
            break
        tgt = make_target(smp, s)
        with torch.no_grad():
            out = avatar.render(tgt.cond, s, s, image_size=tgt.image_size, emotion_flow=True)
            plain = avatar.render(tgt.cond, s, s, image_size=tgt.image_size, emotion=False)["rgb"]
        a = out["face_alpha"]
        dense.append(float(flow_l1(out["emotion_flow"], tgt.emotion_flow, a, tgt.face_mask)))
        none = torch.zeros_like(out["emotion_flow"])
        still.append(float(flow_l1(none, tgt.emotion_flow, a, tgt.face_mask)))
        lm = smp.landmarks.numpy()[:, :2] * (s / smp.image.shape[0])
        box = np.zeros((s, s), bool)
        for contour in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):
            (x0, y0), (x1, y1) = np.floor(lm[list(contour)].min(0) - 2), np.ceil(lm[list(contour)].max(0) + 2)
            box[max(int(y0), 0):int(y1), max(int(x0), 0):int(x1)] = True
        m = torch.from_numpy(box)
        eye_err.append(float((out["rgb"] - tgt.image).abs()[m].mean()) * 255)
        eye_still.append(float((plain - tgt.image).abs()[m].mean()) * 255)
        cells.append([(x.numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8) for x in (tgt.image, out["rgb"])])
        labels.append("{:+.2f},{:+.2f}".format(*va[j]))

    print(f"{args.steps} emotion steps ({args.embedding}, flow {args.flow}) in {train_s:.0f} s")
    print("target        render brow dy   synthetic brow dy")
    for r in rows:
        print(f"{r['target'][0]:+.2f},{r['target'][1]:+.2f}     {r['render_brow_dy']:+7.2f}        "
              f"{r['synthetic_brow_dy']:+7.2f}")
    summary = {"steps": args.steps, "embedding": args.embedding, "flow": args.flow,
               "train_seconds": round(train_s, 1),
               "brows": fid, "dense_motion_error_px": float(np.mean(dense)) if dense else None,
               "dense_motion_error_still_px": float(np.mean(still)) if still else None,
               "eye_color_error": float(np.mean(eye_err)) if eye_err else None,
               "eye_color_error_still": float(np.mean(eye_still)) if eye_still else None}
    if args.sheet and cells:
        import cv2

        from emogs.emotion.edit import contact_sheet, face_box

        lm = em[int(sorted(first)[0])].landmarks.numpy() * (s / ds.size)
        sheet = contact_sheet(cells, labels, tile=192, boxes=[face_box(lm, s)] * len(cells), cols=3)
        cv2.imwrite(args.sheet, sheet[..., ::-1])
    print(json.dumps(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "per_target": rows}, indent=1))
    if args.save:
        torch.save(avatar.emotion_net.state_dict(), args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
