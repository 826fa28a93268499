
import cv2
import numpy as np
import pytest
from face_samples import face_512

from emogs.data.schema import FLOW_STRIDE
from emogs.emotion.au_mesh import LIPS
from emogs.emotion.edit import EmotionalFrameConfig, EmotionalFrameGenerator, face_rectangles
from emogs.emotion.va_model import emotion_to_va
from emogs.face.eye_layer import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR

L = list(LIPS)
BROWS = [105, 334, 107, 336]
CHEEKS = [50, 280, 117, 346, 101, 330]


@pytest.fixture(scope="module")
def face():
    return face_512()


@pytest.fixture(scope="module")
def gen():
    return EmotionalFrameGenerator()


def _lip_mask(pts, size):
    m = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(pts[L, :2].astype(np.float32)).astype(np.int32), 1)
    return m > 0


@pytest.mark.parametrize("emotion", ["happy:strong", "angry:strong", "sad:strong", "surprise:strong"])
def test_lips_fixed(face, gen, emotion):
    crop, pts, det = face
    out, p2 = gen(crop, pts, emotion_to_va(emotion))
    assert out.shape == crop.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(p2[L], pts[L].astype(np.float32))  # returned lip landmarks: exact
    diff = np.abs(out.astype(int) - crop.astype(int)).max(-1)
    lip = _lip_mask(pts, 512)
    # lip pixels preserved: OpenCV's Poisson solver drifts colours by ~1-2 levels, no more
    assert diff[lip].mean() < 2.5, diff[lip].mean()
    # and geometrically: the backward warp moves no lip pixel by more than half a pixel
    va = emotion_to_va(emotion)
    d, rects = gen.displacement(pts, va, 512)
    mx, my = gen.warp_field(pts, d, rects, 512, gen.lip_field(pts, va))
    yy, xx = np.mgrid[0:512, 0:512]
    assert np.hypot(mx - xx, my - yy)[lip].max() < 0.5
    assert np.abs(p2 - pts).max() > 2.0  # something did move
    # MediaPipe re-detected on the output: lips stay put (the detector sees the whole changed face,
    # so allow its context jitter: mean <= 1.5 px, each point <= 3 px)
    d = np.linalg.norm(det(out)[0].points[L, :2] - det(crop)[0].points[L, :2], axis=1)
    assert d.mean() < 1.5 and d.max() < 3.0, (d.mean(), d.max())


def test_expected_directions(face, gen):
    crop, pts, det = face
    base = det(crop)[0].points
    dy = {}
    for e in ("angry:strong", "surprise:strong", "happy:strong", "tired:strong"):
        out, p2 = gen(crop, pts, emotion_to_va(e))
        dy[e] = (p2[:, 1] - pts[:, 1], det(out)[0].points[:, 1] - base[:, 1])
    ret, red = dy["angry:strong"]
    assert ret[BROWS].mean() > 2.0 and red[BROWS].mean() > 1.5  # AU4 lowers the brows (y down)
    ret, red = dy["surprise:strong"]
    assert ret[BROWS].mean() < -5.0 and red[BROWS].mean() < -5.0  # AU1+AU2 raise them
    ret, _ = dy["happy:strong"]
    assert ret[CHEEKS].mean() < -1.5  # AU6 / AU12 raise the cheeks
    ret, _ = dy["tired:strong"]
    assert ret[[159, 386]].mean() > 2.0  # upper lids droop


def test_neutral_is_identity_and_no_seams(face, gen):
    crop, pts, _ = face
    out, p2 = gen(crop, pts, [0.0, 0.0])
    np.testing.assert_array_equal(out, crop)
    out, _ = gen(crop, pts, emotion_to_va("angry:strong"))
    rects = face_rectangles(pts, 512)
    outside = np.ones((512, 512), bool)
    for x0, y0, x1, y1 in rects:
        outside[y0:y1, x0:x1] = False
        # no seam: along the rectangle border the output equals the frame (Poisson boundary)
        ring = np.abs(out[y0, x0:x1].astype(int) - crop[y0, x0:x1].astype(int))
        assert ring.mean() < 2.0
    assert np.abs(out.astype(int) - crop.astype(int))[outside].max() == 0


def test_flow_is_the_motion_of_the_edit(face, gen):
    """flow.npy's field carries each moved landmark by its displacement, the lips and everything
    outside the rectangles by nothing; a neutral edit has zero flow."""
    from scipy.ndimage import map_coordinates

    crop, pts, _ = face
    va = emotion_to_va("surprise:strong")
    out, p2, flow = gen(crop, pts, va, return_flow=True)
    assert flow.shape == (512 // FLOW_STRIDE, 512 // FLOW_STRIDE, 2) and flow.dtype == np.float32
    np.testing.assert_array_equal(out, gen(crop, pts, va)[0])  # same image with or without the flow

    def at(xy):  # bilinear sample of the coarse field at pixel positions (cell i centred on 4i+2)
        g = (np.asarray(xy, np.float64) - FLOW_STRIDE / 2) / FLOW_STRIDE
        return np.stack([map_coordinates(flow[..., c], [g[:, 1], g[:, 0]], order=1) for c in (0, 1)], 1)

    d = (p2 - pts)[:, :2]
    moved = np.linalg.norm(d, axis=1) > 3.0
    assert moved[BROWS].all()
    # the eye contours lie on the edge between moving lids and still eyeballs: checked below
    moved[list(RIGHT_EYE_CONTOUR + LEFT_EYE_CONTOUR)] = False
    err = np.linalg.norm(at(p2[moved, :2]) - d[moved], axis=1)
    assert np.isfinite(err).mean() > 0.9  # (points beside painted eyeball sample its NaN: unknown)
    err = err[np.isfinite(err)]
    # (the few points where the field turns sharply lose detail to the 4x area average)
    assert np.median(err) < 0.5 and np.percentile(err, 90) < 1.5, (np.median(err), np.percentile(err, 90))
    for contour in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):  # the eyeballs inside the new openings
        m = np.zeros((512, 512), np.uint8)
        cv2.fillPoly(m, [np.round(p2[list(contour), :2]).astype(np.int32)], 1)
        core = cv2.erode(m, np.ones((9, 9), np.uint8))
        core = core[FLOW_STRIDE // 2 :: FLOW_STRIDE, FLOW_STRIDE // 2 :: FLOW_STRIDE]
        inner = flow[core > 0]  # seen eyeball: 0; painted eyeball the lids uncovered: NaN
        assert np.isfinite(inner).sum() > 3 and np.nanmax(np.abs(inner)) < 0.05
    assert np.linalg.norm(at(p2[L, :2]), axis=1).max() < 0.5  # lips: still
    rects = face_rectangles(pts, 512)
    inside = np.zeros(flow.shape[:2], bool)
    for x0, y0, x1, y1 in rects:
        inside[y0 // FLOW_STRIDE: -(-y1 // FLOW_STRIDE), x0 // FLOW_STRIDE: -(-x1 // FLOW_STRIDE)] = True
    assert np.abs(flow[~inside]).max() == 0
    assert not np.any(gen(crop, pts, [0.0, 0.0], return_flow=True)[2])


def test_bad_input(gen, face):
    crop, pts, _ = face
    with pytest.raises(ValueError, match="square RGB uint8"):
        gen(crop[:, :300], pts, [0.5, 0.5])
    with pytest.raises(ValueError, match="478, 3"):
        gen(crop, pts[:468], [0.5, 0.5])


def test_lip_corner_mode_keeps_the_opening(face):
    from emogs.emotion.edit import EmotionalFrameConfig

    crop, pts, _ = face
    gen = EmotionalFrameGenerator(EmotionalFrameConfig(lip_corners=1.0))
    out, p2 = gen(crop, pts, emotion_to_va("happy:strong"))
    assert (p2[[61, 291], 1] - pts[[61, 291], 1]).max() < -3.0  # AU12 lifts the mouth corners
    for a, b in [(13, 14), (82, 87), (312, 317), (0, 17)]:  # upper / lower lip pairs
        before = np.linalg.norm(pts[a, :2] - pts[b, :2])
        assert abs(np.linalg.norm(p2[a, :2] - p2[b, :2]) - before) < 0.5
    np.testing.assert_allclose(p2[[0, 13, 14, 17], :2], pts[[0, 13, 14, 17], :2], atol=0.3)  # centre stays


def test_rest_relative_aus(face):
    """With a rest V/A the applied AUs are target minus rest: the rest itself is the identity, and a
    sad target on a smiling person also takes the smile away (negative AU06 / AU12)."""
    from emogs.emotion.edit import EmotionalFrameConfig

    crop, pts, _ = face
    rest = (0.74, 0.31)
    gen = EmotionalFrameGenerator(EmotionalFrameConfig(rest_va=rest))
    out, p2 = gen(crop, pts, rest)
    np.testing.assert_array_equal(out, crop)
    aus = gen.target_aus(emotion_to_va("sad:strong"))
    assert aus["AU06"] < -1.0 and aus["AU12"] < -1.0 and aus["AU15"] > 1.0
    plain = EmotionalFrameGenerator().target_aus(emotion_to_va("sad:strong"))
    assert plain["AU06"] == 0.0 and plain["AU12"] == 0.0


def test_raised_lids_uncover_eyeball_not_smudged_lashes(face, gen):
    """Surprise raises the upper lids: the band they uncover is painted eyeball (bright sclera
    beside the iris), where a plain warp stretched the dark lid and lashes over it (the old
    smudge); its motion is unknown (NaN flow) and the seen eyeball does not move."""
    crop, pts, _ = face
    va = emotion_to_va("surprise:strong")
    out, p2, flow = gen(crop, pts, va, return_flow=True)
    plain = EmotionalFrameGenerator(EmotionalFrameConfig(eye_layer=False))(crop, pts, va)[0]
    lum = lambda im: im.astype(float).mean(-1)  # noqa: E731
    for contour in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):
        old, new = (np.zeros((512, 512), np.uint8) for _ in range(2))
        cv2.fillPoly(old, [np.round(pts[list(contour), :2]).astype(np.int32)], 1)
        cv2.fillPoly(new, [np.round(p2[list(contour), :2]).astype(np.int32)], 1)
        band = (new > 0) & ~cv2.dilate(old, np.ones((5, 5), np.uint8)).astype(bool)
        assert band.sum() > 20, band.sum()
        now, before = lum(out)[band].mean(), lum(plain)[band].mean()
        assert now > before + 15, (now, before)
        cells = band[FLOW_STRIDE // 2 :: FLOW_STRIDE, FLOW_STRIDE // 2 :: FLOW_STRIDE]
        assert np.isnan(flow[cells]).all()
    assert np.isfinite(flow).mean() > 0.99


def test_closed_eyes_stay_closed(face, gen):
    """A blink frame: lids that touch carry (almost) none of the AU motion, so surprise does not
    open a closed eye into painted eyeball."""
    crop, pts, _ = face
    va = emotion_to_va("surprise:strong")
    d_open = gen.displacement(pts, va, 512)[0]
    shut = pts.copy()
    for contour in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):  # upper lid onto the lower lid
        c = list(contour)
        shut[c[9:], :2] = shut[c[1:8], :2][::-1]
    d_shut = gen.displacement(shut, va, 512)[0]
    lids = [c[12] for c in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR)]
    assert np.linalg.norm(d_open[lids], axis=1).min() > 1.0
    assert np.linalg.norm(d_shut[lids], axis=1).max() < 0.1 * np.linalg.norm(d_open[lids], axis=1).min()


def test_nothing_crosses_the_face_outline(face, gen):
    """Cheek motion fades out inside the face outline: no warp (flow 0) outside it, so the jaw
    line does not wave where the mouth rectangle reaches past it."""
    crop, pts, _ = face
    from emogs.emotion.au_mesh import FACE_OVAL

    hull = cv2.convexHull(pts[list(FACE_OVAL), :2].astype(np.float32))[:, 0]
    inside = np.zeros((512, 512), np.uint8)
    cv2.fillPoly(inside, [np.round(hull).astype(np.int32)], 1)
    outside = ~cv2.dilate(inside, np.ones((9, 9), np.uint8)).astype(bool)
    for e in ("angry:strong", "happy:strong", "sad:strong"):
        flow = gen(crop, pts, emotion_to_va(e), return_flow=True)[2]
        cells = outside[FLOW_STRIDE // 2 :: FLOW_STRIDE, FLOW_STRIDE // 2 :: FLOW_STRIDE]
        assert np.abs(flow[cells]).max() == 0, e
        assert np.nanmax(np.abs(flow[~cells])) > 1.0  # (the face itself did move)
