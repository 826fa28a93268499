"""Training: configs / presets, targets, the staged trainer, checkpoints, evaluation."""

from .checkpoint import latest_checkpoint, load_avatar, read_avatar_meta, save_avatar
from .config import STAGES, TrainConfig, config_from_dict, load_config
from .evaluate import evaluate_avatar, frame_conditions
from .trainer import NanGuard, Trainer, TrainingDiverged, avatar_config_for

__all__ = [
    "STAGES",
    "NanGuard",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "avatar_config_for",
    "config_from_dict",
    "evaluate_avatar",
    "frame_conditions",
    "latest_checkpoint",
    "load_avatar",
    "load_config",
    "read_avatar_meta",
    "save_avatar",
]
