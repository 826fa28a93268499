"""BiSeNet face parser: checkpoint layout, loading (safe, strict, with clear errors), inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emogs.data.schema import CLASS_NAMES
from preprocess.bisenet import (
    BISENET_CLASSES,
    TO_EMOGS,
    BiSeNet,
    bisenet_logits,
    load_bisenet,
    parse_with_bisenet,
)
from preprocess.errors import BadWeightsError
from preprocess.parsing import FaceParser

# tensor shapes of the public 19-class face-parsing checkpoint (79999_iter.pth)
CHECKPOINT_SHAPES = {
    "cp.resnet.conv1.weight": (64, 3, 7, 7),
    "cp.resnet.layer1.0.conv1.weight": (64, 64, 3, 3),
    "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "cp.resnet.layer3.0.downsample.1.running_var": (256,),
    "cp.resnet.layer4.1.conv2.weight": (512, 512, 3, 3),
    "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
    "cp.arm16.conv_atten.weight": (128, 128, 1, 1),
    "cp.arm32.bn_atten.weight": (128,),
    "cp.conv_head32.conv.weight": (128, 128, 3, 3),
    "cp.conv_head16.bn.running_mean": (128,),
    "cp.conv_avg.conv.weight": (128, 512, 1, 1),
    "ffm.convblk.conv.weight": (256, 256, 1, 1),
    "ffm.conv1.weight": (64, 256, 1, 1),
    "ffm.conv2.weight": (256, 64, 1, 1),
    "conv_out.conv.conv.weight": (256, 256, 3, 3),
    "conv_out.conv_out.weight": (19, 256, 1, 1),
    "conv_out16.conv.conv.weight": (64, 128, 3, 3),
    "conv_out32.conv_out.weight": (19, 64, 1, 1),
}


def _small(seed: int = 0) -> BiSeNet:
    torch.manual_seed(seed)
    m = BiSeNet(width=8, mid=16)
    for mod in m.modules():  # non-trivial BatchNorm statistics, so loading them matters
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return m.eval()


def test_full_size_layout_matches_the_checkpoint():
    sd = BiSeNet().state_dict()
    for k, shape in CHECKPOINT_SHAPES.items():
        assert tuple(sd[k].shape) == shape, k
    assert not any(k.startswith("sp.") for k in sd)  # the checkpoint has no separate spatial path
    n = sum(v.numel() for k, v in sd.items() if v.dtype.is_floating_point and "running" not in k)
    assert 13.0e6 < n < 13.6e6
    assert len(TO_EMOGS) == len(BISENET_CLASSES) == 19 and TO_EMOGS.max() < len(CLASS_NAMES)


def test_forward_shapes_and_spatial_path_variant():
    x = torch.randn(1, 3, 64, 64)
    for sp in ("res8", "conv"):
        torch.manual_seed(0)
        m = BiSeNet(width=8, mid=16, spatial_path=sp).eval()
        out, a16, a32 = m(x, aux=True)
        assert out.shape == a16.shape == a32.shape == (1, 19, 64, 64)
        assert torch.isfinite(out).all()


def test_save_load_roundtrip_reproduces_outputs(tmp_path):
    m = _small()
    torch.save(m.state_dict(), tmp_path / "w.pth")
    # DataParallel prefixes and a wrapping {"state_dict": ...} are accepted too
    torch.save({"state_dict": {f"module.{k}": v for k, v in m.state_dict().items()}}, tmp_path / "dp.pth")
    rgb = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    ref = bisenet_logits(m, rgb, input_size=64)
    for name in ("w.pth", "dp.pth"):
        loaded = load_bisenet(tmp_path / name)
        torch.testing.assert_close(bisenet_logits(loaded, rgb, input_size=64), ref)
    labels = parse_with_bisenet(loaded, rgb, input_size=64)
    assert labels.shape == (96, 96) and labels.dtype == np.uint8
    expect = TO_EMOGS[ref.argmax(0).numpy()]
    import cv2

    np.testing.assert_array_equal(labels, cv2.resize(expect, (96, 96), interpolation=cv2.INTER_NEAREST))


def test_class_mapping():
    to = dict(zip(BISENET_CLASSES, TO_EMOGS))
    names = dict(enumerate(CLASS_NAMES))
    assert names[to["skin"]] == "skin" and names[to["nose"]] == "skin" and names[to["l_ear"]] == "skin"
    assert names[to["l_brow"]] == names[to["r_brow"]] == "brows"
    assert names[to["u_lip"]] == names[to["l_lip"]] == "lips"
    assert names[to["mouth"]] == "mouth" and names[to["hair"]] == "hair"
    assert (
        names[to["neck"]] == "neck"
        and names[to["cloth"]] == "torso"
        and names[to["background"]] == "background"
    )


def test_wrong_weight_files_have_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="do not exist"):
        load_bisenet(tmp_path / "nope.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(BadWeightsError, match="cannot be loaded"):
        load_bisenet(tmp_path / "text.pth")
    # a pickled module (not a state dict) is refused by the safe loader
    torch.save(_small(), tmp_path / "module.pth")
    with pytest.raises(BadWeightsError, match="cannot be loaded|not a state dict"):
        load_bisenet(tmp_path / "module.pth")
    # another network's state dict
    torch.save(torch.nn.Linear(3, 4).state_dict(), tmp_path / "linear.pth")
    with pytest.raises(BadWeightsError, match="missing keys"):
        load_bisenet(tmp_path / "linear.pth")
    # right keys, wrong class count
    sd = _small().state_dict()
    sd["conv_out.conv_out.weight"] = torch.zeros(11, 32, 1, 1)
    torch.save(sd, tmp_path / "classes.pth")
    with pytest.raises(BadWeightsError, match="wrong shape"):
        load_bisenet(tmp_path / "classes.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(BadWeightsError, match="not a state dict"):
        load_bisenet(tmp_path / "list.pth")


def test_face_parser_bisenet_backend(tmp_path):
    torch.save(_small(1).state_dict(), tmp_path / "w.pth")
    parser = FaceParser(backend="bisenet", weights=str(tmp_path / "w.pth"))
    rgb = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    labels = parser(rgb, np.zeros((478, 3), np.float32))
    assert labels.shape == (64, 64) and labels.dtype == np.uint8 and labels.max() < len(CLASS_NAMES)
    with pytest.raises(ValueError, match="needs weights"):
        FaceParser(backend="bisenet")
    with pytest.raises(ValueError, match="unknown parsing backend"):
        FaceParser(backend="deeplab")
