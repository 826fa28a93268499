"""End-to-end: a short talking clip -> a complete person dataset; skipping, resuming, reruns."""

import json
import shutil

import numpy as np
import pytest

from emogs.data import PersonDataset
from preprocess.camera import rotation_angles
from preprocess.config import PreprocessConfig
from preprocess.pipeline import STAGES, Stage, register_stage, run_pipeline, stage_names
from preprocess.testclips import make_clip

pytestmark = pytest.mark.slow  # one ~20-40 s end-to-end run shared by the module

CFG = PreprocessConfig(size=160, audio_extractor="logmel", contact_frames=4, lipsync_judge_steps=40)
SECONDS = 3.2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    # the head does not move, the mouth opens and closes with the speech
    video = make_clip(d / "talk.mp4", seconds=SECONDS, width=240, height=200, motion=0.0)
    logs = []
    manifest = run_pipeline(video, d / "ds", CFG, progress=False, log=logs.append)
    return video, d / "ds", manifest, logs


def test_every_array_aligned(dataset):
    video, root, manifest, _ = dataset
    T = manifest["num_frames"]
    assert T == round(SECONDS * 25)
    assert set(manifest["stages"]) == set(stage_names())
    ds = PersonDataset(root, "all")  # validates every array's first dimension and dtype
    assert len(ds) == T and ds.size == 160
    assert ds.audio_features.shape == (T, 80)
    assert len(PersonDataset(root, "train")) + len(PersonDataset(root, "val")) == T
    assert manifest["split"]["val"] == [T - round(T / 11), T]
    import wave

    with wave.open(str(root / "audio.wav")) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        assert abs(w.getnframes() - SECONDS * 16000) < 0.05 * 16000
    lm = np.load(root / "landmarks.npy")
    assert (lm[..., :2] > 0).all() and (lm[..., :2] < 160).all()
    assert (np.load(root / "landmark_conf.npy") > 0).all()
    assert np.load(root / "landmarks68.npy").shape == (T, 68, 2)
    assert np.load(root / "crops.npy").shape == (T, 3)
    s = ds[T - 1]
    assert s.audio.shape == (9, 80) and s.aus.shape == (len(ds.aus_names),) and len(ds.aus_names) >= 11
    for rec in manifest["stages"].values():
        assert rec["inputs_hash"] and rec["finished_at"] and rec["seconds"] >= 0
    assert manifest["valence_arousal"]["backend"] in ("none",) or manifest["stages"]["valence_arousal"]


def test_lipsync_judge_stage_writes_the_judge_and_its_report(dataset, tmp_path):
    root = shutil.copytree(dataset[1], tmp_path / "ds")  # the shared dataset stays as it was
    assert "lipsync_judge" not in stage_names()  # optional: fit_person runs it, `python -m preprocess` not
    manifest = run_pipeline(None, root, CFG, stages=["lipsync_judge"], progress=False)
    rec = manifest["stages"]["lipsync_judge"]
    assert rec["backend"] == "person-judge" and rec["steps"] == 40
    from emogs.lipsync.person_judge import load_person_judge

    judge, meta = load_person_judge(root)
    assert judge is not None and meta["audio_extractor"] == "logmel"
    assert judge.audio_mean.shape == (80,)
    # 3.2 s: 7 validation frames are too few windows to measure the judge, and it says so
    assert meta["val_windows"] == 3 and "too short" in meta["val_note"]
    off = PreprocessConfig(**{**CFG.__dict__, "lipsync_judge_steps": 0})
    rec = run_pipeline(None, root, off, stages=["lipsync_judge"], progress=False)["stages"]["lipsync_judge"]
    assert rec["backend"] == "none" and "lipsync_judge_steps is 0" in rec["note"]
    assert load_person_judge(root)[0] is None  # the earlier judge is gone with it, not left stale


def test_masks_cover_the_face_and_follow_the_mouth(dataset):
    _, root, manifest, _ = dataset
    lab = np.load(root / "parsing.npy")
    lm = np.load(root / "landmarks.npy")
    T = len(lab)
    face = np.isin(lab, (1, 2, 3, 4)).reshape(T, -1).mean(1)
    assert (face > 0.04).all(), face.min()
    # every frame has eyes, lips and some torso / neck
    for c in (3, 4):
        assert ((lab == c).reshape(T, -1).sum(1) > 0).all()
    assert (np.isin(lab, (8, 9)).reshape(T, -1).sum(1) > 0).all()
    # inside-mouth area grows when the mouth opens (lip gap from the landmarks)
    gap = lm[:, 14, 1] - lm[:, 13, 1]
    inside = np.isin(lab, (5, 6)).reshape(T, -1).sum(1)
    assert np.corrcoef(gap, inside)[0, 1] > 0.5
    # (the astronaut smiles: teeth show even with the mouth "closed")
    assert inside[gap > np.percentile(gap, 80)].mean() > 1.15 * inside[gap < np.percentile(gap, 20)].mean()
    # normals only on the face
    nv = np.load(root / "normals.npy").any(-1)
    assert (nv & (lab == 0)).sum() < 0.02 * nv.sum()


def test_pose_stable_on_static_head_while_talking(dataset):
    _, root, manifest, _ = dataset
    cam = np.load(root / "camera.npz")
    ang = rotation_angles(cam["w2c"][:, :3, :3])
    assert np.std(ang, 0).max() < 0.5, np.std(ang, 0)
    t = cam["w2c"][:, :3, 3]
    assert (np.std(t, 0) / np.abs(t[:, 2]).mean()).max() < 0.01
    assert cam["reproj_err"].mean() < 1.5
    assert np.abs(cam["template"]).max() <= 0.15
    fov = manifest["stages"]["camera"]["fov_deg"]
    assert 5 < fov < 55


def test_second_run_skips_everything(dataset):
    video, root, manifest, _ = dataset
    mtimes = {p.name: p.stat().st_mtime_ns for p in root.iterdir()}
    logs = []
    again = run_pipeline(video, root, CFG, progress=False, log=logs.append)
    assert all("skipped" in line for line in logs), logs
    assert len(logs) == len(stage_names())
    assert again["stages"] == manifest["stages"]
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir() if p.name != "manifest.json"} == {
        k: v for k, v in mtimes.items() if k != "manifest.json"
    }


def test_changed_parameter_reruns_only_downstream(dataset, tmp_path):
    video, root, _, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    logs = []
    cfg = PreprocessConfig(**{**CFG.__dict__, "contact_frames": 3})
    run_pipeline(video, root2, cfg, progress=False, log=logs.append)
    ran = [line.split("]")[0][1:] for line in logs if "running" in line]
    assert ran == ["contact_sheet"]


def test_killed_run_resumes(dataset, tmp_path):
    video, root, manifest, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    # invalidate from 'normals' on (as if the run had been killed during 'normals')
    m = json.loads((root2 / "manifest.json").read_text())
    for name in ("normals", "aus", "contact_sheet"):
        m["stages"].pop(name)
    (root2 / "manifest.json").write_text(json.dumps(m))
    original = next(s for s in STAGES if s.name == "normals")

    def killed(ctx):
        # the stage writes part of its output, then the process dies
        (ctx.path("normals.npy.tmp")).write_bytes(b"partial")
        raise KeyboardInterrupt

    register_stage(Stage("normals", killed, original.outputs, original.depends, original.params))
    try:
        with pytest.raises(KeyboardInterrupt):
            run_pipeline(video, root2, CFG, progress=False, log=lambda s: None)
    finally:
        register_stage(original)
    after_kill = json.loads((root2 / "manifest.json").read_text())
    assert "normals" not in after_kill["stages"] and "parsing" in after_kill["stages"]
    logs = []
    final = run_pipeline(video, root2, CFG, progress=False, log=logs.append)
    ran = [line.split("]")[0][1:] for line in logs if "running" in line]
    assert ran == ["normals", "aus", "contact_sheet"]
    np.testing.assert_array_equal(np.load(root2 / "normals.npy"), np.load(root / "normals.npy"))
    assert not (root2 / "normals.npy.tmp").exists()  # the partial .tmp was replaced, then renamed
    PersonDataset(root2, "all")
    assert final["stages"]["decode"] == manifest["stages"]["decode"]


def test_new_stage_is_a_few_lines(dataset, tmp_path):
    video, root, _, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    from emogs.io.atomic import save_npy

    def run_mouth(ctx):
        lm = ctx.load("landmarks.npy")
        save_npy(ctx.path("mouth_gap.npy"), np.asarray(lm[:, 14, 1] - lm[:, 13, 1]))
        return {"backend": "geometry"}

    register_stage(Stage("mouth_gap", run_mouth, ("mouth_gap.npy",), ("landmarks",)))
    try:
        m = run_pipeline(video, root2, CFG, progress=False, log=lambda s: None, stages=["mouth_gap"])
    finally:
        STAGES[:] = [s for s in STAGES if s.name != "mouth_gap"]
    assert m["stages"]["mouth_gap"]["backend"] == "geometry"
    assert np.load(root2 / "mouth_gap.npy").shape == (m["num_frames"],)


def test_contact_sheet_written(dataset):
    import cv2

    _, root, _, _ = dataset
    img = cv2.imread(str(root / "contact_sheet.png"))
    assert img is not None and img.shape[0] > 400 and img.shape[1] >= 4 * 150
    assert img.std() > 20


def test_wrong_weights_file_is_a_clear_error_and_keeps_the_dataset(dataset, tmp_path):
    from preprocess.errors import BadWeightsError

    video, root, manifest, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    kw = {k: v for k, v in CFG.__dict__.items() if k != "parsing_weights"}
    kw["parsing_backend"] = "bisenet"
    with pytest.raises(BadWeightsError, match="do not exist") as e:
        run_pipeline(
            video,
            root2,
            PreprocessConfig(**kw, parsing_weights=str(tmp_path / "nope.pth")),
            stages=["parsing"],
            progress=False,
            log=lambda s: None,
        )
    assert "--parsing-backend geometry" in str(e.value)
    wrong = tmp_path / "79999_iter.pth"
    wrong.write_text("not a checkpoint")
    with pytest.raises(BadWeightsError, match="79999_iter.pth"):
        run_pipeline(
            video,
            root2,
            PreprocessConfig(**kw, parsing_weights=str(wrong)),
            stages=["parsing"],
            progress=False,
            log=lambda s: None,
        )
    # nothing already computed is lost
    kept = json.loads((root2 / "manifest.json").read_text())
    assert "decode" in kept["stages"] and "landmarks" in kept["stages"]
    np.testing.assert_array_equal(np.load(root2 / "parsing.npy"), np.load(root / "parsing.npy"))


def test_dlib_backend_for_68_points(dataset, tmp_path):
    video, root, _, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    cfg = PreprocessConfig(**{**CFG.__dict__, "landmark_backend": "dlib"})
    m = run_pipeline(video, root2, cfg, stages=["landmarks"], progress=False, log=lambda s: None)
    assert "dlib68" in m["stages"]["landmarks"]["backend"]
    ours, theirs = np.load(root / "landmarks68.npy"), np.load(root2 / "landmarks68.npy")
    assert not np.array_equal(ours, theirs)
    assert np.linalg.norm(ours - theirs, axis=-1).mean() < 4.0  # same face, ~50 px wide here


def test_face_leaving_the_frame(tmp_path):
    # the face slides out of the right edge in the last second
    clip = make_clip(tmp_path / "leave.mp4", seconds=3.0, width=200, height=160, audio="silence",
                     face_xy=lambda t: (0.5 + max(0.0, t - 2.0) * 0.45, 0.45))
    logs = []
    m = run_pipeline(clip, tmp_path / "ds", CFG, stages=["decode", "landmarks"], progress=False,
                     log=logs.append)
    conf = np.load(tmp_path / "ds" / "landmark_conf.npy")
    T = m["num_frames"]
    assert conf[: T // 2].min() > 0.9  # fully visible at first
    assert conf[-5:].mean() < conf[: T // 2].mean()  # partly outside (or lost) at the end
    crops = np.load(tmp_path / "ds" / "crops.npy")
    assert (crops[:, 0] + crops[:, 2] <= 200 + 1e-3).all()  # the crop stays inside the frame


def test_imported_audio_features_with_length_check(dataset, tmp_path):
    video, root, manifest, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    T = manifest["num_frames"]
    ds_feats = np.random.default_rng(0).normal(size=(T, 16, 29)).astype(np.float32)  # DeepSpeech layout
    np.save(tmp_path / "ds.npy", ds_feats)
    cfg = PreprocessConfig(**{**CFG.__dict__, "audio_features_file": str(tmp_path / "ds.npy")})
    m = run_pipeline(video, root2, cfg, stages=["audio_features"], progress=False, log=lambda s: None)
    assert m["audio_features"]["extractor"] == "imported"
    feats = np.load(root2 / "audio_features.npy")
    assert feats.shape[0] == T and m["audio_features"]["dim"] == feats.shape[1]
    PersonDataset(root2, "all")  # still aligned
    np.save(tmp_path / "short.npy", ds_feats[: T // 2])
    cfg = PreprocessConfig(**{**CFG.__dict__, "audio_features_file": str(tmp_path / "short.npy")})
    with pytest.raises(Exception, match=str(T // 2)):
        run_pipeline(video, root2, cfg, stages=["audio_features"], progress=False, log=lambda s: None)


def test_sigkilled_process_resumes(dataset, tmp_path):
    """A real `python -m preprocess` killed with SIGKILL after 'landmarks': the rerun skips the
    finished stages and completes the dataset."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    video, _, _, _ = dataset
    out = tmp_path / "ds"
    repo = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "preprocess", str(video), str(out), "--quiet", "--size", "160",
           "--audio-extractor", "logmel", "--contact-frames", "4"]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        done = set()
        while time.time() < deadline and proc.poll() is None:
            if (out / "manifest.json").exists():
                try:
                    done = set(json.loads((out / "manifest.json").read_text())["stages"])
                except (json.JSONDecodeError, KeyError):
                    pass
            if "landmarks" in done:
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            pytest.skip("the run finished before it could be killed")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    before = set(json.loads((out / "manifest.json").read_text())["stages"])
    assert {"decode", "landmarks"} <= before and "contact_sheet" not in before
    logs = []
    m = run_pipeline(video, out, CFG, progress=False, log=logs.append)
    skipped = {line.split("]")[0][1:] for line in logs if "skipped" in line}
    assert {"decode", "landmarks"} <= skipped
    assert set(m["stages"]) == set(stage_names())
    PersonDataset(out, "all")


def test_real_frames_get_valence_arousal_by_default(dataset):
    _, root, manifest, _ = dataset
    assert PreprocessConfig().va_backend == "fer"
    assert manifest["valence_arousal"]["backend"] == "fer"
    rec = manifest["stages"]["valence_arousal"]
    assert rec["backend"] == "fer" and rec["stride"] == CFG.va_stride
    va = np.load(root / "valence_arousal.npy")
    assert va.shape == (manifest["num_frames"], 2) and va.dtype == np.float32
    assert np.isfinite(va).all() and np.abs(va).max() <= 1.0
    assert va[:, 0].mean() > 0.2, va.mean(0)  # the astronaut smiles: positive valence
    ds = PersonDataset(root, "all")
    np.testing.assert_allclose(ds[3].va.numpy(), va[3])


def test_aus_store_the_person_baseline(dataset):
    from emogs.face.action_units import AUBaseline, estimate_aus_single

    _, root, manifest, _ = dataset
    base = manifest["aus"]["baseline"]
    assert len(base["neutral"]) == len(base["names"]) == 11
    AUBaseline.from_dict(base)
    # a render scored against the stored baseline gets the same AUs as its real frame
    aus, lm = np.load(root / "aus.npy"), np.load(root / "landmarks.npy")
    w2c = np.load(root / "camera.npz")["w2c"]
    names = manifest["aus"]["names"]
    for t in (0, len(aus) // 2, len(aus) - 1):
        np.testing.assert_allclose(estimate_aus_single(lm[t], base, w2c[t], names), aus[t], atol=1e-5)


def test_worker_processes_give_identical_results(dataset, tmp_path, monkeypatch):
    from preprocess import parallel

    video, root, _, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_FRAMES", 0)
    cfg = PreprocessConfig(**{**CFG.__dict__, "workers": 2})
    m = run_pipeline(video, root2, cfg, stages=["parsing", "normals"], force=True, progress=False,
                     log=lambda s: None)
    assert m["stages"]["parsing"]["processes"] == 2 and m["stages"]["normals"]["processes"] == 2
    for name in ("parsing.npy", "normals.npy"):
        np.testing.assert_array_equal(np.load(root2 / name), np.load(root / name))
    assert not list(root2.glob("*.tmp"))
    # landmarks: one contiguous chunk per process; the second re-seeds its tracker on 12 earlier frames,
    # so the result matches the single pass to well under a pixel (MediaPipe's own jitter is ~1 px)
    m = run_pipeline(video, root2, cfg, stages=["landmarks"], force=True, progress=False, log=lambda s: None)
    assert m["stages"]["landmarks"]["processes"] == 2
    np.testing.assert_array_equal(np.load(root2 / "landmark_conf.npy"), np.load(root / "landmark_conf.npy"))
    a, b = np.load(root2 / "landmarks.npy"), np.load(root / "landmarks.npy")
    d = np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)
    assert d.max() < 0.5 and d.mean() < 0.05, (d.max(), d.mean())
    assert not list(root2.glob("*.tmp"))


def test_emotion_stage_writes_the_emotion_subdataset(dataset, tmp_path):
    from emogs.data.emotion_frames import EmotionFrames

    video, root, manifest, _ = dataset
    root2 = tmp_path / "ds"
    shutil.copytree(root, root2)
    assert "emotion" not in stage_names()  # optional: only when asked for
    m = run_pipeline(None, root2, CFG, stages=["emotion"], progress=False, log=lambda s: None)
    rec = m["stages"]["emotion"]
    T, S, M = manifest["num_frames"], manifest["size"], m["stages"]["emotion"]["num_frames"]
    assert M > 0 and rec["backend"] == "emotional-frames"
    em = root2 / "emotion"
    shapes = {"frames.npy": ((M, S, S, 3), np.uint8), "source_index.npy": ((M,), np.int64),
              "valence_arousal.npy": ((M, 2), np.float32), "parsing.npy": ((M, S, S), np.uint8),
              "normals.npy": ((M, S, S, 3), np.uint8),
              "aus.npy": ((M, len(manifest["aus"]["names"])), np.float32)}
    for name, (shape, dtype) in shapes.items():
        a = np.load(em / name, mmap_mode="r")
        assert a.shape == shape and a.dtype == dtype, (name, a.shape, a.dtype)
    assert (em / "contact_sheet.png").is_file() and not list(em.glob("*.tmp"))
    src = np.load(em / "source_index.npy")
    assert src.min() >= 0 and src.max() < T
    va = np.load(em / "valence_arousal.npy")
    assert np.abs(va).max() <= 1.0 and va[:, 0].std() > 0.1  # a spread of target emotions
    frames = np.load(em / "frames.npy")
    real = np.load(root2 / "frames.npy")[src]
    assert np.abs(frames.astype(int) - real).mean() > 0.1  # the faces were changed ...
    assert (np.load(em / "normals.npy").any(-1).mean((1, 2)) > 0.02).all()  # ... and analysed
    assert (np.isin(np.load(em / "parsing.npy"), (1, 2, 3, 4)).mean((1, 2)) > 0.04).all()
    ds = PersonDataset(root2, "all", load_emotion=True)
    frames_e = EmotionFrames(ds, train_only=False)
    assert len(frames_e) == M
    s = frames_e[0]
    assert s.image.shape == (S, S, 3) and s.index == src[0]
    np.testing.assert_allclose(s.va.numpy(), va[0])
    # the real-frame dataset is untouched and the next full run keeps the emotion frames
    logs = []
    run_pipeline(video, root2, CFG, progress=False, log=logs.append)
    assert all("skipped" in line for line in logs), logs
    assert (em / "frames.npy").is_file()
