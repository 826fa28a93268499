import numpy as np
import pytest

from emogs.avatar.drive import audio_windows
from emogs.stream import FeatureWindowBuffer


def _chunks(x, sizes):
    i = 0
    for n in sizes:
        yield x[i : i + n]
        i += n
    if i < len(x):
        yield x[i:]


@pytest.mark.parametrize("T,W", [(1, 4), (3, 4), (9, 4), (30, 4), (17, 2), (12, 0)])
def test_windows_equal_offline_reader_for_any_chunking(T, W):
    rng = np.random.default_rng(T * 10 + W)
    feats = rng.normal(size=(T, 5)).astype(np.float32)
    ref = [w.numpy() for w in audio_windows(feats, W)]
    for sizes in ([T], [1] * T, list(rng.integers(0, 4, size=40))):
        buf = FeatureWindowBuffer(W)
        got = []
        for c in _chunks(feats, sizes):
            for t, win in buf.push(c):
                assert t == len(got) and t + W < buf.frames_received  # never before t+W arrived
                got.append(win)
            # ... and never later: after each push exactly the frames with t+W received are out
            assert buf.frames_emitted == max(0, buf.frames_received - W) and buf.pending <= W
        got += [w for _, w in buf.close()]
        assert len(got) == T
        np.testing.assert_array_equal(np.stack(got), np.stack(ref))


def test_errors_name_the_problem():
    buf = FeatureWindowBuffer(4)
    buf.push(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="feature size changed"):
        buf.push(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"\[n, D\]"):
        buf.push(np.zeros((1, 2, 3)))
    buf.close()
    with pytest.raises(RuntimeError, match="after close"):
        buf.push(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        FeatureWindowBuffer(-1)
