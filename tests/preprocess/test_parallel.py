"""preprocess.parallel: per-frame tasks over worker processes, each writing its slice of a memmap."""

import os
from dataclasses import dataclass

import numpy as np
import pytest

from preprocess.parallel import WorkerError, chunk_ranges, default_workers, run_frame_tasks


@dataclass
class SquareFrames:
    """out[t] = t^2 + the id of the process that did it (to see who worked)."""

    path: str

    def __call__(self, start: int, end: int) -> None:
        out = np.load(self.path, mmap_mode="r+")
        for t in range(start, end):
            out[t] = (t * t, os.getpid())
        out.flush()


@dataclass
class Crash:
    def __call__(self, start: int, end: int) -> None:
        os._exit(3)  # a worker dying without a Python exception (segfault, OOM kill)


def _target(tmp_path, n):
    path = tmp_path / "out.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.int64, shape=(n, 2))
    return str(path)


def test_chunk_ranges_cover_every_frame_once():
    for n, w, c in [(1, 2, 64), (10, 2, 64), (150, 2, 64), (1000, 3, 7), (5, 1, 5)]:
        r = chunk_ranges(n, w, c)
        assert r[0][0] == 0 and r[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(r, r[1:]))
        assert len(r) >= min(w, n) and max(e - s for s, e in r) <= c
    assert chunk_ranges(0, 2, 64) == []
    assert chunk_ranges(100, 2, 100) == [(0, 50), (50, 100)]  # one contiguous chunk per worker
    assert 1 <= default_workers() <= 2


def test_workers_write_their_slices(tmp_path):
    n = 40
    path = _target(tmp_path, n)
    done = []
    run = run_frame_tasks(SquareFrames(path), n, workers=2, chunk=8, min_frames=0, progress=done.append)
    out = np.load(path)
    np.testing.assert_array_equal(out[:, 0], np.arange(n) ** 2)
    assert run.processes == 2 and sum(done) == n and run.worker_cpu_s >= 0
    assert os.getpid() not in set(out[:, 1]) and len(set(out[:, 1])) <= 2


def test_short_clips_and_one_worker_run_in_process(tmp_path):
    n = 20
    for kw in ({"workers": 1, "min_frames": 0}, {"workers": 2, "min_frames": 100}):
        path = _target(tmp_path, n)
        run = run_frame_tasks(SquareFrames(path), n, **kw)
        out = np.load(path)
        assert run.processes == 1 and (out[:, 1] == os.getpid()).all()
        np.testing.assert_array_equal(out[:, 0], np.arange(n) ** 2)
    with pytest.raises(ValueError, match="workers"):
        run_frame_tasks(SquareFrames(path), n, workers=-1)


def test_a_dying_worker_is_a_clear_error():
    with pytest.raises(WorkerError, match="__main__"):
        run_frame_tasks(Crash(), 10, workers=2, chunk=5, min_frames=0)
