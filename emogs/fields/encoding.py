"""Field components: a 2-D multiresolution hash grid module and the tri-plane encoding built from three.

`TriplaneEncoding` maps world points inside the cube [-bound, bound]^3 to features by looking up three 2-D
hash grids on the xy, yz and xz planes and concatenating their outputs (TalkingGaussian's encoder, which
avoids the hash collisions of a single 3-D grid).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from emogs.fields.hashgrid import BACKENDS, hash_grid_2d, level_resolutions, triplane_hash_grid


def _import_tcnn():
    try:
        import tinycudann  # type: ignore[import-not-found]
    except ImportError as err:
        raise ImportError(
            "backend='tcnn' needs tinycudann (https://github.com/NVlabs/tiny-cuda-nn, built from source with "
            "a CUDA GPU); it is not on PyPI. Use backend='auto' for the emogs kernels."
        ) from err
    return tinycudann


class HashGrid2D(nn.Module):
    """A learnable 2-D multiresolution hash grid: coords [N, 2] in [0, 1] -> features [N, L*F].

    The table is `[L, T, F]` with `T = min(2**log2_table_size, (finest_resolution + 1)**2)` rows: when even
    the finest level fits densely there is no point in allocating (and optimising) unused rows. Levels
    whose `(res + 1)**2` exceeds `T` are hashed (see `emogs.fields.hashgrid`). Entries start uniform in
    [-init_range, init_range] (instant-ngp's 1e-4).

    `backend="tcnn"` uses tinycudann's HashGrid instead (CUDA only, its own parameter layout `self.tcnn`
    and its own vertex conventions, so tables are not interchangeable with the other backends).
    """

    def __init__(
        self,
        num_levels: int = 12,
        features_per_level: int = 1,
        log2_table_size: int = 17,
        base_resolution: int = 16,
        finest_resolution: int = 256,
        backend: str = "auto",
        init_range: float = 1e-4,
    ):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"unknown hash-grid backend {backend!r}; choose one of {BACKENDS}")
        if features_per_level < 1:
            raise ValueError(f"features_per_level must be >= 1, got {features_per_level}")
        if not 1 <= log2_table_size <= 31:
            raise ValueError(f"log2_table_size must be in [1, 31], got {log2_table_size}")
        self.num_levels = int(num_levels)
        self.features_per_level = int(features_per_level)
        self.backend = backend
        self.resolutions = tuple(level_resolutions(num_levels, base_resolution, finest_resolution))
        self.table_size = int(min(2**log2_table_size, (max(self.resolutions) + 1) ** 2))
        self.out_dim = self.num_levels * self.features_per_level
        res_t = torch.tensor(self.resolutions, dtype=torch.long)
        self.register_buffer("resolution_tensor", res_t, persistent=False)
        if backend == "tcnn":
            tcnn = _import_tcnn()
            per_level_scale = (
                math.exp((math.log(finest_resolution) - math.log(base_resolution)) / (num_levels - 1))
                if num_levels > 1
                else 1.0
            )
            self.tcnn = tcnn.Encoding(
                2,
                {
                    "otype": "HashGrid",
                    "n_levels": self.num_levels,
                    "n_features_per_level": self.features_per_level,
                    "log2_hashmap_size": int(log2_table_size),
                    "base_resolution": int(base_resolution),
                    "per_level_scale": per_level_scale,
                },
                dtype=torch.float32,
            )
            self.table = None
        else:
            table = torch.empty(self.num_levels, self.table_size, self.features_per_level)
            self.table = nn.Parameter(table.uniform_(-init_range, init_range))

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """coords [N, 2] in [0, 1] -> [N, L*F]."""
        if self.backend == "tcnn":
            return self.tcnn(coords.clamp(0.0, 1.0)).to(coords.dtype)
        return hash_grid_2d(coords.to(self.table.dtype), self.table, self.resolutions, self.backend)

    def dense_levels(self) -> list[bool]:
        """Per level: True when indexed directly, False when hashed."""
        return [(r + 1) ** 2 <= self.table_size for r in self.resolutions]

    def extra_repr(self) -> str:
        return (
            f"levels={self.resolutions}, table={self.table_size}x{self.features_per_level}, "
            f"backend={self.backend}"
        )


@dataclass
class TriplaneConfig:
    """Tri-plane hash encoding (defaults: TalkingGaussian's face encoder, see docs/fields.md).

    finest_resolution: cells per side of the finest level over the whole cube [-bound, bound]. 256 gives
    ~1.2 mm cells for bound 0.15 (TalkingGaussian passes torch-ngp's `desired_resolution = 256 * bound`,
    i.e. 38 cells across the cube; set `finest_resolution=38` to reproduce that exactly).
    """

    num_levels: int = 12
    features_per_level: int = 1
    log2_table_size: int = 17
    base_resolution: int = 16
    finest_resolution: int = 256
    bound: float = 0.15
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.bound <= 0:
            raise ValueError(f"TriplaneConfig.bound must be > 0 (half the cube side), got {self.bound}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown hash-grid backend {self.backend!r}; choose one of {BACKENDS}")
        level_resolutions(self.num_levels, self.base_resolution, self.finest_resolution)  # validates

    def to_dict(self) -> dict:
        return asdict(self)


PLANES = ((0, 1), (1, 2), (0, 2))  # xy, yz, xz
PLANE_NAMES = ("xy", "yz", "xz")


class TriplaneEncoding(nn.Module):
    """xyz [N, 3] world points -> [N, 3*L*F] features of the xy, yz, xz planes (in that order).

    Points are normalised by `(xyz + bound) / (2 * bound)` and clamped to the cube. Gradients flow to the
    three tables and back to xyz.
    """

    def __init__(self, cfg: TriplaneConfig | None = None):
        super().__init__()
        self.cfg = cfg if cfg is not None else TriplaneConfig()
        c = self.cfg
        self.planes = nn.ModuleDict(
            {
                name: HashGrid2D(
                    c.num_levels,
                    c.features_per_level,
                    c.log2_table_size,
                    c.base_resolution,
                    c.finest_resolution,
                    backend=c.backend,
                )
                for name in PLANE_NAMES
            }
        )
        self.out_dim = 3 * c.num_levels * c.features_per_level

    def normalise(self, xyz: torch.Tensor) -> torch.Tensor:
        """World xyz [N, 3] -> [N, 3] in [0, 1] inside the cube (not yet clamped)."""
        return (xyz + self.cfg.bound) / (2.0 * self.cfg.bound)

    def forward(self, xyz: torch.Tensor) -> torch.Tensor:
        if xyz.dim() != 2 or xyz.shape[1] != 3:
            raise ValueError(f"TriplaneEncoding expects xyz [N, 3], got shape {tuple(xyz.shape)}")
        if not xyz.dtype.is_floating_point:
            raise TypeError(f"xyz must be floating point, got {xyz.dtype}")
        if self.cfg.backend == "tcnn":
            uvw = self.normalise(xyz)
            feats = [self.planes[name](uvw[:, list(axes)]) for name, axes in zip(PLANE_NAMES, PLANES)]
            return torch.cat(feats, dim=1)
        tables = [self.planes[name].table for name in PLANE_NAMES]
        uvw = self.normalise(xyz.to(tables[0].dtype))
        return triplane_hash_grid(uvw, tables, self.planes["xy"].resolutions, self.cfg.backend)
