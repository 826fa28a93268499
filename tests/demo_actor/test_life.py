import numpy as np
import pytest

from demo_actor.life import (
    EmotionSegment,
    blink_track,
    emotion_tracks,
    expression_from_va,
    frame_times,
    head_pose_tracks,
)


def test_blinks_are_seeded_spaced_and_fully_close():
    b1, on1 = blink_track(1500, 25, np.random.default_rng(3))
    b2, on2 = blink_track(1500, 25, np.random.default_rng(3))
    np.testing.assert_array_equal(b1, b2)
    assert 8 <= len(on1) <= 30  # ~ every 3.5 s over 60 s
    assert np.diff(on1).min() >= 1.2 - 1 / 25
    for t0 in on1:  # every blink has a fully closed frame
        k = int(round((t0 + 0.08) * 25 - 0.5))
        assert b1[k] == pytest.approx(1.0)
    assert b1.min() == 0.0 and (b1 > 0.5).mean() < 0.1
    with pytest.raises(ValueError):
        blink_track(10, 25, np.random.default_rng(0), mean_interval=1.0, min_interval=1.2)


def test_emotion_tracks_and_mapping():
    t = frame_times(100, 25)
    va = emotion_tracks([EmotionSegment(1.0, 3.0, 0.8, 0.5)], t)
    assert va[0].tolist() == [0, 0] and va[50] == pytest.approx([0.8, 0.5])
    brow, cheek = expression_from_va(np.array([[0.8, 0.5], [-0.6, 0.7], [0.0, 0.9]], np.float32))
    assert cheek[0] > 0.5 and brow[1] < -0.3 and brow[2] > 0.5
    with pytest.raises(ValueError):
        emotion_tracks([EmotionSegment(2, 1, 0, 0)], t)


def test_head_pose_tracks_turn_nod_and_stay_in_range():
    e = np.clip(np.sin(np.arange(600) / 7.0), 0, 1)  # bursts of "speech"
    hp = head_pose_tracks(600, 25, np.random.default_rng(0), yaw_max=14, pitch_max=7, speech_energy=e)
    assert np.abs(hp.yaw).max() == pytest.approx(14, abs=1e-3) and np.ptp(hp.yaw) >= 15
    assert np.abs(hp.pitch).max() <= 7 and np.ptp(hp.pitch) >= 8
    assert np.abs(np.diff(hp.yaw)).max() < 1.0 and np.abs(np.diff(hp.pitch)).max() < 1.5  # deg per frame
    hp2 = head_pose_tracks(600, 25, np.random.default_rng(0), yaw_max=14, pitch_max=7, speech_energy=e)
    np.testing.assert_array_equal(hp.yaw, hp2.yaw)
