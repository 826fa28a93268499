"""tools/export_ply.py: the deformed Gaussians in the 3DGS PLY layout, read back by plyfile."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

plyfile = pytest.importorskip("plyfile", reason="plyfile (requirements.txt) is the independent reader")

ROOT = Path(__file__).resolve().parents[2]
LAYOUT_HEAD = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
LAYOUT_TAIL = ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]


def export(*args):
    res = subprocess.run([sys.executable, "tools/export_ply.py", *map(str, args)], capture_output=True,
                         text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert "Traceback" not in res.stderr, res.stderr
    return res


def read(path):
    ply = plyfile.PlyData.read(str(path))
    assert ply.header.startswith("ply\nformat binary_little_endian 1.0") or not ply.text
    v = ply["vertex"]
    return [p.name for p in v.properties], v.data


def test_export_reads_back_as_the_avatars_deformed_gaussians(fitted, tmp_path):
    from emogs.avatar import FrameConditions
    from emogs.avatar.store import load_avatar
    from emogs.data import PersonDataset

    _, root, av = fitted
    out = tmp_path / "f3.ply"
    res = export(av, "--frame", "3", "--emotion", "happy:strong", "--out", out)
    assert res.returncode == 0, res.stderr
    names, data = read(out)
    k_rest = len(names) - len(LAYOUT_HEAD) - len(LAYOUT_TAIL)
    assert names[:9] == LAYOUT_HEAD and names[-8:] == LAYOUT_TAIL and k_rest % 3 == 0
    assert names[9:-8] == [f"f_rest_{i}" for i in range(k_rest)]
    assert all(data.dtype[n] == np.dtype("<f4") for n in names)

    avatar, meta = load_avatar(av)
    ds = PersonDataset(root, split="train", audio_window=avatar.config.audio_window)
    cond = FrameConditions(w2c=ds.w2c[3], K=ds.K, audio=ds.audio_window(3),
                           aus=torch.from_numpy(np.array(ds.aus[3], np.float32)),
                           va=torch.tensor([0.876, 0.366]))  # happy:strong
    parts = [(avatar.face, avatar.face_net, (cond.audio, cond.aus), cond.va), (avatar.mouth, avatar.mouth_net,
                                                                               (cond.audio,), None)]
    n_face, n_mouth = len(avatar.face), len(avatar.mouth)
    n_eyes = len(avatar.eyes) if avatar.eyes is not None else 0
    assert len(data) == n_face + n_eyes + n_mouth
    with torch.no_grad():
        fm, fq, fs, _ = avatar._deformed(*parts[0])
        mm, _, _, _ = avatar._deformed(*parts[1])
    xyz = np.stack([data["x"], data["y"], data["z"]], 1)
    np.testing.assert_allclose(xyz[:n_face], fm.numpy(), atol=2e-3)
    np.testing.assert_allclose(xyz[n_face + n_eyes:], mm.numpy(), atol=1e-5)
    rot = np.stack([data[f"rot_{i}"] for i in range(4)], 1)
    np.testing.assert_allclose(rot[:n_face], fq.numpy(), atol=2e-3)  # wxyz, unit
    np.testing.assert_allclose(np.linalg.norm(rot, axis=1), 1, atol=1e-5)
    scale = np.exp(np.stack([data[f"scale_{i}"] for i in range(3)], 1))  # log scales
    np.testing.assert_allclose(scale[:n_face], fs.numpy(), rtol=1e-3)
    opac = 1 / (1 + np.exp(-data["opacity"]))  # logits
    np.testing.assert_allclose(opac[:n_face], avatar.face.opacities.detach().numpy().reshape(-1), atol=1e-6)
    f_dc = np.stack([data[f"f_dc_{i}"] for i in range(3)], 1)
    np.testing.assert_allclose(f_dc[:n_face], avatar.face.params["sh0"].detach().numpy().reshape(-1, 3))
    if k_rest:  # channel-major: f_rest_0..K-2 are red's coefficients
        shN = avatar.face.params["shN"].detach().numpy()  # [N, K-1, 3]
        np.testing.assert_allclose(data["f_rest_0"][:n_face], shN[:, 0, 0])
        np.testing.assert_allclose(data[f"f_rest_{k_rest // 3}"][:n_face], shN[:, 0, 1])

    # the conditions move the Gaussians: another frame / no emotion give other positions
    res = export(av, "--frame", "3", "--out", tmp_path / "neutral.ply")
    assert res.returncode == 0, res.stderr
    _, neutral = read(tmp_path / "neutral.ply")
    assert json.loads((av / "avatar.json").read_text())["avatar"]["with_emotion"]
    moved = np.abs(neutral["x"][:n_face] - data["x"][:n_face]).max()
    assert moved > 0, "the emotion branch moved nothing"
    np.testing.assert_array_equal(neutral["x"][n_face:], data["x"][n_face:])  # eyes and mouth: no emotion


def test_export_errors(fitted, tmp_path):
    _, _, av = fitted
    res = export(av, "--out", tmp_path)
    assert res.returncode == 2 and "existing folder" in res.stderr
    res = export(av, "--frame", "999", "--out", tmp_path / "x.ply")
    assert res.returncode == 2 and "outside" in res.stderr
    res = export(av, "--emotion", "happy:huge", "--out", tmp_path / "x.ply")
    assert res.returncode == 2 and "huge" in res.stderr
    assert not list(tmp_path.glob("*.ply*"))
