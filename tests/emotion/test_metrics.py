import cv2
import numpy as np
import pytest
from skimage import data

from emogs.emotion.au_mesh import LIPS
from emogs.emotion.judge import EmotionJudge
from emogs.emotion.metrics import (
    emotion_conditioned_eval,
    lip_mask,
    lip_preservation,
    mouth_swapped,
    plot_va_circle,
    va_scores,
)
from emogs.emotion.va_model import circle_targets


def test_va_scores_by_hand():
    t = np.array([[0.5, 0.5], [-0.5, 0.5], [0.5, -0.5]])
    j = np.array([[0.3, 0.4], [0.1, 0.6], [0.4, 0.2]])
    s = va_scores(t, j)
    assert s["V_RMSE"] == pytest.approx(np.sqrt((0.04 + 0.36 + 0.01) / 3))
    assert s["A_RMSE"] == pytest.approx(np.sqrt((0.01 + 0.01 + 0.49) / 3))
    assert s["V_SA"] == pytest.approx(2 / 3) and s["A_SA"] == pytest.approx(2 / 3)


def test_protocol_with_real_judge(tmp_path):
    face = data.astronaut()
    box = (170, 40, 300, 200)
    judge = EmotionJudge()
    ref = judge(face, face_bbox=box)
    calls = []

    def render(va):  # a "renderer" that ignores the emotion: the judged V/A is constant
        calls.append(va)
        return [face, face]

    class BoxJudge:
        backend = "fer"

        def __call__(self, rgb, face_bbox=None, points478=None):
            return judge(rgb, face_bbox=[box] * len(rgb))

    r = emotion_conditioned_eval(render, BoxJudge(), circle_targets(12))
    assert len(calls) == 12 and len(r["per_target"]) == 12
    judged = np.array([p["judged"] for p in r["per_target"]])
    np.testing.assert_allclose(judged, np.repeat(ref.va[None], 12, 0), atol=1e-6)
    t = circle_targets(12)
    assert r["V_SA"] == pytest.approx(np.mean(np.sign(t[:, 0]) == np.sign(ref.va[0])))
    # the smiling astronaut: top-3 contains happy, so exactly the targets whose class is happy hit
    hits = [p["hit"] for p in r["per_target"]]
    assert any(hits) and not all(hits)
    assert 0 < r["E_Acc_top3"] < 1
    png = plot_va_circle(t, judged, tmp_path / "c.png", title="test")
    img = cv2.imread(str(png))
    assert img.shape == (512, 512, 3) and (img[..., 2] > 200).sum() > 0


def test_lip_preservation():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 512, (5, 478, 3))
    b = a.copy()
    b[:, 61, 0] += 3.0  # a mouth corner moves 3 px
    b[:, 10, 1] += 50.0  # forehead: not a lip landmark
    r = lip_preservation(a, b)
    assert r["max_px"] == pytest.approx(3.0) and r["mean_px"] == pytest.approx(3.0 / 40)
    with pytest.raises(ValueError):
        lip_preservation(a, b[:, :468])


def test_mouth_swapped_puts_back_exactly_the_neutral_mouth():
    """The detector-floor image: lips (and `grow_px` around them) are the neutral render's pixels, the
    face beyond twice that is the emotional render's, a feathered band between."""
    rng = np.random.default_rng(2)
    lm = rng.uniform(0, 128, (478, 2))
    ring = np.linspace(0, 2 * np.pi, len(LIPS), endpoint=False)
    lm[list(LIPS)] = np.stack([64 + 20 * np.cos(ring), 90 + 8 * np.sin(ring)], 1)  # a mouth-shaped ellipse
    neutral = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    emotional = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    hard = lip_mask(lm, (128, 128))
    assert hard[90, 64] == 1 and hard[90, 90] == 0 and hard[60, 64] == 0 and set(np.unique(hard)) == {0, 1}
    out = mouth_swapped(emotional, neutral, lm, grow_px=4)
    assert np.array_equal(out[90, 40:89], neutral[90, 40:89])  # the hull and 4 px around it
    assert np.array_equal(out[:70], emotional[:70])  # far above the mouth
    # 6 px right of the hull: half-way through the feather, an even blend of the two
    x = int(np.flatnonzero(hard[90]).max()) + 6
    n, e = neutral[90, x].astype(float), emotional[90, x].astype(float)
    np.testing.assert_allclose(out[90, x], (n + e) / 2, atol=1.0)


def test_motion_fidelity_scores_full_half_and_no_motion():
    from emogs.emotion.metrics import motion_fidelity

    rng = np.random.default_rng(0)
    neutral = rng.uniform(100, 400, (5, 478, 3))
    intended = np.zeros((5, 478, 2))
    idx = [10, 20, 30, 40]
    intended[:, idx] = rng.normal(0, 4, (5, 4, 2))
    full = neutral.copy()
    full[..., :2] += intended
    r = motion_fidelity(neutral, full, intended, idx)
    assert r["error_px"] < 1e-9 and abs(r["gain"] - 1) < 1e-9 and r["correlation"] > 0.999
    half = neutral.copy()
    half[..., :2] += 0.5 * intended
    r = motion_fidelity(neutral, half, intended, idx)
    assert abs(r["gain"] - 0.5) < 1e-9 and abs(r["rendered_px"] - 0.5 * r["intended_px"]) < 1e-9
    r = motion_fidelity(neutral, neutral, intended, idx)
    assert r["gain"] == 0 and abs(r["error_px"] - r["intended_px"]) < 1e-9 and np.isnan(r["correlation"])
    with pytest.raises(ValueError, match="478"):
        motion_fidelity(neutral, neutral[:3], intended, idx)


def test_opening_preservation_sees_the_opening_not_the_outline():
    from emogs.emotion.metrics import opening_preservation
    from emogs.face.topology import LIP_GAP_PAIRS

    rng = np.random.default_rng(0)
    a = rng.uniform(100, 400, (4, 478, 2))
    lower = [j for _, j in LIP_GAP_PAIRS]
    a[:, lower, 1] += np.arange(4)[:, None] * 3.0  # the mouth opens more from frame to frame
    b = a.copy()
    b[:, [61, 291, 0, 17], :] += 9.0  # corners / outline moved: not the opening
    r = opening_preservation(a, b)
    assert r["mean_abs_diff_px"] == 0.0 and r["correlation"] == pytest.approx(1.0) and r["pairs"] == 4
    b[:, lower, 1] += 2.0  # every lower inner-lip point 2 px lower (straight down)
    r = opening_preservation(a, b)
    assert 0.5 < r["mean_abs_diff_px"] <= 2.0 + 1e-9
    with pytest.raises(ValueError, match="equal shape"):
        opening_preservation(a, b[:2])


def test_va_circle_coverage():
    from emogs.emotion.metrics import va_circle_coverage

    smile = np.tile([[0.73, 0.31]], (100, 1))  # the demo: one expression all along
    c = va_circle_coverage(smile)
    assert c["coverage"] == pytest.approx(1 / 12) and c["expressive"] == 1.0 and c["spread"] < 1e-9
    # crying to laughing: a path through the lower left, the centre and the upper right
    t = np.linspace(0, 1, 200)[:, None]
    path = (1 - t) * np.array([-0.7, -0.3]) + t * np.array([0.74, 0.31])
    c = va_circle_coverage(path)
    assert c["coverage"] == pytest.approx(2 / 12) and 0.5 < c["expressive"] < 1.0 and c["spread"] > 0.3
    assert va_circle_coverage(np.zeros((5, 2)))["coverage"] == 0.0  # neutral only
    ring = np.stack([np.cos(np.linspace(0, 2 * np.pi, 360, endpoint=False)),
                     np.sin(np.linspace(0, 2 * np.pi, 360, endpoint=False))], 1) * 0.8
    assert va_circle_coverage(ring)["coverage"] == 1.0
    with pytest.raises(ValueError, match=r"\[T, 2\]"):
        va_circle_coverage(np.zeros(3))
