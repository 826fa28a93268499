"""Schedules that follow the clip: a preset's steps scaled with the number of training frames, and
the warning a clip too short to fit well gets.

The presets' step counts were tuned on the 46 s demo clip (1047 training frames at 25 fps). A
shorter clip has fewer distinct views, mouth shapes and expressions to learn: past a point more
steps only memorise its frames (and cost time), so its schedule shrinks in proportion to its
training frames, never below `MIN_SCALE` x the preset (the canonical Gaussians still need
their densification passes). Longer clips keep the preset (the scale is capped at 1: the
presets' time budgets hold). A 20 s clip (455 training frames) trains 0.5 x the preset's steps.
"""

from __future__ import annotations

REFERENCE_FRAMES = 1000  # training frames the presets' steps were tuned for (40 s at 25 fps)
MIN_SCALE = 0.5
MAX_SCALE = 1.0
SHORT_CLIP_S = 15.0  # below this, a warning with the quality to expect


def clip_steps_scale(num_train_frames: int, reference: int = REFERENCE_FRAMES, lo: float = MIN_SCALE,
                     hi: float = MAX_SCALE) -> float:
    """The factor a preset's steps are multiplied by for a clip of `num_train_frames` training frames:
    num_train_frames / reference, clamped to [lo, hi]."""
    if num_train_frames < 1:
        raise ValueError(f"no training frames ({num_train_frames}); check the dataset's split")
    if not 0 < lo <= hi:
        raise ValueError(f"need 0 < lo <= hi, got lo={lo}, hi={hi}")
    return min(max(num_train_frames / float(reference), lo), hi)


def scale_steps(cfg, factor: float) -> None:
    """Multiply every stage's steps and the densification / checkpoint schedule of TrainConfig `cfg`
    by `factor` in place (a stage that has steps keeps at least one; a zero stays zero)."""
    if factor <= 0:
        raise ValueError(f"steps scale must be > 0, got {factor}")
    if factor == 1.0:
        return

    def scale(v: int) -> int:
        return max(1, int(round(v * factor))) if v else 0

    cfg.stages = {k: scale(v) for k, v in cfg.stages.items()}
    d = cfg.densify
    d.refine_start, d.refine_stop, d.refine_every, d.reset_every = (
        scale(d.refine_start), scale(d.refine_stop), scale(d.refine_every), scale(d.reset_every))
    cfg.checkpoint_every = scale(cfg.checkpoint_every)


def short_clip_warning(seconds: float, limit: float = SHORT_CLIP_S) -> str | None:
    """A warning for a clip shorter than `limit` seconds (None otherwise): what to expect of it."""
    if seconds >= limit:
        return None
    return (f"the clip is {seconds:.1f} s long, under {limit:g} s: the avatar can only learn the head "
            f"poses, expressions and mouth shapes it shows. Expect a blurrier face and a weaker mouth "
            f"than from 20-60 s (validation PSNR several dB lower, larger LMD), and torn or frozen "
            f"faces for poses, expressions and sounds the clip never shows. For a good avatar record "
            f"20-60 s of varied speech, facing the camera with small head turns.")
