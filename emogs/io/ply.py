"""PLY export of a GaussianSet in the 3DGS layout (readable by common splat viewers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_ply(gset, path: str | Path) -> Path:
    """Write `gset` (an emogs GaussianSet) as a binary little-endian 3DGS PLY.

    Properties: x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity scale_0..2 rot_0..3, with
    log-scales, opacity logits and channel-major f_rest, as the 3DGS tools expect.
    """
    p = {k: v.detach().cpu().float().numpy() for k, v in gset.params.items()}
    n = p["means"].shape[0]
    rest = p["shN"].transpose(0, 2, 1).reshape(n, -1)  # [N, 3*(K-1)] channel-major
    cols = [p["means"], np.zeros((n, 3), np.float32), p["sh0"].reshape(n, 3), rest,
            p["opacity_logit"].reshape(n, 1), p["log_scales"], p["quats"]]
    data = np.concatenate(cols, axis=1).astype("<f4")
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(rest.shape[1])]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    header = "ply\nformat binary_little_endian 1.0\n" + f"element vertex {n}\n"
    header += "".join(f"property float {nm}\n" for nm in names) + "end_header\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(data.tobytes())
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
