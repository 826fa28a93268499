import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from emogs.emotion.emonet import EmoNet, load_emonet
from emogs.emotion.judge import EmotionJudge


def _small(seed=0, n_expression=8):
    torch.manual_seed(seed)
    net = EmoNet(n_expression=n_expression, num_modules=2, features=32).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


def test_forward_shapes_and_grad():
    net = _small()
    x = torch.rand(2, 3, 256, 256, requires_grad=True)
    out = net(x)
    assert out["heatmap"].shape == (2, 68, 64, 64)
    assert out["expression"].shape == (2, 8) and out["valence"].shape == (2,) and out["arousal"].shape == (2,)
    (out["valence"].sum() + out["arousal"].sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("fmt", ["pth", "safetensors", "wrapped"])
def test_loader_round_trip(tmp_path, fmt):
    net = _small(1, n_expression=5)
    sd = net.state_dict()
    p = tmp_path / f"emonet.{'safetensors' if fmt == 'safetensors' else 'pth'}"
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in sd.items()}, str(p))
    elif fmt == "wrapped":
        torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, p)
    else:
        torch.save(sd, p)
    loaded = load_emonet(p)
    assert loaded.n_expression == 5
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        a, b = net(x), loaded(x)
    for k in ("expression", "valence", "arousal"):
        torch.testing.assert_close(a[k], b[k])


def test_loader_errors(tmp_path):
    p = tmp_path / "bad.pth"
    torch.save({"foo": torch.zeros(1)}, p)
    with pytest.raises(ValueError, match="not an EmoNet checkpoint"):
        load_emonet(p)
    sd = _small().state_dict()
    sd.pop("emo_fc_2.0.weight")
    torch.save(sd, p)
    with pytest.raises(ValueError, match="key mismatch"):
        load_emonet(p)
    torch.save({"state_dict": sd, "cfg": _Obj()}, p)  # a pickle carrying a custom object
    with pytest.raises(ValueError, match="weights_only"):
        load_emonet(p)
    with pytest.raises(FileNotFoundError):
        load_emonet(tmp_path / "none.pth")


class _Obj:
    pass


def test_judge_emonet_backend(tmp_path):
    net = _small(2)
    p = tmp_path / "e.pth"
    torch.save(net.state_dict(), p)
    judge = EmotionJudge(backend="emonet", weights=p)
    img = (np.random.default_rng(0).uniform(0, 255, (300, 300, 3))).astype(np.uint8)
    r = judge(img, face_bbox=(40, 40, 260, 260))
    assert r.probs.shape == (8,) and r.va.shape == (2,) and len(r.top3) == 3
    assert r.classes[1] == "happy"
    with pytest.raises(ValueError, match="needs weights"):
        EmotionJudge(backend="emonet")
