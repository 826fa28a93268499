"""Piecewise-affine image warp on the MediaPipe face triangulation (+ support triangles).

Backward mapping: every output pixel finds the (deformed) triangle it lies in and takes its
colour from the same barycentric position in the neutral triangle. The mouth opening and the
two eye openings are *holes* of the face mesh; pixels in a hole map to themselves (identity):
the eyeball and the upper teeth are fixed to the skull, so a lid moving down covers the eye
instead of squashing it, and an opening jaw uncovers what :mod:`.mouth` draws.

Coordinates are pixels with pixel centres at ``i + 0.5`` (docs/dataset.md).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy.spatial import Delaunay

from emogs.face.topology import FACE_OVAL, LEFT_EYE, LIPS_INNER, RIGHT_EYE

HOLES = {"mouth": LIPS_INNER, "right_eye": RIGHT_EYE, "left_eye": LEFT_EYE}
_SUB = 16  # fillPoly sub-pixel precision (shift = 4 bits)


@lru_cache(maxsize=1)
def face_triangles() -> np.ndarray:
    """[F, 3] int triangles of the 468-vertex MediaPipe face mesh (from its tessellation edges)."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {tuple(sorted(e)) for e in FACEMESH_TESSELATION}
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    tris = {tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]}
    return np.array(sorted(tris), np.int64)


def _inside_any(tri_pts: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """For each triangle [F,3,2]: does any of ``pts`` [N,2] lie strictly inside it? -> bool [F]."""
    a, b, c = tri_pts[:, 0, None], tri_pts[:, 1, None], tri_pts[:, 2, None]
    p = pts[None]

    def cross(o, u, v):
        du, dv = u - o, v - o
        return du[..., 0] * dv[..., 1] - du[..., 1] * dv[..., 0]

    d1, d2, d3 = cross(a, b, p), cross(b, c, p), cross(c, a, p)
    eps = 1e-6
    inside = ((d1 > eps) & (d2 > eps) & (d3 > eps)) | ((d1 < -eps) & (d2 < -eps) & (d3 < -eps))
    return inside.any(1)


class PiecewiseAffineWarp:
    """Warp set up on neutral vertices ``mesh`` [478, 2+] and ``support`` [S, 2]; image ``size`` (H, W)."""

    def __init__(self, mesh: np.ndarray, support: np.ndarray, size: tuple[int, int]):
        self.size = size
        mesh2 = np.asarray(mesh, np.float64)[:468, :2]
        support = np.asarray(support, np.float64)
        self.n_mesh = 468
        verts = np.concatenate([mesh2, support])
        face = face_triangles()
        # drop 3-cliques of the edge graph that are not faces (they contain another vertex)
        face = face[~_inside_any(mesh2[face], mesh2)]
        # outside the face oval: Delaunay of oval + support, keep triangles outside the oval
        oval_ids = np.array(FACE_OVAL)
        outer_ids = np.concatenate([oval_ids, self.n_mesh + np.arange(len(support))])
        tri = Delaunay(verts[outer_ids]).simplices
        outer = outer_ids[tri]
        cen = verts[outer].mean(1)
        poly = mesh2[oval_ids].astype(np.float32)
        keep = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) < 0 for x, y in cen])
        self.triangles = np.concatenate([outer[keep], face])  # outer first: face triangles draw on top
        self.n_outer = int(keep.sum())
        self.verts0 = verts

    def vertices(self, mesh: np.ndarray, support: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(mesh, np.float64)[:468, :2], np.asarray(support, np.float64)])

    def maps(self, mesh: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Backward maps for the deformed vertices.

        Returns (map_x, map_y) float32 [H, W] in cv2.remap convention (pixel-index coordinates)
        and ``hole`` uint8 [H, W]: 0 = skin/background, 1 = mouth opening, 2/3 = right/left eye opening
        (in the deformed image).
        """
        h, w = self.size
        dst = self.vertices(mesh, support)
        src = self.verts0
        tris = self.triangles
        ids = np.full((h, w), -1, np.int32)
        _fill_ids(ids, dst, tris, np.arange(len(tris)))
        hole = np.zeros((h, w), np.uint8)
        for code, loop in ((1, LIPS_INNER), (2, RIGHT_EYE), (3, LEFT_EYE)):
            cv2.fillPoly(hole, [np.round((dst[loop] - 0.5) * _SUB).astype(np.int32)], code, cv2.LINE_8, 4)
        sx, sy = _triangle_maps(ids, dst, src, tris)
        ident = (ids < 0) | (hole > 0)
        gy, gx = np.mgrid[0:h, 0:w]
        sx = np.where(ident, gx + 0.5, sx)
        sy = np.where(ident, gy + 0.5, sy)
        return (sx - 0.5).astype(np.float32), (sy - 0.5).astype(np.float32), hole


def _triangle_maps(ids: np.ndarray, dst: np.ndarray, src: np.ndarray,
                   tris: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel source positions (pixel-centre convention) for a triangle-id image.

    ids: int32 [H, W] triangle index per pixel (-1 = none: the result there is meaningless);
    dst / src: [N, 2] deformed / source vertices; tris: [F, 3]. Each triangle maps by the affine
    map that takes its ``dst`` corners to its ``src`` corners (A = S @ inv(D)).
    """
    h, w = ids.shape
    aff = _affines(dst[tris], src[tris])
    # pixel coordinates relative to the image centre keep float32 exact to ~1e-4 px
    cx, cy = 0.5 * w, 0.5 * h
    aff[:, :, 2] += aff[:, :, 0] * cx + aff[:, :, 1] * cy
    coef = aff.reshape(-1, 6).astype(np.float32).T  # [6, F]
    idx = np.where(ids >= 0, ids, 0)
    qx = (np.arange(w, dtype=np.float32) + 0.5 - cx)[None]
    qy = (np.arange(h, dtype=np.float32) + 0.5 - cy)[:, None]
    sx = coef[0][idx] * qx + coef[1][idx] * qy + coef[2][idx]
    sy = coef[3][idx] * qx + coef[4][idx] * qy + coef[5][idx]
    return sx, sy


def _affines(d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """[F, 2, 3] affine maps taking triangle corners ``d`` [F, 3, 2] to ``s`` [F, 3, 2] (closed form;
    degenerate triangles get the identity)."""
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-9
    det = np.where(ok, det, 1.0)
    inv = np.stack([np.stack([e2[:, 1], -e2[:, 0]], 1), np.stack([-e1[:, 1], e1[:, 0]], 1)], 1)
    inv = inv / det[:, None, None]
    lin = np.stack([f1, f2], 2) @ inv  # [F,2,2]: S_edges @ inv(D_edges)
    aff = np.concatenate([lin, (s[:, 0] - np.einsum("fij,fj->fi", lin, d[:, 0]))[..., None]], 2)
    aff[~ok] = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    return aff


def _fill_ids(ids: np.ndarray, dst: np.ndarray, tris: np.ndarray, order: np.ndarray) -> None:
    """Rasterise triangles ``tris[order]`` into ``ids`` in that order (later ones cover earlier ones)."""
    pts = np.round((dst[tris] - 0.5) * _SUB).astype(np.int32)
    for k in order:
        cv2.fillPoly(ids, [pts[k]], int(k), lineType=cv2.LINE_8, shift=4)


class PosedMeshWarp:
    """Render an image textured on a closed 2.5-D mesh under a new pose, with occlusion.

    Vertices (N): the 478 face-mesh points, one mouth-centre point (the mouth opening is closed
    by a fan around it, set back behind the lips) and the support points. Triangles: the face
    mesh with the eye openings closed by fans around the iris centres, the mouth fan, and the
    support triangles outside the face oval (from :class:`PiecewiseAffineWarp`). Occlusion by
    the painter's algorithm: support triangles first, then face triangles from far to near
    (larger z first; z grows away from the camera), so the nose covers the far cheek on a turn.
    """

    def __init__(self, base: PiecewiseAffineWarp):
        from emogs.face.mesh_topology import face_triangles as closed_face

        n = 478
        mouth_c = n
        loop = LIPS_INNER
        fan = [(loop[k], loop[(k + 1) % len(loop)], mouth_c) for k in range(len(loop))]
        face = np.concatenate([closed_face(True), np.array(fan, np.int64)])
        outer = base.triangles[: base.n_outer].copy()
        outer = np.where(outer >= base.n_mesh, outer - base.n_mesh + n + 1, outer)  # re-index support points
        self.triangles = np.concatenate([outer, face])
        self.n_outer = len(outer)
        self.size = base.size

    def maps(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """src: [N, 2] vertices in the source image; dst: [N, 3] posed vertices (x, y px, z depth).

        Returns (map_x, map_y) float32 [H, W] for cv2.remap; pixels no triangle covers keep
        their own position (the background).
        """
        h, w = self.size
        tris = self.triangles
        dst2 = np.asarray(dst, np.float64)[:, :2]
        depth = np.asarray(dst, np.float64)[tris[self.n_outer:], 2].mean(1)
        order = np.concatenate([np.arange(self.n_outer), self.n_outer + np.argsort(-depth, kind="stable")])
        ids = np.full((h, w), -1, np.int32)
        _fill_ids(ids, dst2, tris, order)
        sx, sy = _triangle_maps(ids, dst2, np.asarray(src, np.float64)[:, :2], tris)
        gy, gx = np.mgrid[0:h, 0:w]
        sx = np.where(ids < 0, gx + 0.5, sx)
        sy = np.where(ids < 0, gy + 0.5, sy)
        return (sx - 0.5).astype(np.float32), (sy - 0.5).astype(np.float32)


def remap(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Bilinear backward warp of ``image`` [H, W, C] (edges reflected)."""
    return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
