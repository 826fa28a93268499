"""tools/gpu_check.py without a GPU: says so and exits 0; a CPU torch on a GPU machine is an error."""

import importlib.util
import json
from pathlib import Path

import torch

TOOL = Path(__file__).resolve().parents[2] / "tools" / "gpu_check.py"


def _tool():
    spec = importlib.util.spec_from_file_location("_tool_gpu_check", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_without_a_gpu_it_says_so_and_exits_0(monkeypatch, capsys):
    tool = _tool()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(tool, "_gpu_visible", lambda: False)
    assert tool.main([]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "no CUDA GPU" in out[0]
    last = json.loads(out[-1])
    assert last["gpu"] is False and last["skipped"] == "no CUDA GPU"


def test_a_gpu_with_a_cpu_torch_is_an_error(monkeypatch, capsys):
    tool = _tool()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(tool, "_gpu_visible", lambda: True)
    assert tool.main([]) == 2
    assert "torch is a CPU build" in capsys.readouterr().err
