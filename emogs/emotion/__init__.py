"""Emotion: V/A <-> action units, emotion judges, evaluation, V/A trajectories, and g_LEF.

See docs/emotion.md. Modules:
  va_model    EMOTION_PROTOTYPES, va_to_aus, aus_to_va, emotion_to_va, circle_targets
  trajectory  load_va_trajectory, VATrajectory
  judge       EmotionJudge (fer mini-Xception port | EmoNet with user weights), JudgeResult
  metrics     emotion_conditioned_eval, plot_va_circle, lip_preservation
  au_mesh     AUMeshModel (py-feat's linear AU -> 478-point mesh table), landmark index groups
  emonet      EmoNet architecture + loader (user weights)
  stylegan2   StyleGAN2 generator + loader (converted FFHQ state dicts)
  lef         g_LEF: V/A latent edit, lip-heatmap encoder E, LipExtract M_lip, losses
  edit        EmotionalFrameGenerator: the offline lip-aligned emotional edit (its dataset stage:
              preprocess/emotional_frames.py)
"""

from .trajectory import VATrajectory, load_va_trajectory
from .va_model import (
    EMOTION_PROTOTYPES,
    VA_AU_NAMES,
    aus_to_va,
    circle_targets,
    emotion_to_va,
    nearest_emotion,
    va_to_aus,
)

__all__ = [
    "EMOTION_PROTOTYPES",
    "VA_AU_NAMES",
    "VATrajectory",
    "aus_to_va",
    "circle_targets",
    "emotion_to_va",
    "load_va_trajectory",
    "nearest_emotion",
    "va_to_aus",
]
