import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from emogs.data.synthetic import write_toy_dataset
from emogs.io import read_audio, read_video_frames, write_wav

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _tool(name):
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", TOOLS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TINY = """
train_size: 16
stages: {canonical: 6, networks: 6, fuse: 2, emotion: 4}
model: {sh_degree: 1, num_face: 100, num_mouth: 20, face_hidden: 16, mouth_hidden: 16, emotion_hidden: 16,
        hash_levels: 4, hash_log2_table_size: 10, face_finest_resolution: 16, mouth_finest_resolution: 16}
densify: {refine_start: 4, refine_every: 4, refine_stop: 100, reset_every: 0, max_face: 200, max_mouth: 40}
checkpoint_every: 5
num_eval_frames: 1
"""


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tools")
    root = write_toy_dataset(tmp / "ds", num_frames=12, size=16, audio_dim=80, with_emotion=True)
    m = json.loads((root / "manifest.json").read_text())
    m["audio_features"]["extractor"] = "logmel"  # so new audio can be featurised like the dataset
    (root / "manifest.json").write_text(json.dumps(m))
    (tmp / "tiny.yaml").write_text(TINY)
    out = tmp / "out"
    rc = _tool("fit_person").main([str(root), "--out", str(out), "--preset", str(tmp / "tiny.yaml"),
                                   "--quiet"])
    assert rc == 0
    return tmp, root, out / "avatar"


def test_fit_person_writes_the_avatar_folder(fitted):
    _, _, av = fitted
    for f in ("avatar.json", "avatar.safetensors", "eval.json", "side_by_side.mp4", "train.log"):
        assert (av / f).exists(), f
    ev = json.loads((av / "eval.json").read_text())
    assert np.isfinite(ev["psnr"]) and ev["fps"] > 0
    assert ev["lpips"]["computed"] is False  # no weights supplied: reported, not faked
    meta = json.loads((av / "avatar.json").read_text())
    assert meta["avatar"]["with_emotion"] is True
    assert read_video_frames(av / "side_by_side.mp4").shape[1:] == (16, 32, 3)


def test_fit_person_resume_is_a_no_op_when_done(fitted):
    tmp, root, av = fitted
    rc = _tool("fit_person").main([str(root), "--out", str(av.parent), "--preset", str(tmp / "tiny.yaml"),
                                   "--resume", "--quiet", "--no-eval"])
    assert rc == 0
    assert "resumed from" in (av / "train.log").read_text()


def test_render_new_audio_with_emotion(fitted, tmp_path):
    _, _, av = fitted
    sr = 16000
    t = np.arange(int(0.6 * sr)) / sr
    wav = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    write_wav(tmp_path / "s.wav", wav, sr)
    out = tmp_path / "o.mp4"
    # fit_person's OUT folder works as well as OUT/avatar
    rc = _tool("render").main([str(av.parent), "--audio", str(tmp_path / "s.wav"), "--out", str(out),
                               "--emotion", "happy:strong", "--blink", "none", "--size", "32"])
    assert rc == 0
    frames = read_video_frames(out)
    assert frames.shape == (15, 32, 32, 3)  # 0.6 s at 25 fps
    assert frames.std() > 1  # not blank
    assert abs(len(read_audio(out)) - len(wav)) < 2048  # audio muxed
    with pytest.raises(SystemExit, match="--arousal"):
        _tool("render").main([str(av), "--audio", str(tmp_path / "s.wav"), "--out", str(out),
                              "--valence", "0.5"])


def test_evaluate_tool(fitted, tmp_path):
    _, _, av = fitted
    rc = _tool("evaluate").main([str(av), "--num-frames", "1", "--no-video", "--no-emotion",
                                 "--out", str(tmp_path / "e.json")])
    assert rc == 0
    ev = json.loads((tmp_path / "e.json").read_text())
    assert {"psnr", "ssim", "lmd", "AUE-U", "AUE-L", "fps", "lpips", "sync"} <= set(ev)
    assert ev["sync"]["computed"] is False


def test_evaluate_tool_syncnet_on_unheard_audio(fitted, tmp_path):
    """--syncnet-weights + --audio: Sync-E/C of the avatar speaking new audio (the cross-domain protocol);
    the 1-frame validation split says why it has none."""
    import torch

    from emogs.lipsync import SyncNet

    _, _, av = fitted
    torch.manual_seed(0)
    weights = tmp_path / "syncnet_v2.pt"
    torch.save(SyncNet().eval().published_state_dict(), weights)
    sr = 16000
    t = np.arange(int(0.6 * sr)) / sr
    wav = 0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 4 * t)
    write_wav(tmp_path / "s.wav", wav.astype(np.float32), sr)
    rc = _tool("evaluate").main([str(av), "--num-frames", "1", "--no-video", "--no-emotion",
                                 "--syncnet-weights", str(weights), "--audio", str(tmp_path / "s.wav"),
                                 "--out", str(tmp_path / "e.json")])
    assert rc == 0
    ev = json.loads((tmp_path / "e.json").read_text())
    held = ev["heldout_sync"]
    assert held["windows"] == 10 and np.isfinite(held["sync_e"]) and np.isfinite(held["sync_c"])  # 15 frames
    assert ev["sync"]["computed"] is False and "consecutive" in ev["sync"]["reason"]
    assert "heldout_lmd" not in ev  # no truth given: nothing to compare the mouth with
    assert ev["heldout_person_sync"]["computed"] is False  # the toy dataset has no lip-sync judge


def test_fit_person_with_syncnet_and_tts_speech(tmp_path):
    """L_sync end to end through the command: SyncNet (weights the test makes) on real and TTS windows,
    and Sync-E/C in the report."""
    import torch

    from emogs.lipsync import SyncNet

    root = write_toy_dataset(tmp_path / "ds", num_frames=77, size=16, audio_dim=80)  # 7 validation frames
    m = json.loads((root / "manifest.json").read_text())
    m["audio_features"]["extractor"] = "logmel"
    (root / "manifest.json").write_text(json.dumps(m))
    rng = np.random.default_rng(0)
    write_wav(root / "audio.wav", (0.1 * rng.standard_normal(77 * 640)).astype(np.float32), 16000)
    (root / "tts").mkdir()
    np.save(root / "tts" / "features.npy", rng.standard_normal((30, 80)).astype(np.float32))
    np.save(root / "tts" / "segments.npy", np.array([[0, 12], [12, 18]]))
    write_wav(root / "tts" / "audio.wav", (0.1 * rng.standard_normal(30 * 640)).astype(np.float32), 16000)
    torch.manual_seed(0)
    weights = tmp_path / "syncnet.pt"
    torch.save(SyncNet().eval().published_state_dict(), weights)
    (tmp_path / "sync.yaml").write_text(TINY.replace("num_eval_frames: 1", "num_eval_frames: 0")
                                        + "sync_every: 2\nsync_tts_fraction: 0.5\n")
    out = tmp_path / "out"
    rc = _tool("fit_person").main([str(root), "--out", str(out), "--preset", str(tmp_path / "sync.yaml"),
                                   "--syncnet-weights", str(weights), "--quiet"])
    assert rc == 0
    log = (out / "avatar" / "train.log").read_text()
    assert "L_sync: syncnet judge, weight 0.001, every 2 steps, TTS windows 0.5" in log
    ev = json.loads((out / "avatar" / "eval.json").read_text())
    assert ev["sync"]["windows"] == 2 and np.isfinite(ev["sync"]["sync_e"])
    assert np.isfinite(ev["sync_truth"]["sync_c"])
    assert ev["person_sync"]["computed"] is False  # the toy dataset has no lip-sync judge


def test_evaluate_tool_emotion_metrics(fitted, tmp_path):
    _, _, av = fitted
    rc = _tool("evaluate").main([str(av), "--num-frames", "1", "--no-video",
                                 "--out", str(tmp_path / "e.json")])
    assert rc == 0
    em = json.loads((tmp_path / "e.json").read_text())["emotion"]
    # either real scores from emogs.emotion, or an explicit reason - never a made-up number
    assert ("V_RMSE" in em and len(em["per_target"]) == 12) or (em["computed"] is False and em["reason"])
    if "V_RMSE" in em:  # the sheet to look at: 12 targets x (no emotion | target | taught), 2 per row
        sheet = cv2.imread(em["sheet"])
        assert sheet is not None and sheet.shape == (6 * 192, 2 * 3 * 192, 3)
    if em.get("lip_preservation", {}).get("pairs"):  # faces found in the renders: the motion check too
        assert set(em["motion_fidelity"]) == {"brows", "eyes"}
        lp = em["lip_preservation"]
        assert lp["detector_floor"]["max_px"] >= 0 and lp["rendered_lip_motion"]["max_px"] >= 0


def test_bench_emotion_branch_trains_a_fresh_branch_and_reports(fitted, tmp_path):
    _, root, av = fitted
    rc = _tool("bench_emotion_branch").main([str(av), "--steps", "3", "--json", str(tmp_path / "b.json"),
                                             "--save", str(tmp_path / "branch.pt")])
    assert rc == 0
    res = json.loads((tmp_path / "b.json").read_text())["summary"]
    assert res["steps"] == 3 and res["embedding"] == "facs"
    # the toy dataset's emotional frames carry a motion field: the dense error is measured
    assert np.isfinite(res["dense_motion_error_px"]) and res["dense_motion_error_still_px"] > 0
    # toy renders have no face MediaPipe can find: said, not faked
    assert res["brows"]["computed"] is False or "gain" in res["brows"]
    assert (tmp_path / "branch.pt").stat().st_size > 0
