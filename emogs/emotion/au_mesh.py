"""A linear action-unit -> face-mesh displacement model (478 MediaPipe points).

Default table: `assets/emotion/au_to_mesh_pyfeat_v4.npz`, derived from py-feat 2.1.5's
`au_to_mesh_pls_v4.npz` (MIT; provenance in assets/emotion/README.md): a PLS regression from
20 AUs (py-feat's 0..1 scale) to the 478-point mesh in a frontal canonical frame (y up).
`AUMeshModel.image_displacement` maps AU intensities on OpenFace's 0..5 scale to pixel
displacements of a detected face, through a similarity (orthogonal Procrustes) fit of the
model's mean mesh to that face's landmarks.

Landmark index groups of the MediaPipe topology used by the emotion code are defined here too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emogs.face import topology
from emogs.face.topology import MOUTH, sorted_group

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "emotion"
DEFAULT_TABLE = "au_to_mesh_pyfeat_v4.npz"

# MediaPipe face-mesh index groups (emogs.face.topology), sorted: the order the AU -> mesh table's
# displacements are summed in.
LIPS = sorted_group(MOUTH)
LEFT_EYE = sorted_group(topology.LEFT_EYE)
RIGHT_EYE = sorted_group(topology.RIGHT_EYE)
LEFT_BROW = sorted_group(topology.LEFT_BROW)
RIGHT_BROW = sorted_group(topology.RIGHT_BROW)
FACE_OVAL = sorted_group(topology.FACE_OVAL)
IRISES = tuple(topology.IRISES)
# Stable points for the similarity fit (outer eye corners, nose bridge/tip, face oval).
_FIT_POINTS = (33, 133, 362, 263, 1, 4, 6, 168, 197, 195) + FACE_OVAL


def table_path(path: str | os.PathLike | None = None) -> Path:
    p = Path(path) if path is not None else Path(os.environ.get("EMOGS_AU_MESH", ASSETS / DEFAULT_TABLE))
    if not p.is_file():
        raise FileNotFoundError(
            f"AU->mesh table not found: {p}. It ships in the checkout as assets/emotion/{DEFAULT_TABLE} "
            "(rebuild it with assets/emotion/derive_au_mesh.py) or set EMOGS_AU_MESH."
        )
    return p


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares s, R (orthogonal, reflections allowed), t with dst ~ s * src @ R.T + t.

    src, dst: [N, D]. Reflections are allowed because the model's frame is y-up.
    """
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    r = u @ vt
    s = sig.sum() / max((a**2).sum(), 1e-12)
    return float(s), r, md - s * ms @ r.T


@dataclass
class AUMeshModel:
    """names [K]; delta [K, 478, 3] displacement per unit AU (model scale 0..1); mean_mesh [478, 3]."""

    names: tuple[str, ...]
    delta: np.ndarray
    mean_mesh: np.ndarray

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> AUMeshModel:
        z = np.load(table_path(path), allow_pickle=False)
        delta, mean = z["delta"].astype(np.float64), z["mean_mesh"].astype(np.float64)
        if delta.ndim != 3 or delta.shape[1:] != (478, 3) or mean.shape != (478, 3):
            raise ValueError(
                f"{path}: expected delta [K,478,3] and mean_mesh [478,3]; got {delta.shape}, {mean.shape}"
            )
        return cls(tuple(str(n) for n in z["au_names"]), delta, mean)

    def mesh_displacement(self, aus: dict[str, float]) -> np.ndarray:
        """{AU: intensity on 0..5} -> [478, 3] displacement in the model frame (AUs it lacks are ignored)."""
        out = np.zeros((478, 3))
        for n, v in aus.items():
            if n in self.names and v:
                out += (float(v) / 5.0) * self.delta[self.names.index(n)]
        return out

    def image_displacement(self, aus: dict[str, float], points478: np.ndarray) -> np.ndarray:
        """Pixel displacement [478, 2] of a face with landmarks `points478` [478, 3] (x, y px; z px)."""
        pts = np.asarray(points478, dtype=np.float64)
        if pts.shape != (478, 3):
            raise ValueError(f"points478 must be [478, 3] (MediaPipe mesh with irises); got {pts.shape}")
        idx = list(_FIT_POINTS)
        s, r, _ = fit_similarity(self.mean_mesh[idx], pts[idx])
        d = self.mesh_displacement(aus)
        return (s * d @ r.T)[:, :2]
