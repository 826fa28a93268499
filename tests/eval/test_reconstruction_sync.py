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


def test_heldout_sheet_puts_truth_left_of_render(tmp_path):
    from emogs.eval.reconstruction import heldout_sheet
    from emogs.io import write_video

    frames = []
    for i in range(9):  # render half dark, truth half bright, as evaluate_avatar writes them
        f = np.zeros((32, 64, 3), np.uint8)
        f[:, 32:] = 200
        f[:, :32] = 20 + i
        frames.append(f)
    write_video(tmp_path / "sbs.mp4", iter(frames), fps=25.0)
    sheet = heldout_sheet(tmp_path / "sbs.mp4", rows=3, height=32, title="t")
    assert sheet.shape == (22 + 3 * 32, 64, 3)
    body = sheet[22:].astype(float)
    assert body[:, 40:].mean() < 60 and body[:, 24:30].mean() > 150  # truth (bright) left, render right


def test_psnr_unoccluded_leaves_the_hand_out(speaking_toy, tmp_path):
    import shutil

    from emogs import metrics

    root, avatar = speaking_toy
    copy = shutil.copytree(root, tmp_path / "ds")
    ds = PersonDataset(copy, split="val")
    plain = evaluate_avatar(avatar, ds, num_frames=3, detect=lambda rgb: None)
    assert "psnr_unoccluded" not in plain  # no occluders.npy: no such number
    occ = np.zeros((ds.num_frames, ds.size, ds.size), np.uint8)
    occ[:, 4:12, 2:9] = 1
    np.save(copy / "occluders.npy", occ)
    ds = PersonDataset(copy, split="val")
    res = evaluate_avatar(avatar, ds, num_frames=3, detect=lambda rgb: None)
    from emogs.avatar.drive import frame_conditions

    want = []
    for i in np.linspace(0, len(ds) - 1, 3).round().astype(int):
        s = ds[int(i)]
        rgb = avatar.render_frame(frame_conditions(s), ds.size, image_size=ds.size, normals=False)["rgb"]
        want.append(metrics.psnr(rgb, s.image, ~s.occluded))
    assert abs(res["psnr_unoccluded"] - float(np.mean(want))) < 1e-6
    assert res["psnr"] == plain["psnr"] and res["psnr_unoccluded"] != res["psnr"]
