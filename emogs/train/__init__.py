"""Training: configs / presets, targets, the staged trainer, optimiser checkpoints.

Avatar folders (save / load) are `emogs.avatar.store`, evaluation is `emogs.eval`."""

from .checkpoint import latest_checkpoint
from .config import STAGES, TrainConfig, config_from_dict, load_config
from .trainer import NanGuard, Trainer, TrainingDiverged, avatar_config_for

__all__ = [
    "STAGES",
    "NanGuard",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "avatar_config_for",
    "config_from_dict",
    "latest_checkpoint",
    "load_config",
]
