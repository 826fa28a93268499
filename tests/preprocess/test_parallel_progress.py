"""Progress of per-frame stages counts every frame as it is done, in worker processes too."""

from dataclasses import dataclass

import pytest

from preprocess.parallel import run_frame_tasks, tick


@dataclass
class SlowTicks:
    """Ticks once per frame, slowly (so the parent sees the count move before the chunk ends)."""

    def __call__(self, start: int, end: int) -> None:
        import time

        for _ in range(start, end):
            time.sleep(0.05)
            tick()


@dataclass
class Silent:
    def __call__(self, start: int, end: int) -> None:
        pass


@pytest.mark.parametrize("workers", [1, 2])
def test_the_bar_moves_frame_by_frame_and_ends_at_the_total(workers):
    steps = []
    run_frame_tasks(SlowTicks(), 40, workers=workers, chunk=40, min_frames=2, progress=steps.append)
    assert sum(steps) == 40
    # one chunk per worker: before, the bar moved only when a whole chunk finished (0 -> 50 % -> done)
    assert len(steps) >= 4, steps


def test_a_task_that_does_not_tick_is_counted_by_its_chunks():
    steps = []
    run_frame_tasks(Silent(), 10, workers=1, chunk=4, progress=steps.append)
    assert steps == [4, 4, 2]
