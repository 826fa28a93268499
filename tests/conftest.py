"""Fixtures shared across the test packages."""

from pathlib import Path

import pytest


class LoudnessJudge:
    """SyncNet's interface; lips -> the 5 crops' mean brightness, audio -> each frame's log energy."""

    def embed_lips(self, clips):
        v = clips.mean(dim=(1, 3, 4))
        return (v - v.mean(1, keepdim=True)) / (v.std(1, keepdim=True) + 1e-6)

    def embed_audio(self, win):
        e = win[:, 0, 0, :].reshape(len(win), 5, 4).mean(2)
        return (e - e.mean(1, keepdim=True)) / (e.std(1, keepdim=True) + 1e-6)


@pytest.fixture
def loudness_judge():
    return LoudnessJudge()


def pytest_collection_modifyitems(config, items):
    """Tests marked @pytest.mark.cuda skip on machines without a CUDA GPU (CPU CI stays as it is)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run `make gpu-check` / pytest -m cuda on one)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def load_tool():
    """load_tool("render") -> the module tools/render.py (tools are scripts, not a package)."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "tools" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"_tool_fixture_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load
