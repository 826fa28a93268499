"""Fields: the tri-plane hash encoding and the manipulation networks built on it.

Functional core: `hash_grid_2d(coords, table, resolutions, backend)` (emogs.fields.hashgrid).
Components: `HashGrid2D`, `TriplaneEncoding(TriplaneConfig)`, `MLP`, `AudioAttention`.
Networks: `MouthDeformNet`, `FaceDeformNet`, `EmotionDeformNet` -> `DeformOutput`. See docs/fields.md.
"""

from emogs.fields.deform import (
    AudioAttention,
    AudioEncoder,
    DeformOutput,
    EmotionDeformNet,
    FaceDeformNet,
    MouthDeformNet,
    SpatialFeatures,
    au_indices,
)
from emogs.fields.encoding import HashGrid2D, TriplaneConfig, TriplaneEncoding
from emogs.fields.hashgrid import hash_grid_2d, hash_grid_2d_torch, level_resolutions, triplane_hash_grid
from emogs.fields.mlp import MLP

__all__ = [
    "AudioAttention",
    "AudioEncoder",
    "DeformOutput",
    "EmotionDeformNet",
    "FaceDeformNet",
    "HashGrid2D",
    "MLP",
    "MouthDeformNet",
    "SpatialFeatures",
    "TriplaneConfig",
    "TriplaneEncoding",
    "au_indices",
    "hash_grid_2d",
    "hash_grid_2d_torch",
    "level_resolutions",
    "triplane_hash_grid",
]
