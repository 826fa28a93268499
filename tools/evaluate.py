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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


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
    return p


def _crop_to_dataset(points: np.ndarray, ds) -> np.ndarray:
    """Source-video pixels -> pixels of the dataset's (global) crop at ds.size."""
    crop = ds.manifest.get("crop")
    if not crop:
        return points
    return (points - [crop["x0"], crop["y0"]]) * (ds.size / float(crop["side"]))


def _detect_video(path: str, num_frames: int) -> np.ndarray:
    """MediaPipe landmarks [T,478,2] of the first `num_frames` frames of a video (NaN where no face)."""
    from emogs.face.landmarks import FaceMeshDetector
    from emogs.io import iter_video_frames

    out = np.full((num_frames, 478, 2), np.nan)
    with FaceMeshDetector(video_mode=True, max_faces=1) as det:
        for t, frame in enumerate(iter_video_frames(path)):
            if t >= num_frames:
                break
            faces = det(frame)
            if faces:
                out[t] = faces[0].points[:, :2]
    return out


def _mouth_scores(pred: np.ndarray, true: np.ndarray) -> dict:
    """LMD of `pred` vs `true` [T,478,2] after a per-frame similarity on the rigid points, next to a
    mouth that never moves (the truth's mean shape, placed by the same alignment), and the inner-lip
    gap's spread and correlation (articulation)."""
    from emogs import metrics

    aligned = metrics.similarity_align(pred, true)
    ref = metrics.similarity_align(true, np.repeat(true[:1], len(true), 0)).mean(0)
    static = metrics.similarity_align(np.repeat(ref[None], len(true), 0), true)
    gap_p, gap_t = aligned[:, 14, 1] - aligned[:, 13, 1], true[:, 14, 1] - true[:, 13, 1]
    return {"lmd": metrics.lmd(aligned, true), "static_baseline": metrics.lmd(static, true),
            "gap_std_px": float(gap_p.std()), "truth_gap_std_px": float(gap_t.std()),
            "gap_corr": float(np.corrcoef(gap_p, gap_t)[0, 1]) if gap_p.std() > 0 else 0.0}


def heldout_eval(avatar, ds, audio_path: str, truth_path: str | None, truth_video: str | None,
                 sync_net=None, person_judge=None) -> dict:
    """The avatar driven by held-out audio: Sync-E / Sync-C (with `sync_net`) and the person judge's
    `heldout_person_sync` (with `person_judge`), of the true video too when given (`*_truth`), and
    LMD against the ground truth of that speech (when given).

    truth_video: the held-out video itself. The standard LMD protocol: the same detector on the
    renders and on the true frames. truth_path: exact landmarks [T,478,>=2] (the demo generator's
    rig); MediaPipe's own bias against those is reported as `detector_floor`. The avatar renders at
    one fixed training pose while the truth's head moves, so each render's landmarks are first
    mapped onto the truth's by a similarity fitted on rigid points (eyes, nose, forehead)."""
    import torch

    from emogs import metrics
    from emogs.audio.features import extract_audio_features
    from emogs.avatar.drive import DriveOptions, drive_conditions
    from emogs.face.landmarks import FaceMeshDetector
    from emogs.io import read_audio
    from tools.render import extractor_name

    lm_rig = None
    if truth_path:
        truth = np.load(truth_path)
        if "landmarks" not in truth:
            raise SystemExit(f"error: {truth_path} has no 'landmarks' array (expected [T,478,>=2]).")
        lm_rig = _crop_to_dataset(np.asarray(truth["landmarks"], np.float64)[..., :2], ds)
    wav = read_audio(audio_path, 16000)
    T = max(1, int(round(len(wav) / 16000 * ds.fps)))
    if lm_rig is not None:
        T = min(T, len(lm_rig))
    lm_video = _detect_video(truth_video, T) if truth_video else None
    lm_det = _crop_to_dataset(lm_video, ds) if truth_video else None
    feats, _ = extract_audio_features(wav, T, ds.fps, extractor_name(avatar.config.audio_extractor))
    preds = np.full((T, 478, 2), np.nan)
    options = DriveOptions(pose="fixed")
    res: dict = {}
    renders, truths = _heldout_lipsync_meters(ds, options, T, wav, feats, sync_net, person_judge, truth_video,
                                              lm_video, res)
    with FaceMeshDetector(video_mode=True, max_faces=1) as det:
        for t, cond in enumerate(drive_conditions(ds, feats, avatar.config.audio_window, None, options)):
            with torch.no_grad():
                rgb = avatar.render_frame(cond, ds.size, image_size=ds.size)["rgb"]
            r8 = (rgb.numpy() * 255 + 0.5).astype(np.uint8)
            for meter in renders.values():
                meter.add(r8)
            if truth_path or truth_video:
                faces = det(r8)
                if faces:
                    preds[t] = faces[0].points[:, :2]
    if truths:
        from emogs.io import iter_video_frames

        for t, frame in enumerate(iter_video_frames(truth_video)):
            if t >= T:
                break
            for meter in truths.values():
                meter.add(frame)
    res.update(_lipsync_results({**renders, **truths}))
    if not (truth_path or truth_video):
        return res
    ok = ~np.isnan(preds).any((1, 2))
    if lm_det is not None:
        ok &= ~np.isnan(lm_det).any((1, 2))
    if not ok.any():
        return {**res, "heldout_lmd": metrics.to_json(metrics.NotComputed("no face detected in the renders"))}
    res["heldout_frames"] = int(ok.sum())
    if lm_det is not None:
        s = _mouth_scores(preds[ok], lm_det[ok])
        res.update({"heldout_lmd": s.pop("lmd"), "heldout_lmd_static_baseline": s.pop("static_baseline"),
                    "heldout_articulation": s})
    if lm_rig is not None:
        s = _mouth_scores(preds[ok], lm_rig[ok])
        res["heldout_vs_rig_truth"] = s
        if lm_det is not None:
            res["heldout_vs_rig_truth"]["detector_floor"] = metrics.lmd(
                metrics.similarity_align(lm_det[ok], lm_rig[ok]), lm_rig[ok])
        if "heldout_lmd" not in res:
            res["heldout_lmd"] = s["lmd"]
            res["heldout_lmd_static_baseline"] = s["static_baseline"]
    res["heldout_note"] = (
        "LMD on the 40 lip points at the dataset's resolution; renders at a fixed training pose, "
        "aligned per frame to the truth by a similarity on rigid points (emogs.metrics.RIGID_INDICES). "
        "heldout_lmd: MediaPipe on renders vs MediaPipe on the true video (standard protocol) when "
        "--truth-video is given, else vs the rig truth; static_baseline: the truth's mean mouth held still.")
    return res


def _heldout_lipsync_meters(ds, options, num_frames: int, wav: np.ndarray, feats: np.ndarray, sync_net,
                            person_judge, truth_video: str | None, lm_video: np.ndarray | None, res: dict):
    """({result name: ClipMeter of the held-out renders}, {name: ClipMeter of the true video}) for
    SyncNet (`heldout_sync`) and the person judge (`heldout_person_sync`); a judge that cannot run
    writes its reason into `res` instead. The renders keep the pose of training frame
    `options.fixed_frame`, so that frame's face box frames all of them; the true video's boxes come
    from its own landmarks `lm_video` [T, 478, 2]."""
    from emogs import metrics
    from emogs.lipsync.person_judge import person_meter
    from emogs.lipsync.scores import FPS, face_boxes, syncnet_meter
    from preprocess.decode import probe

    frame = int(ds.frame_indices[min(max(options.fixed_frame, 0), len(ds) - 1)])
    fixed = np.repeat(face_boxes(np.asarray(ds.landmarks[frame])[None]), num_frames, 0)
    truth_boxes = face_boxes(lm_video) if truth_video and not np.isnan(lm_video).all() else None
    truth_fps = probe(truth_video).fps if truth_boxes is not None else 0.0
    renders, truths = {}, {}
    if sync_net is None:
        why = "Sync-E/C not computed: no SyncNet weights; pass --syncnet-weights FILE."
    elif abs(ds.fps - FPS) > 1e-3:
        why = f"Sync-E/C not computed: the dataset is {ds.fps:g} fps; SyncNet needs 25 fps."
    else:
        why = ""
        renders["heldout_sync"] = syncnet_meter(sync_net, fixed, wav)
        if truth_boxes is not None and abs(truth_fps - FPS) < 1e-3:
            truths["heldout_sync_truth"] = syncnet_meter(sync_net, truth_boxes, wav)
        elif truth_boxes is not None:
            res["heldout_sync_truth"] = metrics.to_json(metrics.NotComputed(
                f"Sync of {truth_video} not computed: it is {truth_fps:g} fps, SyncNet needs 25."))
    if why:
        res["heldout_sync"] = metrics.to_json(metrics.NotComputed(why))
    if person_judge is None:
        res["heldout_person_sync"] = metrics.to_json(metrics.NotComputed(
            "person_sync not computed: the dataset has no lip-sync judge (preprocessing stage "
            "'lipsync_judge')."))
    else:
        renders["heldout_person_sync"] = person_meter(person_judge, fixed, feats)
        if truth_boxes is not None and abs(truth_fps - ds.fps) < 1e-3:
            truths["heldout_person_sync_truth"] = person_meter(person_judge, truth_boxes, feats)
    return renders, truths


def _lipsync_results(meters: dict) -> dict:
    """{name: the meter's result}, NotComputed on a clip too short to judge."""
    from emogs import metrics

    out = {}
    for name, meter in meters.items():
        try:
            out[name] = meter.result()
        except ValueError as err:
            out[name] = metrics.to_json(metrics.NotComputed(f"{name} not computed: {err}"))
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.truth or args.truth_video) and not args.audio:
        raise SystemExit("error: --truth / --truth-video need --audio (the held-out speech)")
    from emogs.data import PersonDataset
    from emogs.lipsync import load_syncnet
    from emogs.lipsync.person_judge import load_person_judge
    from emogs.losses import load_lpips
    from emogs.train import evaluate_avatar, load_avatar
    from emogs.train.checkpoint import resolve_avatar_folder

    avatar, meta = load_avatar(args.avatar)
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
    out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return 0


def emotion_metrics(avatar, ds, folder: Path | None = None, lip_frames: int = 8) -> dict:
    """Emotion-conditioned evaluation via emogs.emotion: the 12-target protocol (judge: fer), lip
    preservation (MediaPipe lip points of emotional vs neutral renders of the same `lip_frames`
    validation frames, every target; beside it the detector's floor - the same on the emotional
    render with the neutral mouth put back - and the avatar's rendered motion of the lip pixels),
    motion fidelity (the renders' brow / eye motion vs the
    synthetic generator's for the same frames and targets: did the branch learn what it was taught)
    a plot of targets vs judged V/A (`folder`/emotion_va.png) and a contact sheet of the renders
    at the targets beside what the generator taught (`folder`/emotion_targets.png).
    Reported as not computed on failure."""
    try:
        import torch

        from emogs.emotion.au_mesh import LEFT_BROW, LEFT_EYE, RIGHT_BROW, RIGHT_EYE
        from emogs.emotion.edit import EmotionalFrameConfig, EmotionalFrameGenerator
        from emogs.emotion.judge import EmotionJudge
        from emogs.emotion.metrics import (
            emotion_conditioned_eval,
            lip_mask,
            lip_preservation,
            motion_fidelity,
            mouth_swapped,
            plot_va_circle,
        )
        from emogs.emotion.va_model import circle_targets
        from emogs.face.landmarks import FaceMeshDetector
        from emogs.train.evaluate import frame_conditions

        judge = EmotionJudge()
        base = frame_conditions(ds[0])

        def render(cond, va):
            cond.va = None if va is None else torch.as_tensor(np.asarray(va), dtype=torch.float32)
            with torch.no_grad():
                rgb = avatar.render_frame(cond, ds.size, image_size=ds.size)["rgb"]
            return (rgb.numpy() * 255 + 0.5).astype(np.uint8)

        def render_with_flow(cond, va):
            """(rgb uint8, emotion flow [H, W, 2] px) of the plain path (same image as `render`)."""
            cond.va = torch.as_tensor(np.asarray(va), dtype=torch.float32)
            with torch.no_grad():
                out = avatar.render(cond, ds.size, image_size=ds.size, normals=False, emotion_flow=True)
            return (out["rgb"].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8), out["emotion_flow"].numpy()

        renders = []

        def render_target(va):
            renders.append(render(base, va))
            return renders[-1]

        res = emotion_conditioned_eval(render_target, judge)
        targets = circle_targets(12)
        rest = avatar.config.emotion_rest_va
        gen = EmotionalFrameGenerator(EmotionalFrameConfig(rest_va=tuple(rest) if rest else None))
        if folder is not None:
            judged = [p["judged"] for p in res["per_target"]]
            res["plot"] = str(plot_va_circle(targets, judged, folder / "emotion_va.png",
                                             title=f"targets (green) vs judged ({judge.backend})"))
            res["sheet"] = str(targets_sheet(ds[0], render(base, None), renders, res, gen,
                                             folder / "emotion_targets.png"))
        neutral, emotional, swapped, intended, lip_motion = [], [], [], [], []
        with FaceMeshDetector(video_mode=False, max_faces=1) as det:
            for i in np.linspace(0, len(ds) - 1, min(lip_frames, len(ds))).round().astype(int):
                sample = ds[int(i)]
                cond = frame_conditions(sample)
                n_img = render(cond, None)
                ref = det(n_img)
                for t in targets:
                    e_img, flow = render_with_flow(cond, t)
                    faces = det(e_img)
                    if not (ref and faces):
                        continue
                    back = det(mouth_swapped(e_img, n_img, ref[0].points))
                    if not back:
                        continue
                    neutral.append(ref[0].points)
                    emotional.append(faces[0].points)
                    swapped.append(back[0].points)
                    intended.append(gen.displacement(sample.landmarks.numpy().astype(np.float64), t,
                                                     ds.size)[0])
                    on_lips = lip_mask(ref[0].points, flow.shape[:2]) > 0.5
                    lip_motion.append(np.linalg.norm(flow, axis=-1)[on_lips])
        if neutral:
            lp = lip_preservation(np.stack(neutral), np.stack(emotional))
            floor = lip_preservation(np.stack(neutral), np.stack(swapped))
            moved = np.concatenate(lip_motion)
            res["lip_preservation"] = {
                "mean_px": lp["mean_px"], "max_px": lp["max_px"], "pairs": len(neutral),
                # the same detector on the emotional render with the neutral mouth put back: its lip
                # "motion" there is crosstalk from the eyes / brows / cheeks (lips pixel-identical)
                "detector_floor": {"mean_px": floor["mean_px"], "max_px": floor["max_px"]},
                # the avatar's own motion of the lip pixels (its emotion flow over the lips' hull): exact
                "rendered_lip_motion": {"mean_px": float(moved.mean()) if moved.size else 0.0,
                                        "p99_px": float(np.percentile(moved, 99)) if moved.size else 0.0,
                                        "max_px": float(moved.max()) if moved.size else 0.0},
            }
            # the branch vs what it was taught: the synthetic edit's motion of the same frames / targets
            res["motion_fidelity"] = {
                region: motion_fidelity(np.stack(neutral), np.stack(emotional), np.stack(intended), idx)
                for region, idx in (("brows", LEFT_BROW + RIGHT_BROW), ("eyes", LEFT_EYE + RIGHT_EYE))}
        else:
            res["lip_preservation"] = {"computed": False, "reason": "no face detected in the renders"}
        return res
    except Exception as err:  # report, never fake
        return {"computed": False, "reason": f"emotion metrics not computed: {type(err).__name__}: {err}"}


def targets_sheet(sample, rest_render, renders, res: dict, gen, path: Path) -> Path:
    """Write `path`: per protocol target, the avatar without emotion | the avatar at the target |
    what it was taught (the generator's edit of the real frame), face crops, labelled with the
    target, its class and the judge's top class."""
    import cv2

    from emogs.emotion.edit import contact_sheet, face_box

    real = (sample.image.numpy() * 255 + 0.5).astype(np.uint8)
    pts = sample.landmarks.numpy().astype(np.float64)
    cells, labels = [], []
    for img, per in zip(renders, res["per_target"]):
        cells.append((rest_render, img, gen(real, pts, per["target"])[0]))
        labels.append("{:+.2f},{:+.2f} {} -> {}".format(*per["target"], per["class"], per["top3"][0]))
    sheet = contact_sheet(cells, labels, tile=192, boxes=[face_box(pts, real.shape[0])] * len(cells), cols=2)
    cv2.imwrite(str(path), sheet[..., ::-1])
    return path


if __name__ == "__main__":
    sys.exit(main())
