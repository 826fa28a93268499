"""The bundled clips in assets/demo/ (regenerate with `python tools/make_demo_video.py --bundle`)."""

import json
import os

import numpy as np
import pytest

from demo_actor.truth import load_truth, truth_statistics
from emogs.face.topology import LIPS_INNER, LIPS_OUTER

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "assets", "demo")
FILES = ["demo.mp4", "demo_truth.npz", "demo_truth.json", "heldout.wav", "heldout.mp4", "heldout_truth.npz",
         "heldout_truth.json", "hopper.mp4", "hopper_truth.npz", "hopper_truth.json", "README.md"]


def _video_info(path):
    import av

    with av.open(path) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        audio_s = float(a.duration * a.time_base)
        return v.frames, float(v.average_rate), (v.width, v.height), audio_s, a.codec.name


def test_bundle_is_complete_and_small():
    missing = [f for f in FILES if not os.path.exists(os.path.join(ASSETS, f))]
    assert not missing, f"assets/demo is missing {missing}: run `python tools/make_demo_video.py --bundle`"
    total = sum(os.path.getsize(os.path.join(ASSETS, f)) for f in os.listdir(ASSETS))
    assert total <= 10 * 2**20, f"assets/demo is {total / 2**20:.1f} MB (> 10 MB)"


@pytest.mark.parametrize("name,lo,hi", [("demo", 40, 60), ("heldout", 8, 30), ("hopper", 6, 20)])
def test_bundled_clip_matches_its_truth(name, lo, hi):
    frames, fps, size, audio_s, codec = _video_info(os.path.join(ASSETS, f"{name}.mp4"))
    tr = load_truth(os.path.join(ASSETS, f"{name}_truth.npz"))
    assert fps == 25 and size == (512, 512) and codec == "aac"
    assert frames == len(tr["landmarks"]) and lo <= frames / fps <= hi
    assert abs(audio_s - frames / fps) < 1 / fps
    assert (tr["au45"] > 4).any() and tr["mouth_gap_px"].max() > 20


@pytest.mark.parametrize("name", ["demo", "heldout", "hopper"])
def test_bundled_truth_meets_the_issue_criteria(name):
    """Issue #16: lips closed in silence and on p / b / m (median inner gap <= 1 px), open vowels
    wide (aa >= 15 px), the head turns (yaw range >= 15 deg) and nods (pitch range >= 8 deg)."""
    st = truth_statistics(load_truth(os.path.join(ASSETS, f"{name}_truth.npz")))
    g = st["gap_median_px"]
    assert g["sil"] <= 1.0 and g["PP"] <= 1.0 and g["aa"] >= 15.0, g
    assert st["yaw_range_deg"] >= 15.0 and st["pitch_range_deg"] >= 8.0, st


def test_training_clip_is_neutral_and_heldout_has_new_poses():
    demo = load_truth(os.path.join(ASSETS, "demo_truth.npz"))
    held = load_truth(os.path.join(ASSETS, "heldout_truth.npz"))
    assert np.all(demo["valence_arousal"] == 0) and np.all(demo["smile"] == 0)
    yd, yh = demo["head_euler_deg"][:, 1], held["head_euler_deg"][:, 1]
    pd, ph = demo["head_euler_deg"][:, 0], held["head_euler_deg"][:, 0]
    outside = (np.abs(yh) > np.abs(yd).max() + 2) | (np.abs(ph) > np.abs(pd).max() + 1)
    assert outside.mean() > 0.05, outside.mean()  # held-out poses the training clip never shows


def test_heldout_is_other_speech():
    with open(os.path.join(ASSETS, "demo_truth.json")) as f:
        demo = json.load(f)
    with open(os.path.join(ASSETS, "heldout_truth.json")) as f:
        held = json.load(f)
    assert demo["speech"] != held["speech"]  # another voice / rate / pitch
    assert not set(demo["text"]) & set(held["text"])  # other sentences
    from scipy.io import wavfile

    sr, wav = wavfile.read(os.path.join(ASSETS, "heldout.wav"))
    tr = load_truth(os.path.join(ASSETS, "heldout_truth.npz"))
    assert sr == 16000 and len(wav) == tr["audio_range"][-1, 1]


@pytest.mark.parametrize("name,every", [("demo", 40), ("hopper", 10)])
def test_detector_agrees_with_bundled_truth(detector, name, every):
    """Every ``every``-th frame: the landmark backend finds the face; mean lip error (px at 512)."""
    import av

    tr = load_truth(os.path.join(ASSETS, f"{name}_truth.npz"))
    errs = []
    with av.open(os.path.join(ASSETS, f"{name}.mp4")) as c:
        for k, f in enumerate(c.decode(video=0)):
            if k % every:
                continue
            faces = detector(f.to_ndarray(format="rgb24"))
            assert faces, f"no face in frame {k}"
            m = LIPS_OUTER + LIPS_INNER
            errs.append(np.linalg.norm(faces[0].points[m, :2] - tr["landmarks"][k, m, :2], axis=1).mean())
    assert len(errs) >= 20 and np.mean(errs) < 3.0, errs
