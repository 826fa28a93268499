"""PLY export of a GaussianSet in the 3DGS layout (readable by common splat viewers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import save_bytes


def export_ply(gset, path: str | Path) -> Path:
    """Write `gset` (an emogs GaussianSet) as a binary little-endian 3DGS PLY (see `write_gaussians_ply`)."""
    p = {k: v.detach().cpu().float().numpy() for k, v in gset.params.items()}
    return write_gaussians_ply(path, p["means"], p["quats"], p["log_scales"], p["opacity_logit"], p["sh0"],
                               p["shN"])


def write_gaussians_ply(path: str | Path, means, quats, log_scales, opacity_logit, sh0, shN) -> Path:
    """Write Gaussians as a binary little-endian float32 PLY in the original 3DGS layout.

    means [N,3]; quats [N,4] wxyz (rot_0 = w); log_scales [N,3] (scale_i = log of the std);
    opacity_logit [N] or [N,1] (opacity = its sigmoid); sh0 [N,1,3] or [N,3] (f_dc); shN [N,K-1,3]
    (f_rest, channel-major: all coefficients of red, then green, then blue). Properties, in order:
    x y z nx ny nz (zeros) f_dc_0..2 f_rest_0..3(K-1)-1 opacity scale_0..2 rot_0..3 - the layout of
    3DGS' `save_ply`, read by gsplat / nerfstudio / SuperSplat. Written atomically.
    """
    n = np.asarray(means).shape[0]
    rest = np.asarray(shN, np.float32).reshape(n, -1, 3).transpose(0, 2, 1).reshape(n, -1)
    cols = [np.asarray(means, np.float32).reshape(n, 3), np.zeros((n, 3), np.float32),
            np.asarray(sh0, np.float32).reshape(n, 3), rest,
            np.asarray(opacity_logit, np.float32).reshape(n, 1),
            np.asarray(log_scales, np.float32).reshape(n, 3), np.asarray(quats, np.float32).reshape(n, 4)]
    data = np.concatenate(cols, axis=1).astype("<f4")
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(rest.shape[1])]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    header = "ply\nformat binary_little_endian 1.0\n" + f"element vertex {n}\n"
    header += "".join(f"property float {nm}\n" for nm in names) + "end_header\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_bytes(path, header.encode("ascii") + data.tobytes())
    return path


def read_ply(path: str | Path) -> dict[str, np.ndarray]:
    """Read a binary float PLY written by `export_ply` -> {property name: [N] array}."""
    with open(path, "rb") as f:
        names, n = [], 0
        while True:
            line = f.readline().decode("ascii").strip()
            if line.startswith("element vertex"):
                n = int(line.split()[-1])
            elif line.startswith("property float"):
                names.append(line.split()[-1])
            elif line == "end_header":
                break
        data = np.frombuffer(f.read(), dtype="<f4").reshape(n, len(names))
    return {nm: data[:, i] for i, nm in enumerate(names)}
