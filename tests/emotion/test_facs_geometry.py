import numpy as np
import pytest

from emogs.emotion.au_mesh import LEFT_BROW, RIGHT_BROW
from emogs.emotion.facs_geometry import (
    ANCHORS,
    EYE_LIDS,
    MAX_CLOSING,
    face_frame,
    facs_displacement,
    lip_motion,
    mouth_corner_motion,
)


@pytest.fixture(scope="module")
def mesh():
    """The astronaut's MediaPipe mesh (px) and the same mesh rotated by 30 degrees about its centre."""
    from skimage import data

    from emogs.face.landmarks import FaceMeshDetector

    p = FaceMeshDetector(video_mode=False, max_faces=1)(data.astronaut())[0].points.astype(np.float64)[:, :2]
    c = p.mean(0)
    a = np.radians(30)
    r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return p, (p - c) @ r.T + c, r


def _up(p, d, idx):
    """Mean upward motion (face frame, px) of points idx."""
    _, ey, _, _ = face_frame(p)
    return float(-(d[list(idx)] @ ey).mean())


def test_brows_and_anchors(mesh):
    p, _, _ = mesh
    brows = RIGHT_BROW + LEFT_BROW
    up = facs_displacement(p, {"AU01": 3.0, "AU02": 3.0})
    down = facs_displacement(p, {"AU04": 3.0})
    _, _, iod, _ = face_frame(p)
    assert _up(p, up, brows) > 0.1 * iod and _up(p, down, brows) < -0.03 * iod
    # AU04 draws the inner ends together: the gap between the brows narrows
    gap0 = abs(p[55, 0] - p[285, 0])
    assert abs((p + down)[55, 0] - (p + down)[285, 0]) < gap0 - 0.1 * iod
    assert not np.any(up[list(ANCHORS)])  # lips, outline, irises, nose midline stay
    assert np.isnan(up).any()  # free points: left to the warp
    assert not np.any(facs_displacement(p, {})[~np.isnan(up[:, 0])])


def test_lids_close_at_most_half_the_opening(mesh):
    p, _, _ = mesh
    d = facs_displacement(p, {"AU43": 5.0})
    _, ey, _, _ = face_frame(p)
    for upper, lower, _, _ in EYE_LIDS:
        gap = (p[list(lower)] - p[list(upper)]) @ ey
        new = ((p + d)[list(lower)] - (p + d)[list(upper)]) @ ey
        assert np.all(new >= (1 - MAX_CLOSING) * gap - 1e-6) and new.mean() < 0.7 * gap.mean()


def test_corners_in_the_face_frame(mesh):
    p, rot, r = mesh
    smile = mouth_corner_motion(p, {"AU12": 3.0})
    _, ey, _, mw = face_frame(p)
    assert np.all(-(smile @ ey) > 0.1 * mw)  # both corners up
    assert smile[0] @ (p[61] - p[291]) > 0 and smile[1] @ (p[291] - p[61]) > 0  # and outwards
    # the same face turned 30 degrees: the motion turns with it
    np.testing.assert_allclose(mouth_corner_motion(rot, {"AU12": 3.0}), smile @ r.T, atol=1e-6)
    frown = mouth_corner_motion(p, {"AU12": -3.0, "AU15": 2.0})
    assert np.all(frown @ ey > 0.15 * mw)


def test_lip_motion_keeps_the_opening(mesh):
    p, _, _ = mesh
    f = lip_motion(p, {"AU12": -3.0, "AU15": 2.0, "AU10": 2.0})
    pairs = [(13, 14), (82, 87), (312, 317), (81, 178), (311, 402)]
    for a, b in pairs:  # inner upper / lower lip: moved alike
        np.testing.assert_allclose(f(p[[a]]), f(p[[b]]), atol=0.6)  # (corners move ~10 px)
    da = f(p[[0]]) - f(p[[13]])  # AU10 lifts the upper lip's outer contour above its inner edge
    _, ey, _, mw = face_frame(p)
    assert float(-(da[0] @ ey)) > 0.05 * mw
    corners = mouth_corner_motion(p, {"AU12": -3.0, "AU15": 2.0})
    np.testing.assert_allclose(f(p[[61, 291]]), corners, atol=1e-9)
