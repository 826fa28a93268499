"""The avatar model: face / inside-mouth Gaussians, manipulation networks, emotion branch, compositor."""

from .avatar import (
    Avatar,
    AvatarConfig,
    FrameConditions,
    build_avatar,
    build_networks,
    scale_intrinsics,
)
from .compositor import composite, composite_alpha, over

__all__ = [
    "Avatar",
    "AvatarConfig",
    "FrameConditions",
    "build_avatar",
    "build_networks",
    "composite",
    "composite_alpha",
    "over",
    "scale_intrinsics",
]
