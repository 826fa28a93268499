"""Occluders over the face: hands (and what they hold) found per frame, as a mask the training
losses leave out, so a hand over the face is not learned into the face.

    det = HandDetector()                       # MediaPipe Hands (bundled with mediapipe 0.10.21)
    mask = occluder_mask(rgb, det)             # bool [S,S], True = occluded: ignore in the losses
    det.close()

The functional core is `hands_mask`: the filled convex hull of each hand's 21 landmarks, grown
by `grow` x the hand's size (fingers are thicker than their joints, and a held object sticks
out of the hand). The detector is MediaPipe's legacy `solutions.hands` graph; its palm-detection
and hand-landmark models ship inside the mediapipe wheel (nothing is downloaded).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GROW = 0.15  # default growth of a hand's hull, as a fraction of the hand's size (hull bbox diagonal)
NUM_HAND_LANDMARKS = 21


def hands_mask(hands: Sequence[np.ndarray], size: int, grow: float = GROW) -> np.ndarray:
    """Pixels covered by hands.

    hands: per hand, [21, >=2] landmark pixel coordinates (x right, y down, pixel centres at i + 0.5);
    size: S of the square frame; grow: dilation radius as a fraction of each hand's bbox diagonal.
    Returns bool [S,S], True where a (grown) hand covers the pixel centre.
    """
    import cv2

    mask = np.zeros((size, size), np.uint8)
    for pts in hands:
        p = np.asarray(pts, np.float64)[:, :2]
        if len(p) < 3 or not np.isfinite(p).all():
            continue
        hull = cv2.convexHull(np.round(p - 0.5).astype(np.int32))  # px coords -> pixel indices
        one = np.zeros_like(mask)
        cv2.fillConvexPoly(one, hull, 1)
        radius = int(round(grow * float(np.linalg.norm(p.max(0) - p.min(0)))))
        if radius > 0:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            one = cv2.dilate(one, kernel)
        mask |= one
    return mask.astype(bool)


class HandDetector:
    """MediaPipe Hands on RGB frames -> list of [21,3] landmark arrays in pixels (z in pixel units).

    video_mode: track hands from frame to frame (faster, steadier) instead of detecting afresh.
    """

    def __init__(self, video_mode: bool = True, max_hands: int = 2, min_confidence: float = 0.5,
                 complexity: int = 1):
        from emogs.logs import silence_native_logs

        silence_native_logs()
        try:
            from mediapipe.python.solutions import hands as mp_hands
        except ImportError as err:
            raise ImportError(f"MediaPipe Hands is unavailable ({err}); install mediapipe==0.10.21 "
                              "(requirements.txt), whose wheel bundles the hand models") from err
        from emogs.logs import QuietUntilFound, quiet_solution

        self._hands = quiet_solution(lambda: mp_hands.Hands(
            static_image_mode=not video_mode, max_num_hands=max_hands, model_complexity=complexity,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence))
        self._process = QuietUntilFound(self._hands.process, lambda r: bool(r.multi_hand_landmarks))

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        """rgb: uint8 [H,W,3] -> list of float32 [21,3] (x, y px; z relative depth x W)."""
        h, w = rgb.shape[:2]
        res = self._process(np.ascontiguousarray(rgb))  # quiet until the model first sees a hand
        out = []
        for hand in res.multi_hand_landmarks or ():
            out.append(np.array([(p.x * w, p.y * h, p.z * w) for p in hand.landmark], np.float32))
        return out

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def occluder_mask(rgb: np.ndarray, detector, grow: float = GROW) -> np.ndarray:
    """bool [S,S]: the pixels of square frame `rgb` (uint8 [S,S,3]) covered by the hands `detector`
    (rgb -> list of [21,>=2] px) finds, grown by `grow` (see `hands_mask`)."""
    return hands_mask(detector(rgb), rgb.shape[0], grow)
