import numpy as np
import pytest
import skimage.data

from emogs.face import landmarks as L
from emogs.face import topology as topo


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def mesh(astronaut):
    with L.FaceMeshDetector(video_mode=False) as det:
        faces = det(astronaut)
    assert len(faces) == 1
    return faces[0]


def test_index_constants_match_mediapipe_topology():
    from mediapipe.python.solutions import face_mesh_connections as c

    def idx(conn):
        return {i for e in conn for i in e}

    assert set(topo.LIPS_OUTER) | set(topo.LIPS_INNER) == idx(c.FACEMESH_LIPS)
    assert set(topo.LEFT_EYE) == idx(c.FACEMESH_LEFT_EYE) and set(topo.RIGHT_EYE) == idx(c.FACEMESH_RIGHT_EYE)
    assert set(topo.LEFT_BROW) == idx(c.FACEMESH_LEFT_EYEBROW)
    assert set(topo.RIGHT_BROW) == idx(c.FACEMESH_RIGHT_EYEBROW)
    assert set(topo.LEFT_IRIS[1:]) == idx(c.FACEMESH_LEFT_IRIS)
    assert set(topo.RIGHT_IRIS[1:]) == idx(c.FACEMESH_RIGHT_IRIS)
    assert set(topo.FACE_OVAL) == idx(c.FACEMESH_FACE_OVAL) and set(topo.NOSE) == idx(c.FACEMESH_NOSE)
    # loops are ordered: consecutive points are mesh edges
    edges = {frozenset(e) for e in c.FACEMESH_TESSELATION} | {frozenset(e) for e in c.FACEMESH_CONTOURS}
    for loop in (topo.LIPS_OUTER, topo.LIPS_INNER, topo.LEFT_EYE, topo.RIGHT_EYE, topo.FACE_OVAL):
        assert all(frozenset((a, b)) in edges for a, b in zip(loop, loop[1:] + loop[:1]))


def test_detector_on_real_portrait(mesh, astronaut):
    p = mesh.points
    assert p.shape == (478, 3) and p.dtype == np.float32
    assert mesh.score == 1.0
    x0, y0, x1, y1 = mesh.bbox
    assert 150 < x0 < x1 < 300 and 40 < y0 < y1 < 220  # the astronaut's face
    # person's left eye is on the image right; lips below the nose below the eyes
    assert p[topo.LEFT_EYE, 0].mean() > p[topo.RIGHT_EYE, 0].mean()
    assert p[topo.LEFT_EYE, 1].mean() < p[1, 1] < p[topo.LIPS_OUTER, 1].mean()
    # iris centre inside its eye contour's box
    eye = p[topo.LEFT_EYE, :2]
    assert (eye.min(0) < p[topo.LEFT_IRIS[0], :2]).all() and (p[topo.LEFT_IRIS[0], :2] < eye.max(0)).all()


def test_to_68_matches_dlib(astronaut):
    """The documented mapping reproduces dlib's 68 points on the real portrait (mirrored + rotated too)."""
    import cv2

    dlib68 = L.Dlib68Detector(upsample=1)
    errs = []
    with L.FaceMeshDetector(video_mode=False) as det:
        for flip in (False, True):
            for ang in (-8, 0, 8):
                img = astronaut[:, ::-1].copy() if flip else astronaut
                M = cv2.getRotationMatrix2D((256, 256), ang, 1.1)
                img = cv2.warpAffine(img, M, (512, 512), borderMode=cv2.BORDER_CONSTANT)
                ours = L.to_68(det(img)[0].points)
                cands = dlib68(img)
                ref = min(cands, key=lambda q: np.abs(q.mean(0) - ours.mean(0)).sum()) - 0.5
                errs.append(np.linalg.norm(ours - ref, axis=-1))
    errs = np.stack(errs)
    face_width = 92.0 * 1.1
    assert errs.mean() < 2.5, errs.mean()
    assert errs.mean() / face_width < 0.03
    assert np.median(errs[:, 36:48]) < 1.5  # eyes: tight
    # the mapping beats an obviously wrong one (shifted indices) by far
    assert L.to_68(np.zeros((2, 3, 478, 3))).shape == (2, 3, 68, 2)
    with pytest.raises(ValueError, match="478"):
        L.to_68(np.zeros((68, 2)))


def test_several_faces_largest_first_and_no_face(astronaut):
    import cv2

    face = astronaut[30:230, 130:320]  # head and hair
    canvas = np.full((300, 600, 3), 40, np.uint8)
    canvas[20:220, 20:210] = face
    canvas[60:210, 380:522] = cv2.resize(face, (142, 150))
    with L.FaceMeshDetector(video_mode=False) as det:
        faces = det(canvas)
        assert len(faces) == 2
        assert faces[0].area > faces[1].area and faces[0].center[0] < 300 < faces[1].center[0]
        assert det(np.full((256, 256, 3), 90, np.uint8)) == []
        with pytest.raises(ValueError, match="RGB uint8"):
            det(np.zeros((64, 64), np.float32))


def test_smoothing_removes_jitter_without_lagging_the_mouth():
    rng = np.random.default_rng(0)
    T, fps = 100, 25.0
    base = rng.uniform(100, 300, (478, 3)).astype(np.float32)
    base[:, 0] = np.linspace(100, 300, 478)  # face ~200 px wide
    clean = np.repeat(base[None], T, 0)
    mouth = np.array(topo.MOUTH)
    clean[50:, mouth, 1] += 15.0  # the mouth opens in one frame
    noisy = clean + rng.normal(0, 1.0, clean.shape).astype(np.float32)
    sm = L.smooth_landmarks(noisy, fps)
    oval = np.array(topo.FACE_OVAL)
    assert np.std(sm[:40, oval] - clean[:40, oval]) < 0.5 * np.std(noisy[:40, oval] - clean[:40, oval])
    # within 2 frames of the jump the lips are > 80% of the way (no lag)
    jump = (sm[52, mouth, 1] - clean[40, mouth, 1]).mean()
    assert jump > 12.0
    # and not ahead of time by much (zero-phase filter: symmetric, small pre-echo)
    assert (sm[47, mouth, 1] - clean[40, mouth, 1]).mean() < 3.0


def test_interpolate_missing():
    pts = np.zeros((5, 2, 1), np.float32)
    pts[:, 0, 0] = [0, 99, 2, 99, 99]
    valid = np.array([True, False, True, False, False])
    out = L.interpolate_missing(pts, valid)
    np.testing.assert_allclose(out[:, 0, 0], [0, 1, 2, 2, 2])
    with pytest.raises(ValueError, match="no valid"):
        L.interpolate_missing(pts, np.zeros(5, bool))

