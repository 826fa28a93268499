"""Fixtures shared across the test packages."""

import numpy as np
import pytest

from emogs.data import PersonDataset
from emogs.data.synthetic import write_toy_dataset
from emogs.io import write_wav
from emogs.lipsync.scores import face_boxes, face_crop
from emogs.train import Trainer, config_from_dict


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


TINY = {"train_size": 16, "stages": {"canonical": 1, "networks": 1, "fuse": 0, "emotion": 0},
        "model": {"sh_degree": 0, "num_face": 60, "num_mouth": 10, "face_hidden": 8, "mouth_hidden": 8,
                  "emotion_hidden": 8, "hash_levels": 2, "hash_log2_table_size": 8,
                  "face_finest_resolution": 8, "mouth_finest_resolution": 8},
        "checkpoint_every": 100}


@pytest.fixture
def tiny_train_config() -> dict:
    """A training config small enough for a few steps on a 16 px toy in a test."""
    return {**TINY, "model": dict(TINY["model"]), "stages": dict(TINY["stages"])}


@pytest.fixture(scope="session")
def speaking_toy(tmp_path_factory):
    """A toy clip whose audio is loud where its face crop is bright: the real frames are in sync."""
    tmp = tmp_path_factory.mktemp("sync")
    root = write_toy_dataset(tmp / "ds", num_frames=220, size=16, audio_dim=8)
    ds = PersonDataset(root, split="all")
    boxes = face_boxes(np.asarray(ds.landmarks))
    bright = np.array([face_crop(np.asarray(ds.frames[t]), boxes[t]).mean() for t in range(len(ds))])
    z = (bright - bright.mean()) / bright.std()
    rng = np.random.default_rng(0)
    write_wav(root / "audio.wav", np.concatenate([0.05 * np.exp(z[t]) * rng.standard_normal(640)
                                                  for t in range(len(ds))]).astype(np.float32), 16000)
    avatar = Trainer(config_from_dict(TINY), PersonDataset(root), tmp / "fit", progress=False).run()
    return root, avatar


