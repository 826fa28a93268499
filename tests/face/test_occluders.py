"""Occluder masks: hands found per frame, grown, written by the preprocessing 'occluders' stage."""

import cv2
import numpy as np

from emogs.face.occluders import HandDetector, hands_mask, occluder_mask

S = 128


def _hand_landmarks(cx=60.0, cy=70.0, scale=1.0):
    """21 hand points (wrist, 4 per finger) of an upright open hand, px."""
    pts = [(cx, cy + 30 * scale)]
    for k, dx in enumerate((-22, -10, 0, 10, 20)):
        base = np.array([cx + dx * 0.6 * scale, cy + 5 * scale])
        tip = np.array([cx + dx * scale * (1.6 if k == 0 else 1.0), cy - (25 if k == 0 else 40) * scale])
        pts += [tuple(base + (tip - base) * f) for f in (0.25, 0.5, 0.75, 1.0)]
    return np.array(pts, np.float32)


def _draw_hand(pts, size=S):
    """A hand-like silhouette through the landmarks: thick fingers (joints -> tip) and a palm."""
    img = np.zeros((size, size), np.uint8)
    palm = cv2.convexHull(np.round(pts[[0, 1, 5, 9, 13, 17]]).astype(np.int32))
    cv2.fillConvexPoly(img, palm, 1)
    for f in range(5):
        chain = np.round(pts[[0] + list(range(1 + 4 * f, 5 + 4 * f))]).astype(np.int32)
        cv2.polylines(img, [chain], False, 1, thickness=5)
    return img.astype(bool)


def test_mask_covers_a_drawn_hand_and_little_else():
    pts = _hand_landmarks()
    drawn = _draw_hand(pts)
    mask = hands_mask([pts], S)
    assert mask[drawn].mean() == 1.0  # every pixel of the hand (finger width included, by the growth)
    assert mask.sum() < 3 * drawn.sum()  # not a blanket over the frame
    tight = hands_mask([pts], S, grow=0.0)
    assert tight[drawn].mean() < 1.0  # the hull of the joints alone misses the fingers' width
    assert not hands_mask([], S).any()


def test_two_hands_and_off_frame_points():
    a, b = _hand_landmarks(30, 60, 0.6), _hand_landmarks(100, 60, 0.6)
    m = hands_mask([a, b], S)
    assert m[60, 30] and m[60, 100] and not m[60, 65]
    half_out = _hand_landmarks(-10, 60)  # a hand entering from the left edge
    assert hands_mask([half_out], S)[:, :5].any()


def test_mediapipe_hands_load_offline_and_find_nothing_on_a_blank_frame():
    with HandDetector(video_mode=False) as det:
        assert det(np.full((S, S, 3), 128, np.uint8)) == []
        assert not occluder_mask(np.full((S, S, 3), 128, np.uint8), det).any()


def _fake_detector():
    def detect(rgb):  # a hand wherever the frame's red channel is saturated (frame 2 only below)
        return [_hand_landmarks(60, 70, 0.8)] if rgb[..., 0].max() == 255 else []
    return detect


def test_frame_task_writes_only_the_frames_with_a_hand(tmp_path):
    from preprocess.frame_tasks import FindOccluders
    from preprocess.io_utils import MemmapWriter

    frames = np.zeros((4, S, S, 3), np.uint8)
    frames[2, 10, 10, 0] = 255
    np.save(tmp_path / "frames.npy", frames)
    writer = MemmapWriter(tmp_path / "occluders.npy", np.uint8, (4, S, S))
    with writer:
        FindOccluders(str(tmp_path), writer.name, make_detector=_fake_detector)(0, 4)
    occ = np.load(tmp_path / "occluders.npy")
    assert occ[[0, 1, 3]].sum() == 0
    np.testing.assert_array_equal(occ[2] > 0, hands_mask([_hand_landmarks(60, 70, 0.8)], S))
