"""Fixtures shared across the test packages."""

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
