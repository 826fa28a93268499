"""Sync-E / Sync-C in evaluate_avatar (emogs.eval.reconstruction): the dataset's audio must line up
with the split's frames."""

import numpy as np

from emogs.data import PersonDataset
from emogs.eval import evaluate_avatar


def test_sync_of_the_real_frames_finds_them_in_sync(speaking_toy, loudness_judge):
    root, avatar = speaking_toy
    val = PersonDataset(root, split="val")
    assert len(val) == 20 and val.frame_indices[0] == 200
    res = evaluate_avatar(avatar, val, detect=lambda rgb: None, fps_frames=1, sync_net=loudness_judge)
    truth = res["sync_truth"]
    assert truth["windows"] == 15 and truth["offset_frames"] == 0 and truth["sync_c"] > 0.5
    assert np.isfinite(res["sync"]["sync_e"]) and res["sync"]["windows"] == 15


def test_person_judge_scores_are_reported_under_their_own_name(speaking_toy):
    from emogs.lipsync.person_judge import PersonSyncJudge

    root, avatar = speaking_toy
    val = PersonDataset(root, split="val")
    res = evaluate_avatar(avatar, val, detect=lambda rgb: None, fps_frames=1, person_judge=PersonSyncJudge(8))
    for key in ("person_sync", "person_sync_truth"):
        assert res[key]["windows"] == 15 and "not SyncNet" in res[key]["judge"] and "sync_e" not in res[key]
    res = evaluate_avatar(avatar, val, detect=lambda rgb: None, fps_frames=1)
    assert res["person_sync"]["computed"] is False and "lipsync_judge" in res["person_sync"]["reason"]


def test_sync_says_why_it_is_not_computed(speaking_toy, loudness_judge):
    root, avatar = speaking_toy
    val = PersonDataset(root, split="val")
    res = evaluate_avatar(avatar, val, detect=lambda rgb: None, fps_frames=1)
    assert res["sync"]["computed"] is False and "--syncnet-weights" in res["sync"]["reason"]
    res = evaluate_avatar(avatar, val, num_frames=5, detect=lambda rgb: None, fps_frames=1,
                          sync_net=loudness_judge)
    assert res["sync"]["computed"] is False and "consecutive" in res["sync"]["reason"]
