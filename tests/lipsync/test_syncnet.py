import pickle

import pytest
import torch
from safetensors.torch import save_file

from emogs.io.weights import WeightsFileError
from emogs.lipsync.syncnet import SyncNet, load_syncnet

# The published syncnet_v2.model's layout: key -> shape (the file we must read; its layer indices
# follow conv / batch norm / ReLU / pool modules in order).
PUBLISHED_SHAPES = {
    "netcnnaud.0.weight": (64, 1, 3, 3), "netcnnaud.4.weight": (192, 64, 3, 3),
    "netcnnaud.8.weight": (384, 192, 3, 3), "netcnnaud.11.weight": (256, 384, 3, 3),
    "netcnnaud.14.weight": (256, 256, 3, 3), "netcnnaud.18.weight": (512, 256, 5, 4),
    "netcnnaud.19.running_var": (512,),
    "netfcaud.0.weight": (512, 512), "netfcaud.1.running_mean": (512,), "netfcaud.3.weight": (1024, 512),
    "netcnnlip.0.weight": (96, 3, 5, 7, 7), "netcnnlip.4.weight": (256, 96, 1, 5, 5),
    "netcnnlip.8.weight": (256, 256, 1, 3, 3), "netcnnlip.11.weight": (256, 256, 1, 3, 3),
    "netcnnlip.14.weight": (256, 256, 1, 3, 3), "netcnnlip.18.weight": (512, 256, 1, 6, 6),
    "netfclip.3.weight": (1024, 512),
}


def _random_net(seed=0):
    torch.manual_seed(seed)
    net = SyncNet().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


def test_towers_reduce_windows_to_embeddings():
    net = _random_net()
    with torch.no_grad():
        a = net.embed_audio(torch.randn(3, 1, 13, 20))
        v = net.embed_lips(torch.rand(2, 3, 5, 224, 224) * 255)
    assert a.shape == (3, 1024) and v.shape == (2, 1024)
    assert torch.isfinite(a).all() and torch.isfinite(v).all()
    with pytest.raises(ValueError, match="13, 20"):
        net.embed_audio(torch.randn(1, 1, 13, 19))
    with pytest.raises(ValueError, match="BGR"):
        net.embed_lips(torch.rand(1, 3, 5, 112, 112))


def test_published_layout_keys_and_shapes():
    sd = _random_net().published_state_dict()
    for key, shape in PUBLISHED_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    # per tower 6 convs + 6 batch norms, per head 2 linears + 1 batch norm
    assert len([k for k in sd if k.endswith(".weight")]) == 2 * (6 + 6) + 2 * (2 + 1)


def test_loads_published_and_own_layouts(tmp_path):
    net = _random_net(1)
    published = tmp_path / "syncnet_v2.model"
    torch.save({k: v for k, v in net.published_state_dict().items() if "num_batches" not in k}, published)
    ours = tmp_path / "syncnet.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(ours))
    x_a, x_v = torch.randn(2, 1, 13, 20), torch.rand(2, 3, 5, 224, 224) * 255
    with torch.no_grad():
        want = net.embed_audio(x_a), net.embed_lips(x_v)
        for path in (published, ours):
            got = load_syncnet(path)
            assert not got.training
            assert torch.equal(got.embed_audio(x_a), want[0]) and torch.equal(got.embed_lips(x_v), want[1])


def test_wrong_files_are_refused_with_the_file_named(tmp_path):
    sd = _random_net().published_state_dict()
    missing = tmp_path / "missing.pt"
    torch.save({k: v for k, v in sd.items() if not k.startswith("netfclip")}, missing)
    with pytest.raises(ValueError, match="missing.pt.*netfclip|missing.pt.*lip_head"):
        load_syncnet(missing)
    wrong = tmp_path / "wrong.pt"
    torch.save({**sd, "netcnnaud.0.weight": torch.zeros(32, 1, 3, 3)}, wrong)
    with pytest.raises(ValueError, match="wrong.pt.*wrong shapes.*audio_cnn.0.weight"):
        load_syncnet(wrong)
    code = tmp_path / "code.model"
    code.write_bytes(pickle.dumps(SyncNet))  # a pickle that would import code
    with pytest.raises(WeightsFileError, match="code.model"):
        load_syncnet(code)
    with pytest.raises(FileNotFoundError, match="SyncNet weights"):
        load_syncnet(tmp_path / "nope.model")
