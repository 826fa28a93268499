import math

import pytest

from emogs.viewer import FramePacer, run_paced


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, dt):
        self.now += max(dt, 1e-4)


@pytest.mark.parametrize("cost_frames", [0.3, 1.0, 2.5, 7.2])
def test_pacer_drops_frames_instead_of_lagging(cost_frames):
    fps, T = 25.0, 100
    clock = FakeClock()
    pacer = FramePacer(fps, clock)
    shown, lag = [], []

    def render(t):
        # the frame rendered is the one due at the start of the render: the picture never lags
        lag.append(pacer.due() - t)
        shown.append(t)
        clock.now += cost_frames / fps

    stats = run_paced(pacer, render, num_frames=T, sleep=clock.sleep)
    assert shown == sorted(set(shown)) and shown[0] == 0 and shown[-1] < T
    assert max(lag) == 0
    assert stats.rendered == len(shown) and stats.rendered + stats.dropped == T
    if cost_frames <= 1.0:
        assert stats.dropped == 0 and stats.rendered == T
        assert abs(stats.fps - fps) < 0.5  # keeps the target rate
    else:
        # renders back to back, each showing the frame due when it starts: steps of floor/ceil(cost)
        steps = {b - a for a, b in zip(shown, shown[1:])}
        assert steps <= {math.floor(cost_frames), math.ceil(cost_frames)}
        assert abs(stats.fps - fps / cost_frames) < 0.05 * fps / cost_frames
    # wall time of the session = the audio duration (+ at most one render), whatever the cost
    assert clock.now - 100.0 <= T / fps + cost_frames / fps + 1e-6


def test_pacer_restart_and_bounds():
    clock = FakeClock()
    pacer = FramePacer(10.0, clock)
    assert pacer.take() == 0 and pacer.take() is None
    assert abs(pacer.time_to_next() - 0.1) < 1e-9
    clock.now += 0.35
    assert pacer.take() == 3 and pacer.stats.dropped == 2
    pacer.restart(50)
    assert pacer.take() == 50
    with pytest.raises(ValueError, match="bounded"):
        run_paced(pacer, lambda t: None)
    with pytest.raises(ValueError, match="positive"):
        FramePacer(0)
    # max_seconds bounds an open-ended session
    stats = run_paced(FramePacer(10.0, clock), lambda t: None, max_seconds=1.0, sleep=clock.sleep)
    assert 9 <= stats.rendered <= 11
