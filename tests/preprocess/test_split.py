import numpy as np
import pytest

from emogs.data import DatasetError, split_frames
from preprocess.split import train_val_split


def test_standard_split_is_unchanged():
    assert train_val_split(550) == {"train": [0, 500], "val": [500, 550]}
    assert train_val_split(1) == {"train": [0, 1], "val": [1, 1]}


def test_interleaved_blocks_spread_over_the_clip_and_held_out_of_training():
    T = 550
    split = train_val_split(T, interleaved_blocks=5)
    blocks = split["val_interleaved"]
    assert len(blocks) == 5 and all(b - a == 10 for a, b in blocks)  # 5 blocks of T/55
    a_val = split["val"][0]
    assert all(0 < a < b < a_val for a, b in blocks)
    centres = np.array([(a + b) / 2 for a, b in blocks])
    np.testing.assert_allclose(np.diff(centres), a_val / 5, atol=1)  # evenly spread, not bunched
    train = split_frames(split, "train", T)
    val = split_frames(split, "val", T)
    inter = split_frames(split, "val_interleaved", T)
    assert len(inter) == 50 and len(val) == 50
    assert not np.intersect1d(train, inter).size and not np.intersect1d(train, val).size
    assert len(train) + len(val) + len(inter) == T


def test_short_clip_gets_fewer_blocks_with_training_frames_between():
    split = train_val_split(12, interleaved_blocks=5)
    blocks = split.get("val_interleaved", [])
    assert len(blocks) < 5
    train = split_frames(split, "train", 12)
    for a, b in blocks:  # a training frame on each side of every block
        assert a - 1 in train and b in train


def test_old_manifest_ranges_and_errors():
    old = {"train": [0, 20], "val": [20, 22]}
    np.testing.assert_array_equal(split_frames(old, "train", 22), np.arange(20))
    np.testing.assert_array_equal(split_frames(old, "all", 22), np.arange(22))
    with pytest.raises(DatasetError, match="outside"):
        split_frames({"train": [0, 30]}, "train", 22)
    with pytest.raises(DatasetError, match="unknown split"):
        split_frames(old, "val_interleaved", 22)
