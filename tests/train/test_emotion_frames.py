import numpy as np
import pytest
import torch

from emogs.data import DatasetError, PersonDataset
from emogs.data.emotion_frames import EmotionFrames
from emogs.data.synthetic import write_toy_dataset


def test_emotion_frames_take_camera_from_source_and_pixels_from_themselves(tmp_path):
    root = write_toy_dataset(tmp_path / "ds", num_frames=22, size=16, audio_dim=4, with_emotion=True)
    em_frames = np.load(root / "emotion" / "frames.npy")
    em_frames[:] = 255 - em_frames  # make them differ from the source frames
    np.save(root / "emotion" / "frames.npy", em_frames)
    np.save(root / "emotion" / "aus.npy", np.load(root / "emotion" / "aus.npy") + 1.0)  # and their AUs
    ds = PersonDataset(root, split="train", load_emotion=True)
    all_em = EmotionFrames(ds, train_only=False)
    em = EmotionFrames(ds)
    src = np.load(root / "emotion" / "source_index.npy")
    a, b = ds.manifest["split"]["train"]
    assert len(em) == int(((src >= a) & (src < b)).sum()) < len(all_em)  # validation sources excluded
    s = all_em[1]
    t = int(src[1])
    assert s.index == t
    assert torch.equal(s.w2c, ds.w2c[t]) and torch.equal(s.audio, ds.audio_window(t))
    # AUs are the source frame's (as when driving), not those measured on the emotional image
    assert torch.equal(s.aus, torch.from_numpy(np.asarray(ds.aus[t], np.float32)))
    assert torch.allclose(s.image, torch.from_numpy(em_frames[1] / 255.0).float())
    va = np.load(root / "emotion" / "valence_arousal.npy")[1]
    assert torch.allclose(s.va, torch.from_numpy(va))
    with pytest.raises(IndexError):
        all_em[len(all_em)]
    with pytest.raises(DatasetError, match="load_emotion=True"):
        EmotionFrames(PersonDataset(root))
