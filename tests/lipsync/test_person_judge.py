"""The person's own lip-sync judge: it must learn which audio goes with which mouth, and say so."""

import cv2
import numpy as np
import pytest
import torch

from emogs.lipsync.person_judge import (
    PersonSyncJudge,
    load_person_judge,
    mouth_boxes,
    mouth_crops,
    person_meter,
    save_person_judge,
    train_person_judge,
)
from emogs.lipsync.scores import face_boxes

T, VAL = 320, (260, 320)


def _openness(seed=0):
    """A speech-like mouth opening in [0, 1] per frame (syllables every ~5 frames)."""
    rng = np.random.default_rng(seed)
    o = np.clip(rng.standard_normal(T), 0, None)
    o = np.convolve(o, np.hanning(5), mode="same")
    return o / o.max()


def _mouth_image(o, h=36, w=52):
    img = np.full((h, w), 170, np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (14, int(1 + 12 * o)), 0, 0, 360, 40, -1)
    return img


def _features(o, seed=1):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((T, 6)).astype(np.float32) * 0.3
    f[:, 0] += o * 2  # one feature carries the opening, the rest is noise
    return f


@pytest.fixture(scope="module")
def trained():
    o = _openness()
    mouths = np.stack([_mouth_image(v) for v in o])
    judge, report = train_person_judge(mouths, _features(o), (0, VAL[0]), VAL, steps=250, batch=32)
    return judge, report, o


def test_judge_learns_which_audio_goes_with_which_mouth(trained):
    _, report, _ = trained
    assert report["val_offset_frames"] == 0
    assert report["val_accuracy"] > 0.68 and report["val_confidence"] > 0.1  # unrelated audio: 0.51 / 0.06


def test_judge_of_unrelated_audio_says_it_cannot_tell():
    o = _openness()
    mouths = np.stack([_mouth_image(v) for v in o])
    unrelated = _features(_openness(seed=7))  # audio of another utterance
    _, report = train_person_judge(mouths, unrelated, (0, VAL[0]), VAL, steps=250, batch=32)
    assert report["val_accuracy"] < 0.6 and report["val_confidence"] < 0.1


def test_meter_finds_a_delayed_audio_in_a_video(trained):
    """Frames with the mouth drawn where mouth_boxes puts it; audio features delayed by 3 frames."""
    judge, _, o = trained
    pts = np.tile(np.array([[40.0, 30.0], [120.0, 30.0], [40.0, 130.0], [120.0, 130.0]]), (T, 1, 1))
    boxes = face_boxes(pts)
    y0, y1, x0, x1 = (int(round(v)) for v in mouth_boxes(boxes)[0])
    frames = []
    for v in o[VAL[0]:]:
        img = np.full((200, 160, 3), 170, np.uint8)
        img[y0:y1, x0:x1] = cv2.resize(_mouth_image(v, 32, 48), (x1 - x0, y1 - y0))[..., None]
        frames.append(img)
    feats = _features(o)[VAL[0]:]
    for delay in (0, 3):
        delayed = np.concatenate([feats[:1].repeat(delay, 0), feats[:len(feats) - delay]])
        meter = person_meter(judge, boxes[:len(frames)], delayed)
        for f in frames:
            meter.add(f)
        res = meter.result()
        assert res["offset_frames"] == -delay and res["confidence"] > 0.1
        assert "sync_e" not in res and "not SyncNet" in res["judge"]


def test_mouth_crops_cut_the_region_and_pass_gradients():
    img = torch.zeros(1, 100, 120, 3)
    img[0, 40:60, 30:90] = 1.0  # the region below
    x = img.clone().requires_grad_(True)
    crop = mouth_crops(x, np.array([[40.0, 60.0, 30.0, 90.0]]))
    assert crop.shape == (1, 32, 48) and float(crop.detach()[0, 2:-2, 2:-2].min()) > 0.95
    wide = mouth_crops(img, np.array([[40.0, 60.0, 30.0, 90.0]]), margin=2)
    assert wide.shape == (1, 36, 52) and float(wide[0, 0].max()) < 0.5  # the margin sees outside
    crop.sum().backward()
    assert x.grad[0, 50, 60].abs().sum() > 0 and x.grad[0, 5, 5].abs().sum() == 0


def test_save_and_load_round_trip(trained, tmp_path):
    judge, report, _ = trained
    save_person_judge(judge, tmp_path, {"audio_extractor": "toy", **report})
    loaded, meta = load_person_judge(tmp_path)
    assert meta["val_offset_frames"] == report["val_offset_frames"] and meta["audio_extractor"] == "toy"
    m, a = torch.rand(3, 5, 32, 48), torch.randn(3, 5, 6)
    assert torch.equal(loaded.embed_lips(m), judge.embed_lips(m))
    assert torch.equal(loaded.embed_audio(a), judge.embed_audio(a))
    none, why = load_person_judge(tmp_path / "empty")
    assert none is None and "lipsync_judge" in why
    assert isinstance(loaded, PersonSyncJudge) and not loaded.training
