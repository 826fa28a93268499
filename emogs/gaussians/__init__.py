"""Gaussian parameter sets, their initialisation from the face mesh, normals, densification."""

from .gaussian_set import PARAM_KEYS, GaussianSet, eval_sh_colors, quat_to_rotmat, rgb_to_sh0
from .init import (
    init_eye_gaussians,
    init_face_gaussians,
    init_mouth_gaussians,
    sample_eyeballs,
    sample_mesh_surface,
    sample_mouth_interior,
)
from .normals import gaussian_normals, shortest_axis
from .strategy import DensifyStrategy, duplicate, make_optimizer, remove, reset_opacity, split

__all__ = [
    "PARAM_KEYS",
    "GaussianSet",
    "DensifyStrategy",
    "duplicate",
    "eval_sh_colors",
    "gaussian_normals",
    "init_eye_gaussians",
    "init_face_gaussians",
    "init_mouth_gaussians",
    "make_optimizer",
    "quat_to_rotmat",
    "remove",
    "reset_opacity",
    "rgb_to_sh0",
    "sample_eyeballs",
    "sample_mesh_surface",
    "sample_mouth_interior",
    "shortest_axis",
    "split",
]
