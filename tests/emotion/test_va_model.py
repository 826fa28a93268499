import numpy as np
import pytest

from emogs.emotion.va_model import (
    EMOTION_PROTOTYPES,
    VA_AU_NAMES,
    aus_to_va,
    circle_targets,
    emotion_to_va,
    nearest_emotion,
    va_to_aus,
)


def test_prototypes_documented_facs():
    au = lambda n: EMOTION_PROTOTYPES[n][2]  # noqa: E731
    assert {"AU06", "AU12"} <= set(au("happy"))
    assert {"AU01", "AU02", "AU05", "AU26"} <= set(au("surprise"))
    assert {"AU04", "AU05", "AU07", "AU23"} <= set(au("angry"))
    assert {"AU01", "AU04", "AU15"} <= set(au("sad"))
    for v, a, _ in EMOTION_PROTOTYPES.values():
        assert abs(np.hypot(v, a) - 1) < 1e-3


def test_va_to_aus_at_prototypes_and_radius():
    for name, (v, a, aus) in EMOTION_PROTOTYPES.items():
        d = va_to_aus([v, a], as_dict=True)
        for k in VA_AU_NAMES:
            assert d[k] == pytest.approx(aus.get(k, 0.0), abs=1e-3), (name, k)
        half = va_to_aus([0.5 * v, 0.5 * a])
        np.testing.assert_allclose(half, 0.5 * va_to_aus([v, a]), atol=1e-9)
    np.testing.assert_allclose(va_to_aus([0.0, 0.0]), 0.0)
    # radius clipped to 1
    np.testing.assert_allclose(va_to_aus([2.0, 0.0]), va_to_aus([1.0, 0.0]))


def test_va_to_aus_names_and_batch():
    names = ["AU01", "AU04", "AU12", "AU45"]
    out = va_to_aus(circle_targets(12), names=names)
    assert out.shape == (12, 4)
    assert np.all(out[:, 3] == 0)  # blink is not an emotion AU
    happy = va_to_aus([0.74, 0.31], names=names)
    assert happy[2] > 2.0 and happy[1] < 0.5
    angry = va_to_aus([-0.31, 0.74], names=names)
    assert angry[1] > 2.0 and angry[2] < 0.5


def test_round_trip():
    rng = np.random.default_rng(0)
    r = rng.uniform(0.2, 1.0, 200)
    t = rng.uniform(0, 2 * np.pi, 200)
    va = np.stack([r * np.cos(t), r * np.sin(t)], -1)
    back = aus_to_va(va_to_aus(va))
    assert np.abs(back - va).max() < 0.02
    # a dict in, with a subset of names
    d = va_to_aus([0.5, 0.5], as_dict=True)
    np.testing.assert_allclose(aus_to_va(d), [0.5, 0.5], atol=0.02)


def test_emotion_names():
    np.testing.assert_allclose(np.linalg.norm(emotion_to_va("happy:strong")), 0.95, atol=1e-3)
    assert np.linalg.norm(emotion_to_va("sad:mild")) < np.linalg.norm(emotion_to_va("sad"))
    np.testing.assert_allclose(np.linalg.norm(emotion_to_va("angry:0.6")), 0.6, atol=1e-3)
    assert emotion_to_va("Happiness")[0] > 0.5
    np.testing.assert_allclose(emotion_to_va("neutral"), 0)
    assert nearest_emotion(emotion_to_va("fear:strong")) == "fear"
    with pytest.raises(ValueError, match="unknown emotion"):
        emotion_to_va("grumpy")
    with pytest.raises(ValueError, match="intensity"):
        emotion_to_va("happy:extreme")
    with pytest.raises(ValueError, match="outside"):
        emotion_to_va("happy:1.5")


def test_circle_targets_protocol():
    t = circle_targets(12)
    assert t.shape == (12, 2)
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 0.8)
    assert np.abs(t - [0.74, 0.31]).sum(1).min() < 0.01
    assert np.abs(t - [-0.31, 0.74]).sum(1).min() < 0.01
    with pytest.raises(ValueError):
        va_to_aus([1.0, 2.0, 3.0])
