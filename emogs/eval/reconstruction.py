"""Self-reconstruction evaluation of an avatar on a dataset split (normally "val").

PSNR / SSIM of renders vs the frames; LMD: MediaPipe mouth landmarks of the render vs those of
the real frame (same detector, pixels at the dataset size); AUE-U / AUE-L: the project's
landmark AU estimator on both (baseline fitted on the real frames); render FPS; LPIPS only with
user weights. Metrics that cannot be computed are reported with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .. import metrics
from ..avatar import Avatar
from ..avatar.drive import frame_conditions


def _detector():
    try:
        from emogs.face.landmarks import FaceMeshDetector

        return FaceMeshDetector(video_mode=False, max_faces=1), None
    except Exception as err:  # mediapipe missing or broken
        return None, f"landmark detector unavailable ({err})"


def evaluate_avatar(
    avatar: Avatar,
    dataset,
    num_frames: int = 0,
    lpips_model=None,
    lpips_reason: str = "",
    video_path: str | Path | None = None,
    fps_frames: int = 10,
    detect: Callable[[np.ndarray], np.ndarray | None] | None = None,
    sync_net=None,
    person_judge=None,
) -> dict:
    """Render every (or `num_frames` evenly spaced) frame(s) of `dataset` at its full size.

    `detect(rgb uint8) -> [478,3] | None` overrides the MediaPipe landmark detector.
    `sync_net`: a SyncNet (emogs.lipsync) for Sync-E / Sync-C of the renders and of the real frames
    (`sync_truth`) against the dataset's audio; needs consecutive frames at 25 fps.
    `person_judge`: the dataset's own lip-sync judge (emogs.lipsync.person_judge) for `person_sync` /
    `person_sync_truth` (its offset search; not Sync-E/C).
    Returns a JSON-able dict of metrics (NotComputed entries carry their reason).
    """
    n = len(dataset)
    if n == 0:
        raise ValueError("evaluate_avatar: the split has no frames (check the manifest 'split').")
    idx = np.arange(n) if not num_frames or num_frames >= n else np.linspace(0, n - 1, num_frames).round()
    idx = idx.astype(int)
    size = int(dataset.size)
    det_close = None
    det_reason = None
    if detect is None:
        det, det_reason = _detector()
        if det is not None:
            det_close = det.close

            def detect(rgb, _d=det):
                faces = _d(rgb)
                return faces[0].points if faces else None

    psnrs, ssims, lpipss = [], [], []
    lm_pred, lm_true, w2cs = [], [], []
    missed = 0
    meters = {"sync": _sync_meters(dataset, idx, sync_net),
              "person_sync": _person_sync_meters(dataset, idx, person_judge)}

    def side_by_side():  # one frame at a time: memory does not grow with the split
        nonlocal missed
        for i in idx:
            s = dataset[int(i)]
            rgb = avatar.render_frame(frame_conditions(s), size, image_size=size, normals=False)["rgb"]
            psnrs.append(metrics.psnr(rgb, s.image))
            ssims.append(metrics.ssim(rgb, s.image))
            if lpips_model is not None:
                lpipss.append(metrics.lpips(rgb, s.image, lpips_model))
            r8 = (rgb.numpy() * 255 + 0.5).astype(np.uint8)
            t8 = (s.image.numpy() * 255 + 0.5).astype(np.uint8)
            for pair, _ in meters.values():
                for meter, frame in zip(pair, (r8, t8)):
                    meter.add(frame)
            if detect is not None:
                p, t = detect(r8), detect(t8)
                if p is None or t is None:
                    missed += 1
                else:
                    lm_pred.append(p)
                    lm_true.append(t)
                    w2cs.append(s.w2c.numpy())
            yield np.concatenate([r8, t8], axis=1)

    if video_path is not None:
        from ..io import write_video

        write_video(video_path, side_by_side(), fps=float(getattr(dataset, "fps", 25.0)))
    else:
        for _ in side_by_side():
            pass
    if det_close is not None:
        det_close()
    res: dict = {"split": getattr(dataset, "split", "?"), "num_frames": len(idx), "size": size,
                 "psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims))}
    res["lpips"] = float(np.mean(lpipss)) if lpipss else metrics.NotComputed(
        lpips_reason or "LPIPS not computed: no backbone weights were supplied.")
    if lm_pred:
        res["lmd"] = metrics.lmd(np.stack(lm_pred), np.stack(lm_true))
        res["lmd_frames"] = len(lm_pred)
        res.update(_aue(np.stack(lm_pred), np.stack(lm_true), np.stack(w2cs)))
    else:
        why = det_reason or f"no face found by the landmark detector in {missed} rendered/real frame pairs"
        res["lmd"] = metrics.NotComputed(f"LMD not computed: {why}")
        res["AUE-U"] = res["AUE-L"] = metrics.NotComputed(f"AUE not computed: {why}")
    for name, (pair, why) in meters.items():
        if pair:
            res[name], res[f"{name}_truth"] = (m.result() for m in pair)
        else:
            res[name] = metrics.NotComputed(why)
    cond = frame_conditions(dataset[int(idx[0])])
    res["fps"] = metrics.measure_fps(lambda _i: avatar.render_frame(cond, size, image_size=size,
                                                                    normals=False),
                                     num_frames=fps_frames, warmup=1)
    res["fps_threads"] = torch.get_num_threads()
    if video_path is not None:
        res["video"] = str(video_path)
    res["evaluated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return metrics.to_json(res)


def _sync_meters(dataset, idx: np.ndarray, sync_net) -> tuple[list, str]:
    """([SyncNet's ClipMeter for the renders, for the real frames], "") or ([], why not)."""
    if sync_net is None:
        return [], ("Sync-E/C not computed: no SyncNet weights; pass --syncnet-weights FILE "
                    "(syncnet_v2.model as a state dict, see docs/models.md).")
    from ..lipsync.scores import FPS, face_boxes, syncnet_meter

    if abs(float(dataset.fps) - FPS) > 1e-3:
        return [], f"Sync-E/C not computed: the dataset is {dataset.fps:g} fps; SyncNet needs 25 fps."
    why = _clip_problem(dataset, idx)
    if why:
        return [], f"Sync-E/C not computed: {why}"
    boxes = face_boxes(np.asarray(dataset.landmarks[dataset.frame_indices[idx]]))
    wav = _dataset_audio(dataset, int(dataset.frame_indices[idx[0]]), len(idx))
    return [syncnet_meter(sync_net, boxes, wav) for _ in range(2)], ""


def _person_sync_meters(dataset, idx: np.ndarray, judge) -> tuple[list, str]:
    """([the person judge's ClipMeter for the renders, for the real frames], "") or ([], why not)."""
    if judge is None:
        return [], ("person_sync not computed: the dataset has no lip-sync judge (run the preprocessing "
                    "stage 'lipsync_judge').")
    from ..lipsync.person_judge import person_meter
    from ..lipsync.scores import face_boxes

    why = _clip_problem(dataset, idx)
    if why:
        return [], f"person_sync not computed: {why}"
    frames = dataset.frame_indices[idx]
    boxes = face_boxes(np.asarray(dataset.landmarks[frames]))
    return [person_meter(judge, boxes, np.asarray(dataset.audio_features[frames])) for _ in range(2)], ""


def _clip_problem(dataset, idx: np.ndarray) -> str:
    """Why the evaluated frames cannot be judged as a speaking clip ("" when they can)."""
    if len(idx) < 6 or np.any(np.diff(idx) != 1):
        return "it needs >= 6 consecutive frames; evaluate the whole split (--num-frames 0)."
    if not (Path(dataset.root) / "audio.wav").exists():
        return "the dataset has no audio.wav."
    return ""


def _dataset_audio(dataset, first_frame: int, num_frames: int) -> np.ndarray:
    """Float 16 kHz audio of frames first_frame .. + num_frames of the dataset's audio.wav."""
    from ..io import read_audio

    wav = read_audio(Path(dataset.root) / "audio.wav", 16000)
    start = int(round(first_frame / float(dataset.fps) * 16000))
    return wav[start: start + int(round(num_frames / float(dataset.fps) * 16000))]


def _aue(pred: np.ndarray, true: np.ndarray, w2c: np.ndarray) -> dict:
    try:
        from emogs.face.action_units import (
            AU_NAMES,
            au_geometry_features,
            features_to_intensity,
            fit_au_baseline,
        )
    except Exception as err:
        r = metrics.NotComputed(f"AUE not computed: AU estimator unavailable ({err})")
        return {"AUE-U": r, "AUE-L": r}
    ft = au_geometry_features(true, w2c)
    base = fit_au_baseline(ft)
    au_t = features_to_intensity(ft, base)
    au_p = features_to_intensity(au_geometry_features(pred, w2c), base)
    return metrics.aue(au_p, au_t, AU_NAMES)
