"""Keeping a target frame rate: a clock-driven pacer that drops frames rather than lag.

The frame due at wall time `now` is `first + floor((now - t0) * fps)`. Each step renders the frame
due *now*; frames that became due while the previous one was rendering are skipped (counted as
dropped), so the picture never falls behind the clock by more than one render time.

    pacer = FramePacer(fps=25)
    stats = run_paced(pacer, render=lambda t: ..., num_frames=T, max_seconds=10)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoopStats:
    """rendered / dropped frame counts, the measured display rate (frames shown per second over the
    last `window` renders) and per-render durations (seconds, the last `window`)."""

    rendered: int = 0
    dropped: int = 0
    fps: float = 0.0
    render_s: list[float] = field(default_factory=list)
    shown_at: list[float] = field(default_factory=list)
    window: int = 50

    def record(self, start: float, end: float) -> None:
        self.rendered += 1
        self.render_s.append(end - start)
        self.shown_at.append(end)
        del self.render_s[:-self.window], self.shown_at[:-self.window]
        if len(self.shown_at) >= 2 and self.shown_at[-1] > self.shown_at[0]:
            self.fps = (len(self.shown_at) - 1) / (self.shown_at[-1] - self.shown_at[0])

    @property
    def mean_render_ms(self) -> float:
        return 1000.0 * sum(self.render_s) / len(self.render_s) if self.render_s else 0.0


class FramePacer:
    """Decides which frame to show now for a target `fps` (clock: seconds, monotonic)."""

    def __init__(self, fps: float, clock: Callable[[], float] = time.monotonic):
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"target fps must be a positive number, got {fps!r}.")
        self.fps = float(fps)
        self.clock = clock
        self.stats = LoopStats()
        self.restart(0)

    def restart(self, first: int = 0) -> None:
        """Frame `first` is due now (after a seek, a pause, or at start)."""
        self._t0 = self.clock()
        self._first = int(first)
        self._last = int(first) - 1

    def due(self) -> int:
        """The frame the clock says should be on screen now."""
        return self._first + int(math.floor((self.clock() - self._t0) * self.fps + 1e-9))

    def take(self, limit: int | None = None) -> int | None:
        """The frame to render now, or None if the frame on screen is still current. Frames skipped
        since the last one taken are added to `stats.dropped` (only those before `limit`, the end)."""
        d = self.due()
        if limit is not None:
            d = min(d, int(limit))
        if d <= self._last:
            return None
        self.stats.dropped += d - self._last - 1
        self._last = d
        return d

    def time_to_next(self) -> float:
        """Seconds until the next frame becomes due (>= 0)."""
        nxt = self._t0 + (self._last + 1 - self._first) / self.fps
        return max(0.0, nxt - self.clock())


def run_paced(
    pacer: FramePacer,
    render: Callable[[int], object],
    num_frames: int | None = None,
    max_seconds: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> LoopStats:
    """Render frames as they fall due until frame `num_frames` is due, `max_seconds` passed, or
    `should_stop()`; at least one bound must be given (no unbounded loops). Returns the stats."""
    if num_frames is None and max_seconds is None:
        raise ValueError("run_paced needs num_frames or max_seconds (a bounded loop); the viewer passes "
                         "should_stop for an open-ended session together with a max_seconds safety bound.")
    start = pacer.clock()
    while not should_stop():
        now = pacer.clock()
        if max_seconds is not None and now - start >= max_seconds:
            break
        t = pacer.take(num_frames)
        if t is None:
            sleep(min(pacer.time_to_next(), 0.05))
            continue
        if num_frames is not None and t >= num_frames:
            break
        render(t)
        pacer.stats.record(now, pacer.clock())
    return pacer.stats
