"""Per-frame stages over a pool of worker processes, each writing its slice of an ``.npy``.

A *frame task* is a picklable callable ``task(start, end)`` that processes frames ``[start, end)``
and writes them into an output ``.npy`` (the ``NAME.tmp`` of a ``MemmapWriter``, created by the
parent; big per-frame outputs through ``io_utils.NpyFrameWriter``, small ones opened with
``mmap_mode="r+"``). Workers run with one BLAS / OpenMP thread each. Heavy state (a MediaPipe
graph, a renderer) is built lazily on the task object, so each worker process builds it once and
reuses it for all its chunks (MediaPipe objects are never shared between processes).

    run_frame_tasks(ParseFrames(root, ...), T, workers=2, progress=cb)

Workers are started with ``forkserver`` (not ``fork``: the parent may hold MediaPipe / OpenMP
threads, which do not survive a fork). With ``workers <= 1`` or fewer than ``min_frames`` frames
the task runs in-process (no start-up cost for short clips). Results are identical either way
as long as the task is per-frame (no state carried between frames): parsing and normals are;
landmarks (MediaPipe tracking) run one contiguous chunk per process and agree to < 0.5 px.
As with any multiprocessing, a script that calls the pipeline must guard its entry point with
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import PreprocessError

_TASK = None  # the frame task of this worker process
MIN_PARALLEL_FRAMES = 150  # shorter clips run in-process (a worker's start-up costs ~1 s)


class WorkerError(PreprocessError):
    """A worker process died (crash, out of memory, or an unguarded main script)."""


def default_workers() -> int:
    """Worker processes for the per-frame stages: the CPUs this process may use, at most 2."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(2, n))


# one process per core: BLAS / OpenMP thread pools inside a worker only fight the other worker
# (measured: numpy's batched 3x3 inverse 9x slower with OpenBLAS' 2 threads per worker)
_WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextmanager
def _single_threaded_blas():
    """Start worker processes (and the fork server, which imports numpy) with one BLAS / OpenMP
    thread each (variables the user set are kept); this process' environment is restored after."""
    saved = {k: os.environ.get(k) for k in _WORKER_ENV}
    for k, v in _WORKER_ENV.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _init_worker(task) -> None:
    global _TASK
    _TASK = task
    try:
        import cv2

        cv2.setNumThreads(1)  # one process per core: no nested thread pools
    except ImportError:
        pass


def _run_chunk(start: int, end: int) -> tuple[int, float]:
    """Run one chunk in a worker; returns (frames, CPU seconds of this worker process, all threads)."""
    import time

    t0 = time.process_time()
    _TASK(start, end)
    return end - start, time.process_time() - t0


@dataclass
class FrameTaskRun:
    """processes: how many ran the task (1 = in-process); worker_cpu_s: CPU seconds spent in worker
    processes (0 in-process: that time is the caller's own process time)."""

    processes: int
    worker_cpu_s: float = 0.0


def chunk_ranges(num_frames: int, workers: int, chunk: int) -> list[tuple[int, int]]:
    """Split [0, num_frames) into contiguous ranges of about `chunk` frames (at least one per worker)."""
    if num_frames <= 0:
        return []
    chunk = max(1, min(int(chunk), -(-num_frames // max(1, workers))))
    return [(s, min(s + chunk, num_frames)) for s in range(0, num_frames, chunk)]


def run_frame_tasks(
    task: Callable[[int, int], None],
    num_frames: int,
    workers: int = 0,
    chunk: int = 64,
    min_frames: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FrameTaskRun:
    """Run ``task(start, end)`` over all frames; returns the processes used and their CPU time.

    workers: processes (0 = ``default_workers()``); min_frames: below this, run in-process;
    progress(n): called with the number of frames just finished.
    """
    min_frames = MIN_PARALLEL_FRAMES if min_frames is None else min_frames
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0 = automatic), got {workers}")
    workers = workers or default_workers()
    if workers <= 1 or num_frames < max(min_frames, 2):
        for s, e in chunk_ranges(num_frames, 1, chunk):
            task(s, e)
            if progress is not None:
                progress(e - s)
        return FrameTaskRun(1)
    ranges = chunk_ranges(num_frames, workers, chunk)
    workers = min(workers, len(ranges))
    ctx = mp.get_context("forkserver")
    # imported once in the fork server, inherited by every worker (no per-worker import cost)
    ctx.set_forkserver_preload(["numpy", "cv2", "mediapipe", "preprocess.frame_tasks", "emogs.face.landmarks",
                                "preprocess.normals", "preprocess.parsing"])
    with _single_threaded_blas(), ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                                      initargs=(task,)) as pool:
        futures = [pool.submit(_run_chunk, s, e) for s, e in ranges]
        pending, cpu_s = set(futures), 0.0
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for f in done:
                err = f.exception()
                if err is not None:
                    for p in pending:
                        p.cancel()
                    if isinstance(err, BrokenProcessPool):
                        raise WorkerError(
                            f"a worker process of a per-frame stage died ({err}): it crashed, ran out "
                            "of memory, or could not import the main script",
                            "a script that runs the pipeline must guard its entry point with "
                            "`if __name__ == \"__main__\":` (worker processes import the main module); "
                            "or use one process (--workers 1 / PreprocessConfig(workers=1))",
                        ) from err
                    raise err
                n, cpu = f.result()
                cpu_s += cpu
                if progress is not None:
                    progress(n)
    return FrameTaskRun(workers, cpu_s)
