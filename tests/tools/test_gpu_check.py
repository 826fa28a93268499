"""tools/gpu_check.py without a GPU: says so and exits 0; a CPU torch on a GPU machine is an error."""

import json

import torch


def test_without_a_gpu_it_says_so_and_exits_0(monkeypatch, capsys, load_tool):
    tool = load_tool("gpu_check")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(tool, "_gpu_visible", lambda: False)
    assert tool.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "no CUDA GPU" in out[0]
    last = json.loads(out[-1])
    assert last["gpu"] is False and last["skipped"] == "no CUDA GPU"


def test_a_gpu_with_a_cpu_torch_is_an_error(monkeypatch, capsys, load_tool):
    tool = load_tool("gpu_check")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(tool, "_gpu_visible", lambda: True)
    assert tool.main([]) == 2
    assert "torch is a CPU build" in capsys.readouterr().err
