"""Sync-E / Sync-C in evaluate_avatar: the dataset's audio must line up with the split's frames."""

import numpy as np

from emogs.data import PersonDataset
from emogs.train import evaluate_avatar


def test_sync_of_the_real_frames_finds_them_in_sync(speaking_toy, loudness_judge):
    root, avatar = speaking_toy
    val = PersonDataset(root, split="val")
    assert len(val) == 20 and val.frame_indices[0] == 200
    res = evaluate_avatar(avatar, val, detect=lambda rgb: None, fps_frames=1, sync_net=loudness_judge)
    truth = res["sync_truth"]
    assert truth["windows"] == 15 and truth["offset_frames"] == 0 and truth["sync_c"] > 0.5
    assert np.isfinite(res["sync"]["sync_e"]) and res["sync"]["windows"] == 15


def test_sync_says_why_it_is_not_computed(speaking_toy, loudness_judge):
    root, avatar = speaking_toy
    val = PersonDataset(root, split="val")
    res = evaluate_avatar(avatar, val, detect=lambda rgb: None, fps_frames=1)
    assert res["sync"]["computed"] is False and "--syncnet-weights" in res["sync"]["reason"]
    res = evaluate_avatar(avatar, val, num_frames=5, detect=lambda rgb: None, fps_frames=1,
                          sync_net=loudness_judge)
    assert res["sync"]["computed"] is False and "consecutive" in res["sync"]["reason"]
