import pytest

from emogs.train import load_config
from emogs.train.schedule import (
    MIN_SCALE,
    REFERENCE_FRAMES,
    clip_steps_scale,
    scale_steps,
    short_clip_warning,
)


def test_scale_follows_training_frames_between_bounds():
    assert clip_steps_scale(REFERENCE_FRAMES) == 1.0
    assert clip_steps_scale(1047) == 1.0  # the demo clip keeps the preset (its time budget holds)
    assert clip_steps_scale(4000) == 1.0
    assert clip_steps_scale(800) == pytest.approx(0.8)
    assert clip_steps_scale(455) == MIN_SCALE  # a 20 s clip at 25 fps
    assert clip_steps_scale(10) == MIN_SCALE
    assert clip_steps_scale(300, reference=200, hi=2.0) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="no training frames"):
        clip_steps_scale(0)


def test_scale_steps_shrinks_stages_and_densification_together():
    cfg = load_config("quick")
    stages, d = dict(cfg.stages), cfg.densify
    start, stop, every = d.refine_start, d.refine_stop, d.refine_every
    scale_steps(cfg, 0.5)
    assert cfg.stages == {k: (max(1, round(v * 0.5)) if v else 0) for k, v in stages.items()}
    assert (cfg.densify.refine_start, cfg.densify.refine_stop, cfg.densify.refine_every) == (
        round(start * 0.5), round(stop * 0.5), round(every * 0.5))
    tiny = load_config("quick")
    scale_steps(tiny, 1e-6)
    assert all(v == 1 for k, v in tiny.stages.items() if stages[k])  # never zero steps for a used stage
    with pytest.raises(ValueError):
        scale_steps(tiny, 0)


def test_short_clip_warning():
    assert short_clip_warning(20.0) is None and short_clip_warning(15.0) is None
    msg = short_clip_warning(9.5)
    assert msg is not None and "9.5 s" in msg and "15 s" in msg and "PSNR" in msg
