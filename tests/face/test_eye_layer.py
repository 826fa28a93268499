import cv2
import numpy as np
import pytest

from emogs.face.eye_layer import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR, composite_eyes, opening_mask

SKIN, SCLERA, IRIS, LASH = (200, 160, 140), (235, 232, 228), (90, 60, 40), (40, 30, 30)
CENTRE, HALF_W, HALF_H, IRIS_R = np.array([200.0, 250.0]), 40.0, 14.0, 21.0


def _contour(lift: float = 0.0) -> np.ndarray:
    """16 points of an almond eye (corner, 7 lower-lid points, corner, 7 upper-lid points); the
    upper lid raised by `lift` px at its middle (0 at the corners)."""
    t_low = np.linspace(0, np.pi, 9)[1:-1]  # lower lid, from the first corner to the second
    t_up = np.linspace(np.pi, 0, 9)[1:-1]  # upper lid, back
    low = np.stack([CENTRE[0] - HALF_W * np.cos(t_low), CENTRE[1] + HALF_H * np.sin(t_low)], 1)
    up = np.stack([CENTRE[0] - HALF_W * np.cos(t_up), CENTRE[1] - (HALF_H + lift) * np.sin(t_up)], 1)
    c0, c1 = CENTRE - (HALF_W, 0), CENTRE + (HALF_W, 0)
    return np.concatenate([c0[None], low, c1[None], up])


@pytest.fixture(scope="module")
def eye():
    """A drawn open eye (sclera, iris with pupil, lash line over skin) with its landmarks [478, 3];
    the other eye's landmarks sit still far away."""
    img = np.zeros((512, 512, 3), np.uint8)
    img[:] = SKIN
    c = _contour()
    inside = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(inside, [np.round(c).astype(np.int32)], 1)
    ball = np.zeros_like(img)
    ball[:] = SCLERA
    cv2.circle(ball, tuple(int(v) for v in CENTRE), int(IRIS_R), IRIS, -1)
    cv2.circle(ball, tuple(int(v) for v in CENTRE), 6, (15, 15, 15), -1)
    img[inside > 0] = ball[inside > 0]
    cv2.polylines(img, [np.round(c[8:]).astype(np.int32)], False, LASH, 2)
    pts = np.zeros((478, 3))
    pts[list(RIGHT_EYE_CONTOUR), :2] = c
    pts[list(LEFT_EYE_CONTOUR), :2] = c + (150, 0)
    ring = CENTRE + IRIS_R * np.array([[1, 0], [0, -1], [-1, 0], [0, 1]])
    pts[468:473, :2] = np.concatenate([CENTRE[None], ring])
    pts[473:478, :2] = pts[468:473, :2] + (150, 0)
    return img, pts


def test_opening_mask_area_matches_the_polygon():
    c = _contour()
    m = opening_mask(c, (100, 180, 300, 320))
    assert m.min() >= 0 and m.max() <= 1
    assert m.sum() == pytest.approx(cv2.contourArea(c.astype(np.float32)), rel=0.02)


def test_unmoved_eyes_are_left_alone(eye):
    img, pts = eye
    warped = np.full_like(img, 7)
    out, still, invented = composite_eyes(img, warped, pts, pts)
    np.testing.assert_array_equal(out, warped)
    assert not still.any() and not invented.any()


def test_raised_lid_uncovers_sclera_and_iris_not_lashes(eye):
    """The upper lid goes up 9 px: the band it uncovers shows the eyeball's colours (sclera beside
    the iris, iris above it), the seen eyeball stays pixel for pixel, the lids come from the warp."""
    img, pts = eye
    moved = pts.copy()
    moved[list(RIGHT_EYE_CONTOUR), :2] = _contour(lift=9.0)
    warped = img.copy()  # (the lids of a real warp would have moved up: this test looks inside)
    out, still, invented = composite_eyes(img, warped, pts, moved, shadow=0.0)
    old = opening_mask(_contour(), (0, 0, 512, 512)) > 0.99
    new_cover = opening_mask(_contour(9.0), (0, 0, 512, 512))
    new = new_cover > 0.99
    band = new & ~cv2.dilate(old.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    yy, xx = np.mgrid[0:512, 0:512]
    rho = np.hypot(xx - CENTRE[0], yy - CENTRE[1]) / IRIS_R
    side, above = band & (rho > 1.3), band & (rho < 0.95)
    assert side.sum() > 30 and above.sum() > 5
    assert np.abs(out[side].astype(float) - SCLERA).max() <= 3  # sclera, no lash stretched over it
    # the iris: its colour, darker towards its rim (at most 35 %)
    shade = out[above].astype(float) / IRIS
    assert shade.min() > 0.62 and shade.max() < 1.03 and np.ptp(shade, axis=1).max() < 0.05
    core = cv2.erode(old.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[core], img[core])  # the seen eyeball: still
    far = ~cv2.dilate((new_cover > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[far], warped[far])  # outside the opening: the warp
    assert still[new].min() > 0.99 and still[far].max() == 0
    deep = cv2.erode(old.astype(np.uint8), np.ones((13, 13), np.uint8)).astype(bool)
    assert invented[band].min() > 0.99 and invented[deep].max() == 0 and invented[core].max() < 0.1


def test_lid_shadow_darkens_only_near_the_new_lid(eye):
    img, pts = eye
    moved = pts.copy()
    moved[list(RIGHT_EYE_CONTOUR), :2] = _contour(lift=9.0)
    plain = composite_eyes(img, img, pts, moved, shadow=0.0)[0].astype(float)
    shaded = composite_eyes(img, img, pts, moved, shadow=0.3)[0].astype(float)
    new = opening_mask(_contour(9.0), (0, 0, 512, 512)) > 0.99
    edge = cv2.distanceTransform(new.astype(np.uint8), cv2.DIST_L2, 3)
    inv = composite_eyes(img, img, pts, moved)[2] > 0.99
    near, deep = inv & (edge < 2), inv & (edge > 6)
    assert near.any() and deep.any()
    ratio = shaded.sum(-1) / np.maximum(plain.sum(-1), 1)
    assert ratio[near].mean() < 0.85 and ratio[deep].mean() > ratio[near].mean()


def test_still_eyeballs_paint_the_eyeball_the_lids_hide(eye):
    """The frame with the lids taken away: above the opening, sclera beside the iris and iris above
    it (not skin or lashes); the seen eyeball and everything outside the eye boxes unchanged."""
    from emogs.face.eye_layer import still_eyeballs

    img, pts = eye
    out = still_eyeballs(img, pts, shadow=0.0)
    old = opening_mask(_contour(), (0, 0, 512, 512)) > 0.99
    hidden = (opening_mask(_contour(lift=9.0), (0, 0, 512, 512)) > 0.99) & \
        ~cv2.dilate(old.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    yy, xx = np.mgrid[0:512, 0:512]
    rho = np.hypot(xx - CENTRE[0], yy - CENTRE[1]) / IRIS_R
    side, above = hidden & (rho > 1.3), hidden & (rho < 0.95)
    assert side.sum() > 30 and above.sum() > 5
    assert np.abs(out[side].astype(float) - SCLERA).max() <= 3
    shade = out[above].astype(float) / IRIS
    assert shade.min() > 0.62 and shade.max() < 1.03
    core = cv2.erode(old.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    np.testing.assert_array_equal(out[core], img[core])
    # the right eye's box: the contour grown by 0.15 / 0.5 / 0.35 of the eye width (80 px)
    box = np.zeros((512, 512), bool)
    box[int(CENTRE[1] - HALF_H) - 40:int(CENTRE[1] + HALF_H) + 28, int(CENTRE[0] - HALF_W) - 12:
        int(CENTRE[0] + HALF_W) + 12] = True
    box |= np.roll(box, 150, axis=1)  # the other eye, 150 px to the right
    np.testing.assert_array_equal(out[~box], img[~box])


def test_still_eyeballs_shade_the_eyeball_deeper_under_the_lids(eye):
    """With the lids' shadow: the painted sclera keeps its hue and darkens with the distance from the
    opening (1 - 0.5 (1 - exp(-d / 0.1 eye width))); the seen eyeball is not shaded."""
    from emogs.face.eye_layer import still_eyeballs

    img, pts = eye
    plain, shaded = still_eyeballs(img, pts, shadow=0.0), still_eyeballs(img, pts, shadow=0.5)
    outside = cv2.distanceTransform((opening_mask(_contour(), (0, 0, 512, 512)) < 0.5).astype(np.uint8),
                                    cv2.DIST_L2, 3)
    yy, xx = np.mgrid[0:512, 0:512]
    sclera = (np.hypot(xx - CENTRE[0], yy - CENTRE[1]) > 1.3 * IRIS_R) & (np.abs(xx - CENTRE[0]) < 30)
    for d in (3, 6, 12, 20):
        sel = sclera & (np.abs(outside - d) < 0.5) & (yy < CENTRE[1])
        assert sel.sum() > 3
        ratio = shaded[sel].astype(float) / np.maximum(plain[sel].astype(float), 1)
        want = 1 - 0.5 * (1 - np.exp(-d / 8.0))  # eye width 80 px
        assert np.abs(ratio - want).max() < 0.04, (d, ratio.mean(), want)
    core = cv2.erode((opening_mask(_contour(), (0, 0, 512, 512)) > 0.99).astype(np.uint8),
                     np.ones((9, 9), np.uint8)).astype(bool)
    np.testing.assert_array_equal(shaded[core], img[core])
