import json

import numpy as np
import pytest

from emogs.emotion.trajectory import VATrajectory, load_va_trajectory
from emogs.emotion.va_model import emotion_to_va


def test_csv_numbers_and_emotions(tmp_path):
    p = tmp_path / "k.csv"
    p.write_text("time_s,valence,arousal,emotion\n0,0,0,\n2.0,,,happy:strong\n4, -0.5 ,0.2,\n")
    tr = load_va_trajectory(p)
    np.testing.assert_allclose(tr.va[1], emotion_to_va("happy:strong"))
    v = tr.at(np.array([0.0, 2.0, 4.0]))
    np.testing.assert_allclose(v, tr.va, atol=1e-12)  # passes through the keyframes
    dense = tr.at(np.linspace(-1, 5, 601))
    assert np.all(np.abs(dense) <= 1.0)
    # monotone between keyframes (no overshoot): valence rises on [0, 2] and falls on [2, 4]
    t = np.linspace(0, 2, 50)
    assert np.all(np.diff(tr.at(t)[:, 0]) >= -1e-12)
    assert np.all(np.diff(tr.at(t + 2)[:, 0]) <= 1e-12)
    np.testing.assert_allclose(tr.at([-3.0])[0], tr.va[0])  # held outside
    np.testing.assert_allclose(tr.at_frames(101, 25.0)[100], tr.va[-1])


def test_json_and_two_keyframes_smooth(tmp_path):
    p = tmp_path / "k.json"
    p.write_text(
        json.dumps(
            {"keyframes": [{"time_s": 1, "emotion": "sad"}, {"time_s": 0, "valence": 0, "arousal": 0}]}
        )
    )
    tr = load_va_trajectory(p)
    assert tr.times.tolist() == [0.0, 1.0]
    v = tr.at(np.linspace(0, 1, 101))
    d = np.diff(v[:, 0])
    assert abs(d[0]) < abs(d[50]) and abs(d[-1]) < abs(d[50])  # eases in and out
    np.testing.assert_allclose(v[-1], emotion_to_va("sad"))


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_va_trajectory(tmp_path / "nope.csv")
    p = tmp_path / "bad.csv"
    p.write_text("time_s,valence\n0,0.5\n")
    with pytest.raises(ValueError, match="valence and arousal, or an emotion"):
        load_va_trajectory(p)
    with pytest.raises(ValueError, match="strictly increasing"):
        VATrajectory([0, 0], [[0, 0], [0.1, 0]])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        VATrajectory([0], [[2, 0]])
