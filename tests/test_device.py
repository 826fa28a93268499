"""emogs.device: parsing, validation and resolution of --device; the tools' exit code 2 without CUDA."""

import argparse

import pytest
import torch

from emogs import device as dev
from emogs.avatar import FrameConditions


@pytest.mark.parametrize("spec, want", [("auto", ("auto", None)), ("cpu", ("cpu", None)),
                                        ("cuda", ("cuda", None)), ("cuda:3", ("cuda", 3)),
                                        (" CUDA:0 ", ("cuda", 0))])
def test_parse_device_accepts(spec, want):
    assert dev.parse_device(spec) == want


@pytest.mark.parametrize("spec", ["gpu", "cpu:0", "auto:1", "cuda:", "cuda:-1", "cuda:x", "", "mps"])
def test_parse_device_rejects_with_the_choices(spec):
    with pytest.raises(dev.DeviceError, match=r"unknown device .*auto .*cpu .*cuda:N"):
        dev.parse_device(spec)


def test_cpu_and_auto_without_gpu_resolve_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.resolve_device("cpu") == torch.device("cpu")
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_cuda_without_gpu_names_the_reason(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(dev.DeviceError, match="CPU build.*GPU install"):
        dev.resolve_device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    with pytest.raises(dev.DeviceError, match="sees no GPU.*nvidia-smi"):
        dev.resolve_device("cuda:0")


def test_cuda_index_checked_against_the_device_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert dev.resolve_device("auto") == torch.device("cuda", 0)
    assert dev.resolve_device("cuda") == torch.device("cuda", 0)
    assert dev.resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(dev.DeviceError, match=r"2 CUDA device\(s\) \(cuda:0..cuda:1\)"):
        dev.resolve_device("cuda:2")


def test_device_from_args_exits_2_with_the_message(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = argparse.ArgumentParser()
    dev.add_device_argument(p)
    assert dev.device_from_args(p.parse_args([])) == torch.device("cpu")
    with pytest.raises(SystemExit) as exc:
        dev.device_from_args(p.parse_args(["--device", "cuda"]))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda was requested but CUDA is unavailable")
    assert "Traceback" not in err


@pytest.mark.parametrize("name, argv", [
    ("fit_person", ["{tmp}"]),
    ("render", ["{tmp}", "--audio", "x.wav", "--out", "o.mp4"]),
    ("evaluate", ["{tmp}"]),
    ("viewer", ["{tmp}"]),
])
def test_tools_refuse_cuda_without_gpu_before_any_work(name, argv, monkeypatch, tmp_path, capsys, load_tool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    tool = load_tool(name)
    args = [a.format(tmp=tmp_path) for a in argv] + ["--device", "cuda:0"]
    with pytest.raises(SystemExit) as exc:
        tool.main(args)
    assert exc.value.code == 2
    assert "CUDA is unavailable" in capsys.readouterr().err
    assert not (tmp_path / "avatar").exists()  # nothing was fitted or written


def test_frame_conditions_to_is_a_no_op_on_their_device():
    c = FrameConditions(torch.eye(4), torch.eye(3), torch.zeros(9, 8), torch.zeros(4), None, None)
    assert c.to("cpu") is c
    assert c.to(torch.device("cpu")) is c


def test_ctranslate2_follows_only_a_cuda_device(monkeypatch):
    assert dev.ctranslate2_device("cpu") == ("cpu", 0)
    ct2 = pytest.importorskip("ctranslate2")
    monkeypatch.setattr(ct2, "get_cuda_device_count", lambda: 0)
    assert dev.ctranslate2_device(torch.device("cuda", 0)) == ("cpu", 0)  # its wheel sees no GPU
    monkeypatch.setattr(ct2, "get_cuda_device_count", lambda: 2)
    assert dev.ctranslate2_device(torch.device("cuda", 1)) == ("cuda", 1)
    assert dev.ctranslate2_device(torch.device("cuda", 2)) == ("cpu", 0)


def test_synchronize_is_a_no_op_off_cuda():
    dev.synchronize(None)
    dev.synchronize("cpu")
