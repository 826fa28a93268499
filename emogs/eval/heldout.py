"""Held-out speech: the avatar speaks audio it never heard; lip sync (SyncNet, the person's judge) and
mouth LMD against the true video or the demo generator's exact landmarks."""

from __future__ import annotations

import numpy as np

from .. import metrics


def _crop_to_dataset(points: np.ndarray, ds) -> np.ndarray:
    """Source-video pixels -> pixels of the dataset's (global) crop at ds.size."""
    crop = ds.manifest.get("crop")
    if not crop:
        return points
    return (points - [crop["x0"], crop["y0"]]) * (ds.size / float(crop["side"]))


def _detect_video(path: str, num_frames: int) -> np.ndarray:
    """MediaPipe landmarks [T,478,2] of the first `num_frames` frames of a video (NaN where no face)."""
    from ..face.landmarks import FaceMeshDetector
    from ..io import iter_video_frames

    out = np.full((num_frames, 478, 2), np.nan)
    with FaceMeshDetector(video_mode=True, max_faces=1) as det:
        for t, frame in enumerate(iter_video_frames(path)):
            if t >= num_frames:
                break
            faces = det(frame)
            if faces:
                out[t] = faces[0].points[:, :2]
    return out


def mouth_scores(pred: np.ndarray, true: np.ndarray) -> dict:
    """LMD of `pred` vs `true` [T,478,2] after a per-frame similarity on the rigid points, next to a
    mouth that never moves (the truth's mean shape, placed by the same alignment), and the inner-lip
    gap's spread and correlation (articulation)."""
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

    from ..avatar.drive import DriveOptions, drive_conditions, speech_features
    from ..face.landmarks import FaceMeshDetector
    from ..io import read_audio

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
    feats = speech_features(wav, ds.fps, avatar.config, T)
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
        from ..io import iter_video_frames

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
        s = mouth_scores(preds[ok], lm_det[ok])
        res.update({"heldout_lmd": s.pop("lmd"), "heldout_lmd_static_baseline": s.pop("static_baseline"),
                    "heldout_articulation": s})
    if lm_rig is not None:
        s = mouth_scores(preds[ok], lm_rig[ok])
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
    from ..io.video import video_fps
    from ..lipsync.person_judge import person_meter
    from ..lipsync.scores import FPS, face_boxes, syncnet_meter

    frame = int(ds.frame_indices[min(max(options.fixed_frame, 0), len(ds) - 1)])
    fixed = np.repeat(face_boxes(np.asarray(ds.landmarks[frame])[None]), num_frames, 0)
    truth_boxes = face_boxes(lm_video) if truth_video and not np.isnan(lm_video).all() else None
    truth_fps = video_fps(truth_video) if truth_boxes is not None else 0.0
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

    out = {}
    for name, meter in meters.items():
        try:
            out[name] = meter.result()
        except ValueError as err:
            out[name] = metrics.to_json(metrics.NotComputed(f"{name} not computed: {err}"))
    return out
