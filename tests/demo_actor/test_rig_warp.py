"""Face rig, warps and head pose on the real astronaut portrait (256 px) and the second identity."""

import numpy as np
import pytest

from demo_actor.actor import DemoActor
from demo_actor.face_rig import Expression, eye_aspect
from demo_actor.pose import Pose, rotation_matrix, rotvec
from emogs.face.topology import LEFT_EYE, LIPS_INNER, RIGHT_EYE


@pytest.fixture(scope="module")
def actor(portrait256):
    return DemoActor(portrait256)


@pytest.fixture(scope="module")
def hopper(hopper256):
    return DemoActor(hopper256)


def _inner_gaps(mesh):
    """Vertical gaps (px) between the 9 upper / lower inner-lip vertex pairs."""
    lower = LIPS_INNER[1:10]  # 95 ... 324 (right to left)
    upper = LIPS_INNER[19:10:-1]  # 191 ... 415, the matching upper vertices
    return mesh[lower, 1] - mesh[upper, 1]


def test_undeformed_mesh_maps_the_photo_to_itself(actor):
    p0 = actor.portrait.mesh
    mx, my, _ = actor.warp.maps(p0, actor.rig.support)
    h, w = mx.shape
    gy, gx = np.mgrid[0:h, 0:w]
    err = np.hypot(mx - gx, my - gy)
    mouth = p0[[61, 291, 0, 17], :2]
    x0, y0 = mouth.min(0) - 3
    x1, y1 = mouth.max(0) + 3
    err[int(y0):int(y1), int(x0):int(x1)] = 0  # the lips sample slightly away from the photo's teeth
    assert err.max() < 1e-3


def test_warp_moves_pixels_with_the_vertices(actor):
    """Backward maps at a deformed vertex return its neutral position (piecewise-affine exactness)."""
    mesh, sup = actor.rig.deform(Expression(open=0.9, width=0.3))
    mx, my, hole = actor.warp.maps(mesh, sup)
    src = actor.warp.verts0[:468]
    for i in [152, 17, 200, 0, 61, 291, 10, 1]:  # chin, lips, under lip, corners, forehead, nose
        x, y = mesh[i, :2]
        c, r = int(np.floor(x)), int(np.floor(y))
        s = np.array([mx[r, c] + 0.5, my[r, c] + 0.5])
        assert np.linalg.norm(s - src[i]) < 2.0, i
    assert (hole == 1).sum() > 50  # the open mouth is a hole filled by the mouth drawing


@pytest.mark.parametrize("who", ["actor", "hopper"])
def test_rest_closes_the_lips_everywhere(who, request):
    a = request.getfixturevalue(who)
    rest, _ = a.rig.deform(Expression())
    assert np.abs(_inner_gaps(rest)).max() < 0.5
    pressed, _ = a.rig.deform(Expression(press=1))
    assert np.abs(_inner_gaps(pressed)).max() < 0.5
    lip_h = lambda m: m[17, 1] - m[0, 1]  # noqa: E731  outer lip height
    assert lip_h(pressed) < lip_h(rest) - 0.5


def test_grin_removed_at_rest_and_a_smile_on_demand(actor, hopper):
    assert actor.rig.grin > 0.5 and hopper.rig.grin < 0.2  # the astronaut grins, Grace Hopper does not
    for a in (actor, hopper):
        rest, _ = a.rig.deform(Expression())
        smile, _ = a.rig.deform(Expression(smile=1.0))
        corner_lift = lambda m: 0.5 * (m[13, 1] + m[14, 1]) - 0.5 * (m[61, 1] + m[291, 1])  # noqa: E731
        width = lambda m: m[291, 0] - m[61, 0]  # noqa: E731
        assert corner_lift(smile) > corner_lift(rest) + 0.05 * a.rig.hw
        assert width(smile) > width(rest)
    p0 = actor.portrait.mesh
    rest, _ = actor.rig.deform(Expression())
    assert rest[61, 1] > p0[61, 1] + 0.1 * actor.rig.hw  # the grinning corners come down


def test_jaw_moves_chin_and_lower_lip_not_the_nose(actor):
    m0, _ = actor.rig.deform(Expression())
    mesh, _ = actor.rig.deform(Expression(open=1.0))
    d = mesh[:, 1] - m0[:, 1]
    assert d[14] > 5 and d[17] > 5 and d[152] > 3  # inner/outer lower lip, chin
    assert abs(d[1]) < 0.1 * d[17] and abs(d[168]) < 0.05  # nose tip (a little), bridge (not at all)
    assert d[13] < 0  # the upper lip rises a little
    g = [actor.rig.mouth_gap(actor.rig.deform(Expression(open=o))[0]) for o in (0, 0.3, 0.6, 1.0)]
    assert g[0] == pytest.approx(0, abs=0.1) and np.all(np.diff(g) > 2)
    assert g[-1] == pytest.approx(0.14 * actor.rig.face_width, rel=0.05)


def test_rounding_narrows_the_mouth(actor):
    w = lambda m: m[291, 0] - m[61, 0]  # noqa: E731
    m0, _ = actor.rig.deform(Expression(open=0.4))
    m1, _ = actor.rig.deform(Expression(open=0.4, round=1.0, width=-0.7))
    assert w(m1) < 0.75 * w(m0)


def test_blink_closes_the_eyes(actor):
    m0, _ = actor.rig.deform(Expression())
    m1, _ = actor.rig.deform(Expression(blink_left=1, blink_right=1))
    for loop in (LEFT_EYE, RIGHT_EYE):
        assert eye_aspect(m0, loop) > 0.2 and eye_aspect(m1, loop) < 0.06


def test_rotation_convention():
    r = rotation_matrix(5.0, 12.0, -3.0)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    rv = np.rad2deg(rotvec(rotation_matrix(0, 12.0, 0)))
    np.testing.assert_allclose(rv, [0, 12.0, 0], atol=1e-9)
    nose = np.array([0.0, 0.0, -50.0])  # in front of the origin (z grows away from the camera)
    assert (rotation_matrix(0, 10, 0) @ nose)[0] < 0  # positive yaw: nose to image left
    assert (rotation_matrix(10, 0, 0) @ nose)[1] > 0  # positive pitch: nose down


def test_yaw_turns_the_face_with_parallax(actor):
    _, lm0 = actor.render(Expression(), Pose())
    img, lm = actor.render(Expression(), Pose(yaw=18))
    # the nose tip (near) moves more towards -x than the face sides (far)
    shift = lm[:, 0] - lm0[:, 0]
    assert shift[1] < shift[234] - 3 and shift[1] < shift[454] - 3
    # the far side of the face (image left for +yaw) is foreshortened
    assert (lm[1, 0] - lm[234, 0]) < 0.85 * (lm0[1, 0] - lm0[234, 0])
    assert img.shape == actor.portrait.image.shape and img.dtype == np.uint8
    # the background corners do not move
    np.testing.assert_array_equal(img[:8, :8], actor.portrait.image[:8, :8])


@pytest.mark.parametrize("pose", [Pose(yaw=20), Pose(yaw=-20), Pose(pitch=10), Pose(pitch=-10, roll=5, tx=4)])
def test_detector_tracks_posed_frames(actor, hopper, detector, pose):
    for a in (actor, hopper):
        img, lm = a.render(Expression(open=0.6), pose)
        faces = detector(img)
        assert faces, pose
        mouth = LIPS_INNER + [61, 291, 0, 17]
        err = np.linalg.norm(faces[0].points[mouth, :2] - lm[mouth, :2], axis=1).mean()
        assert err < 0.03 * a.rig.face_width, (pose, err)  # ~3 px on a 512 px frame
