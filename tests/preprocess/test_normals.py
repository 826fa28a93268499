"""Face normals: mesh topology, rasteriser exactness, and normals of the real astronaut face."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from face_samples import astronaut, detect, mouth_series

from emogs.data.schema import decode_normals
from emogs.face.mesh_topology import face_triangles, tessellation_edges
from emogs.face.topology import FACE_OVAL, LEFT_EYE, LIPS_INNER, RIGHT_EYE
from preprocess.normals import (
    FaceNormalRenderer,
    NormalEstimator,
    _raster_sparse,
    load_normal_estimator,
    rasterize_attributes,
)


def boundary_edges(triangles: np.ndarray) -> np.ndarray:
    """Edges used by exactly one triangle, int64 [B, 2] (sorted pairs)."""
    count = Counter(tuple(sorted((int(t[k]), int(t[(k + 1) % 3])))) for t in triangles for k in range(3))
    return np.array(sorted(e for e, c in count.items() if c == 1), dtype=np.int64).reshape(-1, 2)


def rasterize_attributes_fast(xy, depth, tris, attrs, size):
    """The renderer's sparse rasteriser (`_raster_sparse`) as a dense image, to compare with
    `rasterize_attributes`: (float32 [size, size, C], covered bool [size, size])."""
    py, px, vals = _raster_sparse(xy, depth, tris, attrs, size)
    out = np.zeros((size, size, attrs.shape[1]), np.float32)
    covered = np.zeros((size, size), bool)
    out[py, px] = vals
    covered[py, px] = True
    return out, covered


K512 = np.array([[1200.0, 0, 256], [0, 1200.0, 256], [0, 0, 1]])


@pytest.fixture(scope="module")
def face_pts() -> np.ndarray:
    return detect(astronaut()).astype(np.float64)


def test_topology_is_a_consistent_disc_with_eye_and_mouth_holes():
    tris = face_triangles(fill_eyes=False)
    assert tris.shape == (852, 3)
    edges = tessellation_edges()
    assert 468 - len(edges) + len(tris) == -2  # Euler: disc with 3 holes
    b = boundary_edges(tris)
    assert set(b.ravel()) == set(FACE_OVAL) | set(LIPS_INNER) | set(LEFT_EYE) | set(RIGHT_EYE)
    filled = face_triangles(fill_eyes=True)
    assert set(boundary_edges(filled).ravel()) == set(FACE_OVAL) | set(LIPS_INNER)
    directed = [(t[k], t[(k + 1) % 3]) for t in filled for k in range(3)]
    assert len(directed) == len(set(directed))  # every edge used once per direction: consistent


def test_rasterisers_agree_with_a_plane(face_pts):
    """A planar 'face' z = a x + b y (orthographic camera): every pixel has the plane's normal."""
    p = face_pts.copy()
    a, b = 0.4, -0.25
    p[:, 2] = a * p[:, 0] + b * p[:, 1]
    k_ortho = np.array([[1e7, 0, 256], [0, 1e7, 256], [0, 0, 1]])
    expect = np.array([a, b, -1.0]) / math.sqrt(a * a + b * b + 1)
    for exact in (True, False):
        n, m = FaceNormalRenderer(512, exact=exact).render(p, k_ortho)
        assert m.sum() > 5000
        # the real mesh folds over at the face contour in 2D (its side faces); flattened onto a plane
        # those few folded triangles flip: all but a handful of pixels carry the plane's normal
        close = np.abs(n[m] - expect).max(axis=1) < 2e-3
        assert close.mean() > 0.995, close.mean()


def test_exact_rasteriser_interpolates_barycentrically():
    xy = np.array([[1.0, 1.0], [9.0, 1.0], [1.0, 9.0]])
    attrs = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    tris = np.array([[0, 1, 2]])
    img, cov = rasterize_attributes(xy, np.zeros(3), tris, attrs, 12)
    # pixel (x=3, y=2) has centre (3.5, 2.5): barycentrics (1 - 2.5/8 - 1.5/8, 2.5/8, 1.5/8)
    np.testing.assert_allclose(img[2, 3], [1 - 4 / 8, 2.5 / 8, 1.5 / 8], atol=1e-6)
    assert cov[1, 1] and not cov[0, 0] and not cov[9, 9]
    fast, fcov = rasterize_attributes_fast(xy, np.zeros(3), tris, attrs, 12)
    np.testing.assert_allclose(fast[cov & fcov], img[cov & fcov], atol=1e-5)
    # nearer triangle wins in the z-buffer
    tris2 = np.array([[0, 1, 2], [0, 1, 2]])
    xy2 = np.concatenate([xy, xy])
    tris2[1] += 3
    depth = np.array([5.0, 5, 5, 1, 1, 1])
    attrs2 = np.concatenate([attrs, attrs * 0 + 7])
    img2, _ = rasterize_attributes(xy2, depth, tris2, attrs2, 12)
    assert np.allclose(img2[2, 3], 7)
    img3, _ = rasterize_attributes_fast(xy2, depth, tris2, attrs2, 12)
    assert np.allclose(img3[2, 3], 7)


def test_astronaut_normals_face_the_camera_and_vary_across_cheeks(face_pts):
    enc = FaceNormalRenderer(512)(face_pts, K512)
    assert enc.shape == (512, 512, 3) and enc.dtype == np.uint8
    n, valid = decode_normals(enc)
    assert 5000 < valid.sum() < 15000  # face ~95 x 110 px
    assert (n[valid, 2] < 0).mean() > 0.97  # facing the camera
    np.testing.assert_allclose(np.linalg.norm(n[valid], axis=1), 1.0, atol=0.02)
    # left / right cheeks: the image-left cheek's normals point left (n_x < 0), the right one right
    ys, xs = np.nonzero(valid)
    cx = (face_pts[234, 0] + face_pts[454, 0]) / 2
    left = valid & (np.arange(512)[None, :] < cx - 25)
    right = valid & (np.arange(512)[None, :] > cx + 25)
    assert n[left, 0].mean() < -0.2 and n[right, 0].mean() > 0.2
    # the forehead faces up (n_y < 0), under the chin / jaw faces down
    top = valid & (np.arange(512)[:, None] < ys.min() + 10)
    assert n[top, 1].mean() < -0.1
    # nothing outside the face oval (a pixel far from the face, the hair) and nothing in the open mouth
    assert not valid[:40].any() and not valid[300:].any()
    assert not valid[int(face_pts[13, 1] + 1.5) : int(face_pts[14, 1] - 1), int(face_pts[13, 0])].any()


def test_head_turn_rotates_the_normals(face_pts):
    p = face_pts.copy()
    c = p.mean(0)
    th = math.radians(30)
    r = np.array([[math.cos(th), 0, math.sin(th)], [0, 1, 0], [-math.sin(th), 0, math.cos(th)]])
    turned = (p - c) @ r.T + c
    n0, m0 = FaceNormalRenderer(512).render(p, K512)
    n1, m1 = FaceNormalRenderer(512).render(turned, K512)
    # the normal at a point of the surface (forehead, cheeks) turns with the head
    for idx in (151, 205, 425, 6):
        x0, y0 = np.floor(p[idx, :2]).astype(int)
        x1, y1 = np.floor(turned[idx, :2]).astype(int)
        assert m0[y0, x0] and m1[y1, x1]
        expect = r @ n0[y0, x0]
        ang = math.degrees(math.acos(np.clip(expect @ n1[y1, x1], -1, 1)))
        assert ang < 6.0, (idx, ang)
        before = math.degrees(math.acos(np.clip(n0[y0, x0] @ n1[y1, x1], -1, 1)))
        assert before > 20.0  # and did change


def test_fast_and_exact_rasterisers_agree_on_a_large_face(face_pts):
    q = face_pts.copy()
    q[:, :2] = (q[:, :2] - [225, 125]) * 2.5 + 256
    q[:, 2] *= 2.5
    a, ma = FaceNormalRenderer(512).render(q, K512)
    b, mb = FaceNormalRenderer(512, exact=True).render(q, K512)
    assert (ma & mb).sum() / (ma | mb).sum() > 0.97
    ang = np.degrees(np.arccos(np.clip((a * b).sum(-1)[ma & mb], -1, 1)))
    assert ang.mean() < 1.0


def test_open_mouth_has_no_normals_inside():
    imgs, pts = mouth_series()
    p = pts[2].astype(np.float64)
    _, m = FaceNormalRenderer(512).render(p, K512)
    x = int(round(p[13, 0]))
    gap = m[int(p[13, 1] + 1.5) : int(p[14, 1] - 1), x]
    assert gap.size >= 8 and not gap.any()


def test_bad_inputs(face_pts):
    r = FaceNormalRenderer(64)
    with pytest.raises(ValueError, match="478"):
        r(face_pts[:468], K512)
    with pytest.raises(ValueError, match="pinhole"):
        r(face_pts, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        r(np.full((478, 3), np.nan), K512)


def test_learned_estimator_slot(tmp_path):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    torch.save(net.state_dict(), tmp_path / "w.pth")
    est = load_normal_estimator(torch.nn.Conv2d(3, 3, 3, padding=1), tmp_path / "w.pth")
    rgb = astronaut()[:64, :64]
    mask = np.zeros((64, 64), bool)
    mask[10:30, 10:30] = True
    out = est(rgb, mask)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert out[~mask].max() == 0 and out[mask].min() >= 0
    n, valid = decode_normals(out)
    assert valid[mask].all()
    with pytest.raises(ValueError, match="does not match"):
        load_normal_estimator(torch.nn.Conv2d(3, 3, 5, padding=2), tmp_path / "w.pth")
    torch.save({"model": net}, tmp_path / "pickled.pth")
    with pytest.raises(ValueError, match="state dict"):
        load_normal_estimator(torch.nn.Conv2d(3, 3, 3, padding=1), tmp_path / "pickled.pth")
    assert isinstance(est, NormalEstimator)


def test_render_box_is_the_tight_box_of_the_frame(face_pts):
    r = FaceNormalRenderer(512)
    full = r(face_pts, K512)
    (y0, x0), box = r.render_box(face_pts, K512)
    ys, xs = np.nonzero(full.any(-1))
    assert (y0, x0) == (ys.min(), xs.min()) and box.shape == (ys.max() - y0 + 1, xs.max() - x0 + 1, 3)
    np.testing.assert_array_equal(box, full[y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]])
    far = face_pts.copy()
    far[:, :2] += 2000.0  # off the image: an empty box, an all-zero frame
    (_, _), empty = r.render_box(far, K512)
    assert empty.shape == (0, 0, 3) and not r(far, K512).any()
