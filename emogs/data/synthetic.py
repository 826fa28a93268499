"""A small synthetic person dataset for tests (same format as `python -m preprocess` writes).

The scene is geometrically consistent: a head ellipsoid (world units, in [-0.15, 0.15]^3) seen by a
camera that orbits slightly; landmarks are projections of fixed points on the ellipsoid; the
parsing map, the normals and the frames are rendered from the same ellipsoid, with a mouth whose
opening follows the audio features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .schema import FLOW_STRIDE, FORMAT_VERSION, MANIFEST, encode_normals

AU_NAMES = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU12", "AU15", "AU25", "AU26", "AU45"]
RADII = np.array([0.10, 0.13, 0.11])  # head ellipsoid half-axes (x, y, z), world units


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def write_toy_dataset(root: str | Path, num_frames: int = 22, size: int = 64, audio_dim: int = 16,
                      fps: float = 25.0, seed: int = 0, with_emotion: bool = False) -> Path:
    """Write a toy person dataset to `root` and return the path.

    Shapes follow docs/dataset.md with T=num_frames, S=size, D=audio_dim, A=11. Valence/arousal of
    the real frames are zeros (backend "none"), as the pipeline writes before the V/A stage exists.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    T, S = int(num_frames), int(size)
    f = 1.2 * S / (2 * 0.16 / 0.6)  # the head (~0.26 tall at depth 0.6) fills ~0.6 of the crop
    K = np.array([[f, 0, S / 2], [0, f, S / 2], [0, 0, 1]], np.float32)
    dist = 0.6

    # landmarks: 478 fixed points on the front half of the ellipsoid
    u = rng.uniform(-1.2, 1.2, 478)
    v = rng.uniform(-1.2, 1.2, 478)
    dirs = np.stack([np.sin(u) * np.cos(v), np.sin(v), -np.cos(u) * np.cos(v)], -1)
    template = (dirs * RADII).astype(np.float32)

    t = np.arange(T) / fps
    yaw, pitch = 0.15 * np.sin(2 * np.pi * 0.3 * t), 0.08 * np.sin(2 * np.pi * 0.2 * t)
    roll = 0.05 * np.sin(t)
    w2c = np.zeros((T, 4, 4), np.float32)
    for i in range(T):
        w2c[i, :3, :3] = _rot(yaw[i], pitch[i], roll[i])
        w2c[i, :3, 3] = [0, 0, dist]
        w2c[i, 3, 3] = 1

    audio = np.sin(2 * np.pi * np.outer(t, np.linspace(0.5, 4, audio_dim)) + rng.uniform(0, 6, audio_dim))
    mouth_open = 0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t)

    ys, xs = np.mgrid[0:S, 0:S] + 0.5
    rays = np.stack([(xs - K[0, 2]) / f, (ys - K[1, 2]) / f, np.ones_like(xs)], -1)  # camera space
    bg = np.zeros((S, S, 3), np.uint8)
    bg[..., 0] = np.linspace(40, 90, S)[None].astype(np.uint8)
    bg[..., 1] = 70
    bg[..., 2] = np.linspace(120, 60, S)[:, None].astype(np.uint8)

    frames = np.lib.format.open_memmap(root / "frames.npy", "w+", np.uint8, (T, S, S, 3))
    parsing = np.lib.format.open_memmap(root / "parsing.npy", "w+", np.uint8, (T, S, S))
    normals = np.lib.format.open_memmap(root / "normals.npy", "w+", np.uint8, (T, S, S, 3))
    landmarks = np.zeros((T, 478, 3), np.float32)
    for i in range(T):
        R, tr = w2c[i, :3, :3].astype(np.float64), w2c[i, :3, 3].astype(np.float64)
        cam_pts = template @ R.T + tr
        landmarks[i, :, :2] = (cam_pts[:, :2] / cam_pts[:, 2:]) * f + S / 2
        landmarks[i, :, 2] = (cam_pts[:, 2] - dist) * f / dist
        # ray / ellipsoid intersection in world space: o + s d, |(o + s d) / r| = 1
        o = -R.T @ tr
        d = rays @ R  # R^T applied to each ray
        a = ((d / RADII) ** 2).sum(-1)
        b = 2 * ((o / RADII) * (d / RADII)).sum(-1)
        c = ((o / RADII) ** 2).sum() - 1
        disc = b * b - 4 * a * c
        hit = disc > 0
        s = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        p = o + s[..., None] * d  # world points
        n_world = p / RADII**2
        n_cam = n_world @ R.T
        n_cam /= np.linalg.norm(n_cam, axis=-1, keepdims=True) + 1e-9
        lab = np.zeros((S, S), np.uint8)
        lab[ys > S * 0.8] = 9  # torso
        neck = (np.abs(xs - S / 2) < S * 0.12) & (ys > S * 0.65) & (ys <= S * 0.8)
        lab[neck] = 8
        lab[hit] = 1
        lab[hit & (p[..., 1] < -0.09)] = 7  # hair on top
        mouth = hit & (np.abs(p[..., 0]) < 0.035) & (np.abs(p[..., 1] - 0.06) < 0.004 + 0.012 * mouth_open[i])
        lab[mouth & (np.abs(p[..., 1] - 0.06) > 0.004 + 0.008 * mouth_open[i])] = 4
        lab[mouth & (np.abs(p[..., 1] - 0.06) <= 0.004 + 0.008 * mouth_open[i])] = 5
        for ex in (-0.04, 0.04):
            lab[hit & (np.hypot(p[..., 0] - ex, p[..., 1] + 0.02) < 0.012)] = 3
            lab[hit & (np.abs(p[..., 0] - ex) < 0.02) & (np.abs(p[..., 1] + 0.045) < 0.004)] = 2
        palette = np.array([[0, 0, 0], [220, 180, 150], [60, 40, 30], [250, 250, 250], [180, 60, 70],
                            [60, 10, 20], [240, 240, 230], [50, 35, 25], [200, 160, 130], [40, 60, 150]],
                           np.uint8)
        shade = np.clip(-n_cam[..., 2] * 0.7 + 0.3, 0.2, 1.0)[..., None]
        img = np.where((lab == 0)[..., None], bg, palette[lab]).astype(np.float32)
        img = np.where(hit[..., None], img * shade, img)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
        parsing[i] = lab
        face = hit & (lab != 7)
        normals[i] = encode_normals(n_cam, face)
    frames.flush()
    parsing.flush()
    normals.flush()
    del frames, parsing, normals

    import cv2

    cv2.imwrite(str(root / "background.png"), bg[..., ::-1])
    np.save(root / "landmarks.npy", landmarks)
    np.save(root / "landmark_conf.npy", np.ones(T, np.float32))
    from emogs.face.landmarks import to_68  # noqa: PLC0415  (same mapping as the pipeline)

    np.save(root / "landmarks68.npy", to_68(landmarks))
    np.savez(root / "camera.npz", K=K, w2c=w2c, template=template, reproj_err=np.zeros(T, np.float32),
             world_to_metres=np.float32(1.0))
    aus = np.clip(rng.normal(1.0, 0.5, (T, len(AU_NAMES))), 0, 5).astype(np.float32)
    aus[:, AU_NAMES.index("AU26")] = 4 * mouth_open
    np.save(root / "aus.npy", aus)
    np.save(root / "audio_features.npy", audio.astype(np.float32))
    np.save(root / "valence_arousal.npy", np.zeros((T, 2), np.float32))

    n_val = max(1, T // 11) if T > 1 else 0
    manifest = {
        "format_version": FORMAT_VERSION,
        "source": {"path": "synthetic", "sha256": None, "fps": fps, "duration_s": T / fps,
                   "width": S, "height": S, "rotation": 0},
        "fps": fps, "size": S, "num_frames": T, "sample_rate": 16000, "has_audio": False,
        "crop": {"x0": 0.0, "y0": 0.0, "side": float(S)},
        "split": {"train": [0, T - n_val], "val": [T - n_val, T]},
        "aus": {"names": AU_NAMES},
        "audio_features": {"extractor": "synthetic", "dim": audio_dim, "window": 4},
        "valence_arousal": {"backend": "none"},
        "stages": {},
    }
    if with_emotion:
        em = root / "emotion"
        em.mkdir(exist_ok=True)
        M = max(2, T // 4)
        src = np.linspace(0, T - 1, M).astype(np.int64)
        np.save(em / "source_index.npy", src)
        ff = np.load(root / "frames.npy", mmap_mode="r")
        np.save(em / "frames.npy", np.ascontiguousarray(ff[src]))
        np.save(em / "parsing.npy", np.ascontiguousarray(np.load(root / "parsing.npy", mmap_mode="r")[src]))
        np.save(em / "normals.npy", np.ascontiguousarray(np.load(root / "normals.npy", mmap_mode="r")[src]))
        np.save(em / "aus.npy", aus[src])
        em_va = rng.uniform(-1, 1, (M, 2)).astype(np.float32)
        np.save(em / "valence_arousal.npy", em_va)
        # motion field of the (toy) edit: the face shifts right by 1.5 px x valence (px of S)
        flow = np.zeros((M, S // FLOW_STRIDE, S // FLOW_STRIDE, 2), np.float16)
        flow[..., 0] = 1.5 * em_va[:, 0, None, None]
        np.save(em / "flow.npy", flow)
    with open(root / MANIFEST, "w") as fh:
        json.dump(manifest, fh, indent=2)
    return root
