"""The avatar model: face / inside-mouth Gaussians, manipulation networks, emotion branch, compositor,
and its folder on disk (`store`: save / load / resolve)."""

from .avatar import (
    Avatar,
    AvatarConfig,
    FrameConditions,
    build_avatar,
    build_networks,
    scale_intrinsics,
)
from .compositor import composite, composite_alpha, over
from .store import load_avatar, read_avatar_meta, resolve_avatar_folder, save_avatar

__all__ = [
    "Avatar",
    "AvatarConfig",
    "FrameConditions",
    "build_avatar",
    "build_networks",
    "composite",
    "composite_alpha",
    "load_avatar",
    "over",
    "read_avatar_meta",
    "resolve_avatar_folder",
    "save_avatar",
    "scale_intrinsics",
]
