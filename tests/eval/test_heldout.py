"""Held-out speech evaluation (emogs.eval.heldout)."""

import numpy as np
import pytest

from emogs import metrics
from emogs.eval.heldout import mouth_scores


def test_heldout_mouth_scores_ignore_head_pose_and_see_articulation():
    """mouth_scores: a render equal to the truth up to a head similarity scores 0; a mouth
    held still scores like the static baseline; the gap statistics follow the lips."""
    rng = np.random.default_rng(1)
    base = rng.uniform(150, 350, size=(478, 2))
    T = 30
    truth = np.repeat(base[None], T, 0)
    opening = 6 * np.sin(np.linspace(0, 6, T))
    lower = [14, 17, 84, 87, 178, 181, 314, 317, 402, 405]
    truth[:, lower, 1] += opening[:, None]
    th = 0.1
    rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    render = truth @ rot.T * 0.8 + [20.0, -10.0]  # same mouth, another head pose
    s = mouth_scores(render, truth)
    assert s["lmd"] < 1e-9 and s["gap_corr"] == pytest.approx(1.0)
    assert s["gap_std_px"] == pytest.approx(s["truth_gap_std_px"])
    still = np.repeat(render[:1], T, 0)
    s2 = mouth_scores(still, truth)
    assert s2["lmd"] > 0.5 and s2["gap_std_px"] < 1e-9
    assert s["static_baseline"] == pytest.approx(s2["static_baseline"])
    assert s["static_baseline"] > 0.5 and metrics.lmd(truth, truth) == 0.0
