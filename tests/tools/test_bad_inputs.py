"""The bad-input catalogue: what a new user may feed the commands, run as they would (a subprocess).

Every case ends with exit code 0 (it worked; warnings say what was odd) or 2 with a message naming the
problem and the fix - never a traceback - and keeps what was computed before. Inputs are made on the
spot (PyAV, numpy, espeak-ng), tiny: a preprocessing case runs only the decode stage (~3-6 s).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emogs.logs import NOISE
from preprocess.testclips import make_clip, render_frame

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--stages", "decode", "--quiet", "--size", "64", "--min-frames", "10", "--detect-every", "2"]


def run(*args, timeout=300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                         env=env, cwd=ROOT)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    noise = [ln for ln in res.stderr.splitlines() if NOISE.search(ln)]
    assert not noise, noise  # MediaPipe / TFLite / absl start-up lines are filtered
    return res


def preprocess(video, out, *extra) -> subprocess.CompletedProcess:
    return run("-m", "preprocess", video, out, *SMALL, *extra)


def assert_refused(res, *words):
    """Exit code 2, the problem (`words`) and a fix named on stderr."""
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    err = res.stderr.lower()
    for w in words:
        assert w.lower() in err, (w, res.stderr[-2000:])
    assert "fix:" in err or "usage:" in err, res.stderr[-2000:]


def decoded(out) -> dict:
    """The decode stage's record, after checking the arrays it wrote."""
    m = json.loads((Path(out) / "manifest.json").read_text())
    frames = np.load(Path(out) / "frames.npy", mmap_mode="r")
    assert frames.shape == (m["num_frames"], 64, 64, 3) and frames[-1].std() > 5  # a picture, not zeros
    assert not list(Path(out).glob("*.tmp*")), "partial files left behind"
    return m


def damage(src: Path, dst: Path, kind: str, which) -> Path:
    """Copy `src` with the payload of `kind` packets number `which` overwritten by random bytes."""
    import av

    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux() if p.size and p.stream.type == kind]
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    for k in which:
        pos, size = packets[k]
        data[pos:pos + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("bad") / "talk.mp4", seconds=1.6, width=160, height=128)


# ------------------------------------------------------------------------------ refused, exit code 2
def test_heavily_damaged_video_is_refused(clip, tmp_path):
    bad = damage(clip, tmp_path / "broken.mp4", "video", range(5, 40, 2))
    assert_refused(preprocess(bad, tmp_path / "ds"), "packets are damaged", "re-encode")


def test_image_given_as_a_video(tmp_path):
    import cv2

    for name in ("face.png", "face.jpg"):
        cv2.imwrite(str(tmp_path / name), render_frame(0.0, 160, 128)[..., ::-1])
        assert_refused(preprocess(tmp_path / name, tmp_path / "ds"), "still image", "video of the person")


def test_silent_audio_is_refused_then_accepted_with_no_audio(tmp_path):
    silent = make_clip(tmp_path / "silent.mp4", seconds=1.2, width=160, height=128, audio="silence")
    out = tmp_path / "ds"
    res = preprocess(silent, out)
    assert_refused(res, "silent", "--no-audio", "speaks")
    assert not (out / "frames.npy").exists()  # refused before the long passes
    res = preprocess(silent, out, "--no-audio")
    assert res.returncode == 0, res.stderr[-2000:]
    m = decoded(out)
    assert m["has_audio"] is False and not (out / "audio.wav").exists()


def test_fit_person_refuses_silent_audio_and_names_no_audio(tmp_path):
    silent = make_clip(tmp_path / "silent.mp4", seconds=1.2, width=160, height=128, audio="silence")
    res = run("tools/fit_person.py", silent, "--out", tmp_path / "out", "--quiet")
    assert_refused(res, "silent", "--no-audio")
    assert not (tmp_path / "out" / "avatar").exists()


def test_output_paths_checked_before_the_work(fitted, tmp_path):
    _, _, av = fitted
    before = (av / "eval.json").read_bytes()
    folder = tmp_path / "some_folder"
    folder.mkdir()
    assert_refused(run("tools/evaluate.py", av, "--out", folder, "--no-video"), "is an existing folder",
                   "eval.json")
    assert (av / "eval.json").read_bytes() == before and not any(folder.iterdir())  # nothing lost / left
    wav = tmp_path / "s.wav"
    from emogs.io import write_wav

    write_wav(wav, np.zeros(8000, np.float32))
    assert_refused(run("tools/render.py", av, "--audio", wav, "--out", folder), "is an existing folder")
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert_refused(run("-m", "preprocess", "x.mp4", a_file), "existing file")


@pytest.mark.slow
def test_viewer_emotion_forms(fitted):
    _, _, av = fitted
    assert_refused(run("tools/viewer.py", av, "--emotion", "happy:loud", "--port", "0"), "intensity", "loud")
    for spec in ("happy:strong", "0.5,0.3"):
        res = run("tools/viewer.py", av, "--emotion", spec, "--port", "0", "--max-seconds", "0.5")
        assert res.returncode == 0, res.stderr[-2000:]


# --------------------------------------------------------------------------- accepted, exit code 0
def test_one_damaged_packet_is_skipped_and_counted(clip, tmp_path):
    for kind in ("video", "audio"):
        bad = damage(clip, tmp_path / f"{kind}.mp4", kind, [6])
        out = tmp_path / kind
        res = preprocess(bad, out)
        assert res.returncode == 0, res.stderr[-2000:]
        assert f"skipped 1 damaged {kind} packet" in res.stdout + res.stderr
        m = decoded(out)
        assert any("damaged" in w for w in m["stages"]["decode"]["warnings"])
        assert m["num_frames"] == 40
    from preprocess.io_utils import load_wav

    audio, sr = load_wav(tmp_path / "audio" / "audio.wav")
    assert sr == 16000 and abs(len(audio) / sr - 1.6) < 0.1  # the lost packet is silence, not a shift


def test_variable_frame_rate(tmp_path):
    vfr = make_clip(tmp_path / "vfr.mkv", seconds=1.6, width=160, height=128, vfr=True)
    res = preprocess(vfr, tmp_path / "ds")
    assert res.returncode == 0, res.stderr[-2000:]
    assert decoded(tmp_path / "ds")["fps"] == 25.0


def test_rotated_phone_video(tmp_path):
    rot = make_clip(tmp_path / "phone.mp4", seconds=1.2, width=128, height=160, rotation=90)
    res = preprocess(rot, tmp_path / "ds")
    assert res.returncode == 0, res.stderr[-2000:]  # the face is only found upright
    m = decoded(tmp_path / "ds")
    assert m["source"]["rotation"] == 90 and (m["source"]["width"], m["source"]["height"]) == (128, 160)


@pytest.mark.slow
def test_4k_input(tmp_path):
    big = make_clip(tmp_path / "uhd.mp4", seconds=0.6, width=3840, height=2160)
    res = preprocess(big, tmp_path / "ds", "--min-frames", "5")
    assert res.returncode == 0, res.stderr[-2000:]
    m = decoded(tmp_path / "ds")
    assert m["crop"]["side"] > 500  # the crop is in 4K pixels, resized to 64


@pytest.mark.parametrize("rate,channels", [(8000, 1), (44100, 1), (48000, 2)])
def test_audio_rates_and_stereo(tmp_path, rate, channels):
    v = make_clip(tmp_path / "a.mp4", seconds=1.2, width=160, height=128, sample_rate=rate, channels=channels)
    res = preprocess(v, tmp_path / "ds")
    assert res.returncode == 0, res.stderr[-2000:]
    from preprocess.io_utils import load_wav

    audio, sr = load_wav(tmp_path / "ds" / "audio.wav")
    assert sr == 16000 and audio.ndim == 1 and abs(len(audio) / sr - 1.2) < 0.1
    assert np.sqrt(np.mean(audio ** 2)) > 0.01  # the speech, not silence


def test_face_leaving_the_frame_for_seconds(tmp_path):
    away = make_clip(tmp_path / "away.mp4", seconds=4.0, width=160, height=128,
                     face_visible=lambda t: not 1.2 <= t < 2.4)
    res = preprocess(away, tmp_path / "ds")
    assert res.returncode == 0, res.stderr[-2000:]
    warnings = decoded(tmp_path / "ds")["stages"]["decode"]["warnings"]
    assert any("no face at 1.2" in w for w in warnings), warnings
    # most of the clip without a face: refused, naming the time ranges
    gone = make_clip(tmp_path / "gone.mp4", seconds=2.0, width=160, height=128,
                     face_visible=lambda t: t < 0.5)
    assert_refused(preprocess(gone, tmp_path / "ds2"), "no face at", "cut the video")


def test_two_people(tmp_path):
    two = make_clip(tmp_path / "two.mp4", seconds=1.2, width=320, height=240, second_face=True, motion=0.5)
    res = preprocess(two, tmp_path / "ds")
    assert res.returncode == 0, res.stderr[-2000:]
    rec = decoded(tmp_path / "ds")["stages"]["decode"]
    assert rec["faces_max"] >= 2 and any("largest consistent" in w for w in rec["warnings"])
