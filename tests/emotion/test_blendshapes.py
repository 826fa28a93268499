import numpy as np
import pytest
from skimage import data

from emogs.emotion.blendshapes import (
    AU_BLENDSHAPES,
    BLENDSHAPE_NAMES,
    BlendshapeDetector,
    au_cues,
    blendshape_sign_agreement,
    expected_changes,
    judge_with_blendshapes,
)
from emogs.emotion.va_model import circle_targets, emotion_to_va


def _scores(**named):
    s = np.zeros(len(BLENDSHAPE_NAMES))
    for k, v in named.items():
        s[BLENDSHAPE_NAMES.index(k)] = v
    return s


def test_detector_sees_the_astronauts_smile():
    with BlendshapeDetector() as det:
        s = det(data.astronaut())
        assert s.shape == (52,) and det.landmarks.shape == (478, 3)
        smile = au_cues(s)["AU12"]
        assert smile > 0.5, smile
        assert au_cues(s)["AU15"] < 0.1  # no frown
        # no face: NaN, not zeros
        assert np.isnan(det(np.full((256, 256, 3), 128, np.uint8))).all()
        assert det.landmarks is None
        with pytest.raises(ValueError, match="uint8"):
            det(data.astronaut().astype(np.float32))


def test_table_maps_real_blendshapes():
    for names in AU_BLENDSHAPES.values():
        assert all(n in BLENDSHAPE_NAMES for n in names)


def test_expected_changes_follow_the_prototypes():
    sad = expected_changes(emotion_to_va("sad:strong"))
    assert sad["AU01"] > 0 and sad["AU15"] > 0 and "AU12" not in sad
    # from a smiling rest a sad target expects the smile to go
    sad_from_smile = expected_changes(emotion_to_va("sad:strong"), rest_va=emotion_to_va("happy:strong"))
    assert sad_from_smile["AU12"] < 0 and "AU06" not in sad_from_smile  # cheekSquint: not observable
    assert expected_changes(emotion_to_va("happy:strong"), rest_va=emotion_to_va("happy:strong")) == {}
    assert expected_changes((0.0, 0.0)) == {}


def test_sign_agreement_math():
    t = np.array([emotion_to_va("sad:strong"), emotion_to_va("angry:strong")])
    neutral = np.stack([_scores(mouthSmileLeft=0.5, mouthSmileRight=0.5)] * 2)
    # sad: inner brows up, frown, chin; angry: brows down, but the lids barely tighten
    sad = _scores(browInnerUp=0.4, mouthFrownLeft=0.3, mouthFrownRight=0.3, browDownLeft=0.2,
                  browDownRight=0.2, mouthShrugLower=0.1, mouthSmileLeft=0.5, mouthSmileRight=0.5)
    angry = _scores(browDownLeft=0.6, browDownRight=0.6, eyeSquintLeft=0.01, eyeSquintRight=0.01,
                    eyeWideLeft=0.3, eyeWideRight=0.3, mouthSmileLeft=0.5, mouthSmileRight=0.5)
    res = blendshape_sign_agreement(neutral, np.stack([sad, angry]), t)
    cues = [p["cues"] for p in res["per_target"]]
    # antagonists: AU01 outweighs AU04 in sad, AU07 outweighs AU05 in angry; AU23 has no blendshape
    assert set(cues[0]) == {"AU01", "AU15", "AU17"}
    assert res["per_target"][0]["agreement"] == 1.0
    assert set(cues[1]) == {"AU04", "AU07"}
    assert cues[1]["AU07"][1:] == (0.01, False)  # below min_change: not a move
    assert res["per_target"][1]["agreement"] == 0.5
    assert res["scored"] == 5 and res["sign_agreement"] == pytest.approx(4 / 5)
    # the same frames judged against a smiling rest: the smile that stayed counts against both
    rel = blendshape_sign_agreement(neutral, np.stack([sad, angry]), t, rest_va=emotion_to_va("happy:strong"))
    assert rel["per_target"][0]["cues"]["AU12"][1:] == (0.0, False)
    assert rel["sign_agreement"] < res["sign_agreement"]
    # [N, F, 52] frames per target are averaged; a missed face (NaN) disagrees
    e3 = np.stack([np.stack([sad, sad]), np.stack([angry, np.full(52, np.nan)])])
    res3 = blendshape_sign_agreement(np.stack([neutral] * 2, 1), e3, t)
    assert res3["per_target"][0]["agreement"] == 1.0 and res3["per_target"][1]["agreement"] == 0.0
    with pytest.raises(ValueError, match="targets"):
        blendshape_sign_agreement(neutral, np.stack([sad, angry]), circle_targets(12))


def test_judge_with_blendshapes_on_images():
    img = data.astronaut()
    same = judge_with_blendshapes([img], [[img]], np.array([emotion_to_va("sad:strong")]))
    assert same["scored"] == 3 and same["sign_agreement"] == 0.0  # nothing moved
    with pytest.raises(ValueError, match="targets"):
        judge_with_blendshapes([img], [[img], [img]], np.array([emotion_to_va("sad:strong")]))
