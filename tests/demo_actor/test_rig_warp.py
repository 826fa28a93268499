"""Face rig and piecewise-affine warp on the real astronaut portrait (256 px)."""

import numpy as np
import pytest

from demo_actor.actor import DemoActor
from demo_actor.face_rig import Expression, eye_aspect
from demo_actor.warp import apply_similarity, similarity, transform_points
from emogs.face.topology import LEFT_EYE, RIGHT_EYE


@pytest.fixture(scope="module")
def actor(portrait256):
    return DemoActor(portrait256)


def test_neutral_expression_is_the_identity(actor):
    img, lm = actor.render(Expression(open=actor.rig.gap0 / actor.rig.gap_max))
    np.testing.assert_allclose(lm, actor.portrait.mesh, atol=1e-3)
    # the mouth interior is redrawn, everything else is the photo
    diff = np.abs(img.astype(int) - actor.portrait.image.astype(int)).max(2)
    mouth = actor.portrait.mesh[[61, 291, 0, 17], :2]
    x0, y0 = mouth.min(0) - 3
    x1, y1 = mouth.max(0) + 3
    outside = np.ones_like(diff, bool)
    outside[int(y0):int(y1), int(x0):int(x1)] = False
    assert diff[outside].max() == 0


def test_warp_moves_pixels_with_the_vertices(actor):
    """Backward maps at a deformed vertex return its neutral position (piecewise-affine exactness)."""
    mesh, sup = actor.rig.deform(Expression(open=0.9, width=0.3))
    mx, my, hole = actor.warp.maps(mesh, sup)
    src = actor.portrait.mesh[:468, :2]
    ids = [152, 17, 200, 0, 61, 291, 10, 1]  # chin, lower lip, under lip, upper lip, corners, forehead, nose
    for i in ids:
        x, y = mesh[i, :2]
        c, r = int(np.floor(x)), int(np.floor(y))
        # pixel (r, c)'s centre is < 1 px from the vertex: its source is < ~1.5 px from the neutral vertex
        s = np.array([mx[r, c] + 0.5, my[r, c] + 0.5])
        assert np.linalg.norm(s - src[i]) < 2.0, i
    assert (hole == 1).sum() > 50  # the open mouth is a hole filled by the mouth drawing


def test_jaw_moves_chin_and_lower_lip_not_the_nose(actor):
    p0 = actor.portrait.mesh
    mesh, _ = actor.rig.deform(Expression(open=1.0))
    d = mesh[:, 1] - p0[:, 1]
    assert d[14] > 5 and d[17] > 5 and d[152] > 3  # inner/outer lower lip, chin
    assert abs(d[1]) < 0.1 * d[17] and abs(d[168]) < 0.05  # nose tip (a little), bridge (not at all)
    assert d[13] <= 0  # the upper lip rises a little
    g = [actor.rig.mouth_gap(actor.rig.deform(Expression(open=o))[0]) for o in (0, 0.3, 0.6, 1.0)]
    assert g[0] == pytest.approx(0, abs=0.1) and np.all(np.diff(g) > 2)


def test_rounding_narrows_the_mouth(actor):
    w = lambda m: m[291, 0] - m[61, 0]  # noqa: E731
    m0, _ = actor.rig.deform(Expression(open=0.4))
    m1, _ = actor.rig.deform(Expression(open=0.4, round=1.0, width=-0.7))
    assert w(m1) < 0.85 * w(m0)


def test_blink_closes_the_eyes(actor):
    m0, _ = actor.rig.deform(Expression())
    m1, _ = actor.rig.deform(Expression(blink_left=1, blink_right=1))
    for loop in (LEFT_EYE, RIGHT_EYE):
        assert eye_aspect(m0, loop) > 0.2 and eye_aspect(m1, loop) < 0.06


def test_similarity_moves_image_and_points_together():
    img = np.zeros((64, 64, 3), np.uint8)
    img[20:22, 40:42] = 255  # a 2x2 dot centred at (41, 21)
    m = similarity(10.0, 3.0, -2.0, 1.05, (32, 32))
    out = apply_similarity(img, m)
    ys, xs = np.nonzero(out[..., 0] > 40)
    w = out[ys, xs, 0].astype(float)
    c = np.array([(xs * w).sum() / w.sum() + 0.5, (ys * w).sum() / w.sum() + 0.5])
    np.testing.assert_allclose(c, transform_points(np.array([[41.0, 21.0]]), m)[0], atol=0.3)


def test_load_portrait_from_another_framing():
    """A non-square photo with the face off-centre (the astronaut mirrored and padded) still gives a
    face-centred square crop with the face at the same relative size."""
    import skimage.data

    from demo_actor.actor import load_portrait

    img = skimage.data.astronaut()[:, ::-1]
    img = np.ascontiguousarray(np.pad(img, ((40, 0), (0, 200), (0, 0)), mode="edge"))  # 552 x 712
    p = load_portrait(img, 128, face_scale=2.0)
    assert p.image.shape == (128, 128, 3) and p.mesh.shape == (478, 3)
    span = np.ptp(p.mesh[:, :2], axis=0).max()
    assert 0.4 * 128 < span < 0.6 * 128  # face = 1 / face_scale of the crop
    centre = 0.5 * (p.mesh[:, :2].min(0) + p.mesh[:, :2].max(0))
    np.testing.assert_allclose(centre, [64, 64], atol=4)
    with pytest.raises(ValueError, match="RGB uint8"):
        load_portrait(np.zeros((10, 10), np.uint8), 128)
