"""emogs.backends: backend choice per device, and a clear message when a requested backend is absent."""

import pytest
import torch

from emogs._ext import has_extension
from emogs.backends import check_backends, require_backends, resolve_hash_backend
from emogs.render import BackendUnavailable

BUILT = has_extension("raster") and has_extension("hashgrid")


@pytest.mark.skipif(not BUILT, reason="compiled kernels not built")
def test_auto_on_cpu_picks_the_cpu_kernels():
    assert check_backends("auto", "auto", "cpu") == {"raster": "cpu", "hashgrid": "cpu"}
    assert check_backends("torch", "torch", torch.device("cpu")) == {"raster": "torch", "hashgrid": "torch"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the messages of a machine without CUDA")
@pytest.mark.parametrize("raster, hashgrid, message", [
    ("cuda", "auto", r"rasterizer backend 'cuda' is not available for tensors on cpu: needs CUDA tensors"),
    ("gsplat", "auto", r"'gsplat' .*pip install gsplat"),
    ("auto", "cuda", r"hash-grid backend 'cuda' is not available on cpu: .*needs CUDA tensors"),
    ("auto", "tcnn", r"'tcnn' \(tinycudann\) needs a CUDA device"),
])
def test_absent_backend_names_the_problem(raster, hashgrid, message):
    with pytest.raises(BackendUnavailable, match=message):
        check_backends(raster, hashgrid, "cpu")


def test_tcnn_without_tinycudann_says_how_to_get_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tinycudann" else real(name, *a))
    with pytest.raises(BackendUnavailable, match="needs tinycudann, which is not installed"):
        resolve_hash_backend("tcnn", torch.device("cuda", 0))


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="choose one of"):
        check_backends("vulkan", "auto", "cpu")
    with pytest.raises(ValueError, match="choose one of"):
        check_backends("auto", "ngp", "cpu")


def test_require_backends_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        require_backends("gsplat", "auto", torch.device("cpu"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: rasterizer backend 'gsplat'") and "Traceback" not in err


def test_gsplat_is_never_offered_for_float64(monkeypatch):
    from emogs.render import api

    monkeypatch.setattr(api, "_gsplat_usable", lambda: True)
    monkeypatch.setattr(api, "cuda_compiled", lambda name: False)
    assert api.available_backends("cuda", torch.float32) == ["gsplat", "torch"]
    assert api.available_backends("cuda", torch.float64) == ["torch"]
    with pytest.raises(BackendUnavailable, match="needs float32 CUDA tensors"):
        api.resolve_backend("gsplat", "cuda", torch.float64)


def test_trainer_refuses_an_absent_backend_before_training(tmp_path):
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.train import Trainer, config_from_dict

    root = write_toy_dataset(tmp_path / "ds", num_frames=4, size=16, audio_dim=8)
    stages = {"canonical": 1, "networks": 0, "fuse": 0, "emotion": 0}
    cfg = config_from_dict({"train_size": 16, "stages": stages,
                            "model": {"num_face": 60, "num_mouth": 10, "hash_backend": "tcnn"}})
    with pytest.raises(BackendUnavailable, match="tcnn"):
        Trainer(cfg, PersonDataset(root), tmp_path / "fit", progress=False)
    assert not (tmp_path / "fit").exists()
