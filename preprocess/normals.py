"""Per-pixel camera-space normals of the face from the MediaPipe mesh.

The 478 landmarks (x, y in pixels, z = MediaPipe relative depth in pixel units) are lifted to
camera space with the shared intrinsics ``K``: a point at pixel (x, y) with relative depth z lies
at depth ``Z = f + z`` (the face's mean depth set to f pixel-units; normals do not depend on the
absolute scale), ``X = (x - cx) Z / fx``, ``Y = (y - cy) Z / fy``. The dense mesh
(``emogs.face.mesh_topology``: 852 triangles + eye fans) gets smooth per-vertex normals (area
weighted), oriented so the face's visible side points to the camera (OpenCV camera: n_z < 0),
and is rasterised with a z-buffer; each pixel's normal is the barycentric blend of its
triangle's vertex normals, renormalised.

Output encoding (docs/dataset.md): uint8 ``round((n + 1) * 127.5)``, ``(0, 0, 0)`` outside the face
(and inside the open mouth).

A learned estimator can replace the geometry: ``NormalEstimator`` is the interface (any callable
module mapping an RGB image to unit normals), loaded with ``load_normal_estimator``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emogs.data.schema import encode_normals
from emogs.face.mesh_topology import face_triangles


def lift_to_camera(points478: np.ndarray, K: np.ndarray) -> np.ndarray:
    """[N, 3] (x px, y px, z px-depth) -> camera-space points [N, 3] (float64)."""
    p = np.asarray(points478, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    depth = fx + p[:, 2]
    return np.stack([(p[:, 0] - cx) * depth / fx, (p[:, 1] - cy) * depth / fy, depth], axis=1)


def vertex_normals(verts: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals, flipped as a whole so the mesh faces the camera
    (area-weighted mean n_z < 0). verts [N, 3], tris [F, 3] -> [N, 3]."""
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    fn = np.cross(b - a, c - a)  # |fn| = 2 * area
    if fn[:, 2].sum() > 0:
        fn = -fn
    vn = np.zeros_like(verts)
    for k in range(3):
        np.add.at(vn, tris[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def rasterize_attributes(
    xy: np.ndarray, depth: np.ndarray, tris: np.ndarray, attrs: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Z-buffered barycentric interpolation of per-vertex attributes (nearest = smallest depth).

    xy [N, 2] pixel coordinates (pixel centres at i + 0.5), depth [N], tris [F, 3], attrs [N, C].
    Returns (image float32 [size, size, C], covered bool [size, size]).
    """
    out = np.zeros((size, size, attrs.shape[1]), np.float32)
    covered = np.zeros((size, size), bool)
    a, b, c = xy[tris[:, 0]], xy[tris[:, 1]], xy[tris[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    tri_xy = np.stack([a, b, c], axis=1)
    lo = np.ceil(tri_xy.min(axis=1) - 0.5).astype(np.int64)
    hi = np.floor(tri_xy.max(axis=1) - 0.5).astype(np.int64)
    lo = np.clip(lo, 0, size - 1)
    hi = np.clip(hi, -1, size - 1)
    w = hi[:, 0] - lo[:, 0] + 1
    h = hi[:, 1] - lo[:, 1] + 1
    keep = (w > 0) & (h > 0) & (np.abs(area) > 1e-12)
    if not keep.any():
        return out, covered
    idx = np.nonzero(keep)[0]
    counts = (w * h)[idx]
    tri_of = np.repeat(idx, counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(counts.sum()) - start
    px = lo[tri_of, 0] + local % w[tri_of]
    py = lo[tri_of, 1] + local // w[tri_of]
    sx, sy = px + 0.5, py + 0.5
    ax, ay = a[tri_of, 0], a[tri_of, 1]
    bx, by = b[tri_of, 0], b[tri_of, 1]
    cx, cy = c[tri_of, 0], c[tri_of, 1]
    ar = area[tri_of]
    l1 = ((sx - ax) * (cy - ay) - (sy - ay) * (cx - ax)) / ar
    l2 = ((bx - ax) * (sy - ay) - (by - ay) * (sx - ax)) / ar
    l0 = 1.0 - l1 - l2
    eps = -1e-9
    inside = (l0 >= eps) & (l1 >= eps) & (l2 >= eps)
    tri_of, px, py, l0, l1, l2 = tri_of[inside], px[inside], py[inside], l0[inside], l1[inside], l2[inside]
    t = tris[tri_of]
    z = l0 * depth[t[:, 0]] + l1 * depth[t[:, 1]] + l2 * depth[t[:, 2]]
    pix = py * size + px
    order = np.lexsort((z, pix))
    pix_sorted = pix[order]
    first = order[np.concatenate([[True], pix_sorted[1:] != pix_sorted[:-1]])]
    t = t[first]
    val = (
        l0[first, None] * attrs[t[:, 0]] + l1[first, None] * attrs[t[:, 1]] + l2[first, None] * attrs[t[:, 2]]
    )
    out[py[first], px[first]] = val
    covered[py[first], px[first]] = True
    return out, covered


def _raster_sparse(
    xy: np.ndarray, depth: np.ndarray, tris: np.ndarray, attrs: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fast rasteriser returning (py, px, attrs [M, C]) of the covered pixels.

    Triangle ids are drawn far-to-near (painter's order by mean depth) with OpenCV; each covered
    pixel then evaluates its triangle's affine attribute interpolant (the barycentric blend,
    extrapolated by < 1 px on edge pixels). Differs from the exact z-buffer only on edge pixels
    and where triangles overlap out of mean-depth order.
    """
    import cv2

    # draw into a buffer covering the mesh's bounding box only
    x0 = int(np.clip(np.floor(xy[:, 0].min()) - 1, 0, size))
    y0 = int(np.clip(np.floor(xy[:, 1].min()) - 1, 0, size))
    x1 = int(np.clip(np.ceil(xy[:, 0].max()) + 1, x0, size))
    y1 = int(np.clip(np.ceil(xy[:, 1].max()) + 1, y0, size))
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, attrs.shape[1]), np.float32))
    if x1 <= x0 or y1 <= y0:
        return empty
    ids = np.zeros((y1 - y0, x1 - x0), np.int32)
    order = np.argsort(-depth[tris].mean(axis=1), kind="stable")
    pts = np.round((xy[tris[order]] - 0.5 - [x0, y0]) * 16.0).astype(np.int32)  # OpenCV: centres at i
    for k, tri in zip(order.tolist(), pts):
        cv2.fillConvexPoly(ids, tri, k + 1, lineType=cv2.LINE_8, shift=4)
    flat = np.flatnonzero(ids)
    if len(flat) == 0:
        return empty
    tri_id = ids.ravel()[flat] - 1
    py_l, px_l = np.divmod(flat, x1 - x0)
    # per triangle, the attribute is affine in the pixel position: attr = G @ (x, y, 1), in closed form
    # (no batched LAPACK inverse: slow, and multi-threaded BLAS in each worker process)
    g = _affine_interpolants(xy, tris, attrs)  # [F, C, 3]
    # evaluate in local pixel coordinates (smaller numbers, float32-friendly)
    g[:, :, 2] += g[:, :, 0] * (x0 + 0.5) + g[:, :, 1] * (y0 + 0.5)
    g = np.ascontiguousarray(g.transpose(1, 2, 0), dtype=np.float32)  # [C, 3, F]
    sx = px_l.astype(np.float32)
    sy = py_l.astype(np.float32)
    vals = np.empty((len(flat), attrs.shape[1]), np.float32)
    for ch in range(attrs.shape[1]):
        gc = g[ch]
        vals[:, ch] = gc[0][tri_id] * sx + gc[1][tri_id] * sy + gc[2][tri_id]
    return py_l + y0, px_l + x0, vals


def _affine_interpolants(xy: np.ndarray, tris: np.ndarray, attrs: np.ndarray) -> np.ndarray:
    """Per triangle, G [C, 3] with attr(x, y) = G @ (x, y, 1) matching the vertex attributes.

    xy [N, 2], tris [F, 3], attrs [N, C] -> [F, C, 3] float64. Degenerate (edge-on, twice the area
    < 1e-9 px^2) triangles get the constant mean attribute.
    """
    a, b, c = xy[tris[:, 0]], xy[tris[:, 1]], xy[tris[:, 2]]
    va, vb, vc = attrs[tris[:, 0]], attrs[tris[:, 1]], attrs[tris[:, 2]]
    e1, e2 = b - a, c - a
    d = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]  # twice the signed area
    bad = np.abs(d) < 1e-9
    inv = 1.0 / np.where(bad, 1.0, d)
    d1, d2 = vb - va, vc - va  # [F, C]
    gx = (d1 * e2[:, 1:2] - d2 * e1[:, 1:2]) * inv[:, None]
    gy = (d2 * e1[:, 0:1] - d1 * e2[:, 0:1]) * inv[:, None]
    g0 = va - gx * a[:, 0:1] - gy * a[:, 1:2]
    g = np.stack([gx, gy, g0], axis=-1)
    g[bad] = 0.0
    g[bad, :, 2] = (va[bad] + vb[bad] + vc[bad]) / 3.0
    return g


class FaceNormalRenderer:
    """Render the face's camera-space normals from 478 landmarks.

    ``renderer(points478 [478, 3], K [3, 3]) -> uint8 [S, S, 3]`` (encoded, zero outside the face);
    ``renderer.render(...)`` returns (float32 unit normals [S, S, 3], mask [S, S]).
    """

    def __init__(self, size: int, fill_eyes: bool = True, exact: bool = False):
        if int(size) <= 0:
            raise ValueError(f"size must be positive, got {size}.")
        self.size = int(size)
        self.exact = bool(exact)  # True: per-pixel z-buffer (slower reference rasteriser)
        self.tris = face_triangles(fill_eyes)

    def _sparse(self, points478: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(py, px, unit normals [M, 3]) of the covered pixels."""
        p = np.asarray(points478, dtype=np.float64)
        if p.shape != (478, 3):
            raise ValueError(
                f"FaceNormalRenderer needs the 478-point mesh with iris [478, 3], got {p.shape}."
            )
        if not np.all(np.isfinite(p)):
            raise ValueError("landmarks contain NaN or Inf.")
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f"K must be a 3x3 pinhole matrix with positive focal lengths, got {K.tolist()}.")
        verts = lift_to_camera(p, K)
        vn = vertex_normals(verts, self.tris)
        if self.exact:
            img, covered = rasterize_attributes(p[:, :2], verts[:, 2], self.tris, vn, self.size)
            py, px = np.nonzero(covered)
            vals = img[py, px]
        else:
            py, px, vals = _raster_sparse(p[:, :2], verts[:, 2], self.tris, vn, self.size)
        norm2 = np.einsum("mc,mc->m", vals, vals)
        ok = norm2 > 1e-12
        if not ok.all():
            py, px, vals, norm2 = py[ok], px[ok], vals[ok], norm2[ok]
        return py, px, (vals * (1.0 / np.sqrt(norm2))[:, None]).astype(np.float32)

    def render(self, points478: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        py, px, n = self._sparse(points478, K)
        img = np.zeros((self.size, self.size, 3), np.float32)
        mask = np.zeros((self.size, self.size), bool)
        img[py, px] = n
        mask[py, px] = True
        return img, mask

    def __call__(self, points478: np.ndarray, K: np.ndarray) -> np.ndarray:
        (y0, x0), box = self.render_box(points478, K)
        out = np.zeros((self.size, self.size, 3), np.uint8)
        out[y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]] = box
        return out

    def render_box(self, points478: np.ndarray, K: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
        """Encoded normals of the covered pixels' bounding box only: ((y0, x0), uint8 [h, w, 3]);
        the rest of the S x S image is (0, 0, 0). Writing just the box into a fresh (zero) memmap
        saves touching the whole frame."""
        py, px, n = self._sparse(points478, K)
        if len(py) == 0:
            return (0, 0), np.zeros((0, 0, 3), np.uint8)
        y0, x0 = int(py.min()), int(px.min())
        h, w = int(py.max()) - y0 + 1, int(px.max()) - x0 + 1
        box = np.zeros((h * w, 3), np.uint8)
        box[(py - y0) * w + (px - x0)] = encode_normals(n)
        return (y0, x0), box.reshape(h, w, 3)


# ----------------------------------------------------------------------------- learned backend slot


class NormalEstimator:
    """Backend interface for a learned normal estimator (e.g. a face-normal network).

    Wraps any torch module mapping an image batch [B, 3, H, W] in [0, 1] to normals [B, 3, H, W]
    (camera space, OpenCV axes); ``__call__(rgb uint8 [S, S, 3], mask [S, S]) -> uint8 [S, S, 3]``.
    """

    def __init__(self, module, device: str = "cpu"):
        self.module = module.eval().to(device)
        self.device = device

    def __call__(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            n = self.module(x)[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
        if n.shape != rgb.shape:
            raise ValueError(f"normal estimator returned {n.shape}, expected {rgb.shape}.")
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)
        return encode_normals(n, mask.astype(bool))


def load_normal_estimator(module, weights: str | Path, device: str = "cpu") -> NormalEstimator:
    """Load a user state dict (``torch.load(weights_only=True)``) into ``module`` and wrap it."""
    from emogs.io.weights import read_state_dict

    path = Path(weights)
    state = read_state_dict(path, "normal-estimator")
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path} does not match the estimator architecture: {err}") from err
    return NormalEstimator(module, device)
