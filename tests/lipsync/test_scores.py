import cv2
import numpy as np
import pytest
import torch

from emogs.lipsync.scores import (
    audio_windows,
    face_boxes,
    face_crop,
    face_crop_tensor,
    offset_distances,
    sync_confidence,
    sync_scores,
)


def test_offset_distances_match_a_loop():
    g = torch.Generator().manual_seed(0)
    lip, aud = (torch.randn(9, 6, generator=g, dtype=torch.float64) for _ in range(2))
    K = 3
    got = offset_distances(lip, aud, K)
    for i in range(9):
        for k in range(2 * K + 1):
            j = i - K + k
            other = aud[j] if 0 <= j < 9 else torch.zeros(6, dtype=torch.float64)
            assert abs(float(got[i, k]) - float(torch.linalg.norm(lip[i] - other + 1e-6))) < 1e-12


@pytest.mark.parametrize("d", [0, 2, -4])
def test_sync_confidence_finds_a_planted_offset(d):
    g = torch.Generator().manual_seed(1)
    aud = torch.randn(60, 16, generator=g)
    lip = torch.randn(60, 16, generator=g)
    for i in range(60):  # lips at frame i show the audio of frame i + d
        if 0 <= i + d < 60:
            lip[i] = aud[i + d] + 0.05 * torch.randn(16, generator=g)
    res = sync_confidence(lip, aud, vshift=8)
    assert res["offset_frames"] == -d
    assert res["sync_c"] > 1.0 and res["windows"] == 60
    unrelated = sync_confidence(torch.randn(60, 16, generator=g), aud, vshift=8)
    assert unrelated["sync_c"] < 0.5 * res["sync_c"]


def test_face_crop_is_the_published_square_below_the_box():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (300, 260, 3), dtype=np.uint8)
    box = np.array([130.0, 120.0, 50.0])  # centre (130, 120), half-size 50: rows 70..210, cols 60..200
    ref = cv2.resize(np.ascontiguousarray(rgb[70:210, 60:200, ::-1]), (224, 224))
    assert np.array_equal(face_crop(rgb, box), ref)
    edge = face_crop(rgb, np.array([20.0, 20.0, 50.0]))  # reaches past the frame: grey 110 there
    assert (edge[:20, :20] == 110).all()
    with pytest.raises(ValueError, match="outside"):
        face_crop(rgb, np.array([5000.0, 5000.0, 10.0]))


@pytest.mark.parametrize("box", [(130.0, 120.0, 50.0), (20.0, 20.0, 50.0), (130.4, 150.7, 80.3),
                                 (10.3, 15.6, 40.2)])
def test_differentiable_crop_matches_the_published_crop(box):
    """L_sync's crop of a render = the evaluation's (cv2) crop up to cv2's fixed-point rounding."""
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (300, 260, 3), dtype=np.uint8), (0, 0), 3)
    x = torch.from_numpy(rgb / 255.0).requires_grad_(True)
    ours = face_crop_tensor(x, box)
    diff = np.abs(ours.detach().numpy() - face_crop(rgb, np.array(box)).astype(np.float64))
    assert diff.mean() < 0.4 and diff.max() <= 2.0
    ours[100:120, 100:120].sum().backward()
    assert x.grad.abs().sum() > 0


def test_face_boxes_smooth_a_jump_and_fill_missing_frames():
    pts = np.zeros((30, 4, 2))
    pts[:, :, 0] = [[100, 200, 100, 200]] * 30
    pts[:, :, 1] = [[50, 50, 170, 170]] * 30
    pts[10] += 40  # one-frame detector glitch
    pts[20] = np.nan  # no face
    boxes = face_boxes(pts)
    assert np.allclose(boxes, [150.0, 110.0, 60.0])
    with pytest.raises(ValueError, match="no frame"):
        face_boxes(np.full((5, 4, 2), np.nan))


def test_audio_windows_are_4_mfcc_steps_per_frame():
    wav = np.random.default_rng(0).standard_normal(16000) * 0.1  # 1 s = 25 frames
    win = audio_windows(wav, 25)
    assert win.shape == (20, 1, 13, 20)
    from emogs.lipsync.mfcc import mfcc

    ceps = mfcc(wav * 32768.0)
    assert np.allclose(win[7, 0].numpy(), ceps[28:48].T, atol=1e-4)


@pytest.mark.parametrize("delay", [0, 3])
def test_sync_scores_end_to_end_finds_how_late_the_audio_is(delay, loudness_judge):
    """A clip whose face brightens with the loudness of each 40 ms of audio, with the audio
    delayed by `delay` frames: the protocol (crops, 4 MFCC steps per frame, 5-frame windows, offset
    search) must report the delay with the published sign."""
    rng = np.random.default_rng(3)
    T = 60
    loud = rng.uniform(0.05, 1.0, T)
    bursts = [a * rng.standard_normal(640) for a in loud]
    wav = np.concatenate([np.full(640 * delay, 1e-3)] + bursts)[: T * 640]
    frames, pts = [], np.zeros((T, 4, 2))
    for t in range(T):
        img = np.full((256, 256, 3), 40, np.uint8)
        img[60:200, 70:190] = int(40 + 200 * (np.log(loud[t]) - np.log(0.05)) / -np.log(0.05))
        frames.append(img)
        pts[t] = [[70, 60], [190, 60], [70, 200], [190, 200]]
    res = sync_scores(loudness_judge, iter(frames), pts, wav, vshift=6)
    assert res["windows"] == T - 5
    assert res["offset_frames"] == -delay
    assert res["sync_c"] > 0.5


def test_sync_scores_refuses_other_frame_rates(loudness_judge):
    with pytest.raises(ValueError, match="25 fps"):
        sync_scores(loudness_judge, iter([]), np.zeros((3, 4, 2)), np.zeros(16000), fps=30.0)
