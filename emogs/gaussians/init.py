"""Initial Gaussians from the tracked face mesh (the dataset's `camera.npz: template`).

The template is the 478-point MediaPipe mesh in the canonical head frame (docs/dataset.md).
Face Gaussians are sampled on a triangulation of it (plus a sparser shell around it for hair,
ears and forehead that the mesh does not cover); inside-mouth Gaussians fill a shallow slab
behind the inner-lip ring; eyeball Gaussians fill each eye opening grown over the area the lids
hide, a little behind the lids. Colours come from projecting the points into a training frame
(for the eyeballs, a frame whose hidden eyeball is painted in: `emogs.face.eye_layer`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from emogs.face.topology import LEFT_EYE, LIPS_INNER, RIGHT_EYE

from .gaussian_set import GaussianSet, mean_nn_distance

# MediaPipe face mesh: the inner lip contour, in order around the mouth opening.
INNER_LIP_RING = tuple(LIPS_INNER)
NUM_MESH_POINTS = 478


def _check_template(template: np.ndarray) -> np.ndarray:
    t = np.asarray(template, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] != 3 or t.shape[0] < max(INNER_LIP_RING) + 1:
        raise ValueError(
            f"face template must be the [478,3] MediaPipe mesh in world units (got {t.shape}); "
            "re-run the preprocessing 'camera' stage to write camera.npz:template."
        )
    if not np.isfinite(t).all():
        raise ValueError("face template contains NaN/inf; re-run the preprocessing 'camera' stage.")
    return t


def sample_mesh_surface(
    template: np.ndarray, num: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Sample `num` points uniformly on a Delaunay triangulation (in x,y) of `template`.

    Returns points [num,3] and unit normals [num,3] (pointing to -z, towards a frontal camera).
    """
    from scipy.spatial import Delaunay

    t = _check_template(template)
    tri = Delaunay(t[:, :2]).simplices  # [F,3]
    a, b, c = t[tri[:, 0]], t[tri[:, 1]], t[tri[:, 2]]
    cross = np.cross(b - a, c - a)
    area = 0.5 * np.linalg.norm(cross, axis=1)
    keep = area > 0
    a, b, c, cross, area = a[keep], b[keep], c[keep], cross[keep], area[keep]
    face = rng.choice(len(area), size=num, p=area / area.sum())
    u, v = rng.random(num), rng.random(num)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    pts = a[face] + u[:, None] * (b[face] - a[face]) + v[:, None] * (c[face] - a[face])
    n = cross[face] / np.linalg.norm(cross[face], axis=1, keepdims=True)
    n = np.where(n[:, 2:3] > 0, -n, n)  # face the camera (which looks down +z)
    return pts, n


def sample_shell(template: np.ndarray, num: int, rng: np.random.Generator, grow: float = 1.3) -> np.ndarray:
    """`num` points in a shell around the mesh: its bounding box grown by `grow`, minus the mesh's
    own xy footprint region in front (hair, ears, neck line and forehead live there)."""
    t = _check_template(template)
    centre = t.mean(0)
    half = (t.max(0) - t.min(0)) / 2 * grow
    half[2] = max(half[2], 0.5 * half[0])
    pts = centre + (rng.random((num, 3)) * 2 - 1) * half
    # push shell points behind the face surface: z at least the template's mean depth
    pts[:, 2] = np.maximum(pts[:, 2], centre[2])
    return pts


def sample_mouth_interior(
    template: np.ndarray, num: int, rng: np.random.Generator, depth: float = 0.5
) -> np.ndarray:
    """`num` points inside an ellipse around the inner-lip ring (x,y), spread over a slab behind
    the lips whose thickness is `depth` x the mouth width."""
    t = _check_template(template)
    ring = t[list(INNER_LIP_RING)]
    lo, hi = ring.min(0), ring.max(0)
    width = hi[0] - lo[0]
    # grow the ring's box a little: the inner-lip polygon is almost closed on a neutral template
    face_w = t[:, 0].max() - t[:, 0].min()
    width = min(width, 0.45 * face_w)  # robust to a degenerate ring
    c = ring.mean(0)
    half_y = min(max((hi[1] - lo[1]) / 2, 0.25 * width), 0.15 * face_w)
    out = []
    while sum(len(o) for o in out) < num:
        cand = np.stack(
            [
                c[0] + (rng.random(num) * 2 - 1) * width * 0.55,
                c[1] + (rng.random(num) * 2 - 1) * half_y,
                c[2] + rng.random(num) * depth * width,
            ],
            axis=1,
        )
        inside = ((cand[:, 0] - c[0]) / (width * 0.55)) ** 2 + ((cand[:, 1] - c[1]) / half_y) ** 2 <= 1
        out.append(cand[inside])
    return np.concatenate(out)[:num]


def sample_eyeballs(
    template: np.ndarray, num: int, rng: np.random.Generator, up: float = 0.35, down: float = 0.3,
    across: float = 0.6, recess: float = 0.08,
) -> np.ndarray:
    """`num` points (half per eye) on each eyeball: in the eye opening of `template` grown to a half
    ellipse `up` x the eye width above the eye's centre and `down` below (`across` x the width to
    either side), on the plane of the eye contour pushed `recess` x the width behind it. The lids
    hide most of it; it is what they uncover when they open wider than in the video."""
    t = _check_template(template)
    out = []
    for k, contour in enumerate((RIGHT_EYE, LEFT_EYE)):
        c = t[list(contour)]
        n = num // 2 + (num % 2 if k == 0 else 0)
        ax = c[8, :2] - c[0, :2]  # corner to corner
        width = float(np.linalg.norm(ax))
        ax = ax / max(width, 1e-12)
        up_dir = np.array([-ax[1], ax[0]])
        if np.dot(c[9:16, :2].mean(0) - c[1:8, :2].mean(0), up_dir) < 0:  # upper lid is "up"
            up_dir = -up_dir
        centre = c[:, :2].mean(0)
        # the contour's plane z = a x + b y + d (least squares), then `recess` behind (camera looks +z)
        A = np.c_[c[:, :2], np.ones(len(c))]
        plane = np.linalg.lstsq(A, c[:, 2], rcond=None)[0]
        pts = []
        while sum(len(p) for p in pts) < n:
            s_, r_ = rng.uniform(-1, 1, (2, 2 * n))
            inside = s_**2 + r_**2 <= 1
            s_, r_ = s_[inside] * across * width, r_[inside]
            r_ = np.where(r_ > 0, r_ * up, r_ * down) * width
            xy = centre + s_[:, None] * ax + r_[:, None] * up_dir
            z = np.c_[xy, np.ones(len(xy))] @ plane + recess * width
            pts.append(np.c_[xy, z])
        out.append(np.concatenate(pts)[:n])
    return np.concatenate(out)


def project_colors(points: np.ndarray, image: np.ndarray, w2c: np.ndarray, K: np.ndarray) -> np.ndarray:
    """RGB [N,3] in [0,1] sampled (nearest) where `points` [N,3] project into `image` [H,W,3]."""
    img = np.asarray(image, dtype=np.float32)
    if img.max() > 1.5:
        img = img / 255.0
    h, w = img.shape[:2]
    pc = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = np.clip(pc[:, 2], 1e-6, None)
    uv = (pc[:, :2] / z[:, None]) @ K[:2, :2].T + K[:2, 2]
    x = np.clip(np.floor(uv[:, 0]).astype(int), 0, w - 1)
    y = np.clip(np.floor(uv[:, 1]).astype(int), 0, h - 1)
    return img[y, x]


def frame_colors(points: np.ndarray, image, w2c, K) -> torch.Tensor | None:
    """`project_colors` as a float tensor [N,3] when a frame (image, w2c, K) is given, else None."""
    if image is None or w2c is None or K is None:
        return None
    return torch.from_numpy(project_colors(points, image, np.asarray(w2c), np.asarray(K))).float()


def init_face_gaussians(
    template: np.ndarray,
    num: int,
    sh_degree: int = 2,
    image: np.ndarray | None = None,
    w2c: np.ndarray | None = None,
    K: np.ndarray | None = None,
    shell_fraction: float = 0.3,
    seed: int = 0,
    shell_opacity: float = 0.1,
) -> GaussianSet:
    """Face Gaussians: (1-shell_fraction) on the mesh surface (flat, along its normals), the rest in a
    shell around it. Colours from `image` seen through `w2c`/`K` when given, else grey."""
    rng = np.random.default_rng(seed)
    n_shell = int(round(num * shell_fraction))
    surf, nrm = sample_mesh_surface(template, num - n_shell, rng)
    shell = sample_shell(template, n_shell, rng)
    pts = np.concatenate([surf, shell])
    normals = np.concatenate([nrm, np.tile([[0.0, 0.0, -1.0]], (n_shell, 1))])
    colors = frame_colors(pts, image, w2c, K)
    g = GaussianSet.from_points(
        torch.from_numpy(pts).float(), colors, sh_degree=sh_degree, normals=torch.from_numpy(normals).float()
    )
    with torch.no_grad():  # the shell starts faint: most of it is background and gets pruned
        g.params["opacity_logit"][len(surf):] = math.log(shell_opacity / (1 - shell_opacity))
    return g


def init_mouth_gaussians(template: np.ndarray, num: int, sh_degree: int = 2, seed: int = 1) -> GaussianSet:
    """Inside-mouth Gaussians in a slab behind the inner lips, dark red (the mouth cavity)."""
    rng = np.random.default_rng(seed)
    pts = sample_mouth_interior(template, num, rng, depth=0.5)
    colors = torch.tensor([[0.35, 0.12, 0.12]]).expand(num, 3)
    return GaussianSet.from_points(torch.from_numpy(pts).float(), colors, sh_degree=sh_degree)


def init_eye_gaussians(
    template: np.ndarray,
    num: int,
    sh_degree: int = 2,
    image: np.ndarray | None = None,
    w2c: np.ndarray | None = None,
    K: np.ndarray | None = None,
    seed: int = 2,
    opacity: float = 0.99,
    overlap: float = 2.5,
) -> GaussianSet:
    """Eyeball Gaussians (`sample_eyeballs`), flat discs facing the camera, `overlap` x the mean
    nearest-neighbour distance across and nearly opaque, so that together they are a solid layer (a
    hole would show whatever lies behind). Colours from `image` seen through `w2c`/`K` - pass a frame
    with the hidden eyeball painted in (`emogs.face.eye_layer.still_eyeballs`), since most of these
    points lie under the lids - else a light grey sclera."""
    rng = np.random.default_rng(seed)
    pts = torch.from_numpy(sample_eyeballs(template, num, rng)).float()
    colors = frame_colors(pts.numpy(), image, w2c, K)
    if colors is None:
        colors = torch.tensor([[0.85, 0.83, 0.8]]).expand(len(pts), 3)
    normals = torch.tensor([[0.0, 0.0, -1.0]]).expand(len(pts), 3)
    return GaussianSet.from_points(pts, colors, sh_degree=sh_degree, scale=overlap * mean_nn_distance(pts),
                                   opacity=opacity, normals=normals)
