"""Out-of-plane head pose of the actor: the deformed 478-point mesh (which carries MediaPipe's
depth) is rotated in 3-D about a pivot in the neck and projected orthographically.

Camera frame (OpenCV): x right, y down, z away from the camera, all in pixels of the frame
(MediaPipe's z x image width, so depth and image distances share a unit). The head rotation is
``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``; its rotation vector is the truth's ``head_rotvec``
(x = pitch, y = yaw, z = roll for small angles). Signs: positive yaw moves the nose towards -x
(image left), positive pitch moves it down (the head looks down), positive roll turns the head
clockwise in the image.

Around the face, the support points (see :class:`.face_rig.FaceRig`) follow the head only in
part: the inner ring (hair, ears, jaw line) by 85 % above the mouth and 45 % at the neck, the
outer ring by 30 % / 10 %, the image border not at all, so the background stays put and the
neck bends smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emogs.face.topology import FACE_OVAL, LIPS_INNER


def rotation_matrix(pitch_deg: float, yaw_deg: float, roll_deg: float) -> np.ndarray:
    """[3, 3] R = Rz(roll) @ Ry(yaw) @ Rx(pitch) (degrees; camera frame x right, y down, z forward)."""
    p, y, r = np.deg2rad([pitch_deg, yaw_deg, roll_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def rotvec(r: np.ndarray) -> np.ndarray:
    """Rotation vector [3] (axis x angle, radians) of a rotation matrix [3, 3]."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(r).as_rotvec()


@dataclass(frozen=True)
class Pose:
    """One frame's head pose: angles in degrees, translation in px (image plane), scale (1 = none)."""

    pitch: float = 0.0
    yaw: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0

    def matrix(self) -> np.ndarray:
        return rotation_matrix(self.pitch, self.yaw, self.roll)


class HeadPoser:
    """Poses the frontal vertices of one portrait (neutral mesh ``mesh0`` [478, 3], support [S, 2]).

    Vertex layout (N = 478 + 1 + S): face mesh, mouth-centre point (set back by 12 % of the face
    width behind the inner lips), support points (depth and follow-weight from their oval vertex).
    """

    def __init__(self, mesh0: np.ndarray, support: np.ndarray):
        mesh0 = np.asarray(mesh0, np.float64)
        support = np.asarray(support, np.float64)
        oval = mesh0[FACE_OVAL]
        width = float(np.ptp(oval[:, 0]))
        height = float(np.ptp(oval[:, 1]))
        self.face_width = width
        centre = oval[:, :2].mean(0)
        # pivot: behind the face at ear depth, below the face centre (top of the neck)
        self.pivot = np.array([centre[0], centre[1] + 0.25 * height,
                               float(np.median(oval[:, 2])) + 0.1 * width])
        self.mouth_setback = 0.12 * width
        n_oval = len(FACE_OVAL)
        n_sup = len(support)
        z = np.zeros(n_sup)
        w = np.zeros(n_sup)
        mouth_y = float(mesh0[LIPS_INNER, 1].mean())
        chin_y = float(oval[:, 1].max())
        for ring, (full, neck, dz) in enumerate(((0.85, 0.45, 0.05), (0.30, 0.10, 0.12))):
            sl = slice(ring * n_oval, (ring + 1) * n_oval)
            z[sl] = oval[:, 2] + dz * width
            # 0 above the mouth, 1 at the chin
            t = np.clip((support[sl, 1] - mouth_y) / max(chin_y - mouth_y, 1.0), 0, 1)
            w[sl] = full + (neck - full) * t
        self.support_z = z
        self.support_w = w  # border points (the rest): 0

    def frontal(self, mesh: np.ndarray, support: np.ndarray) -> np.ndarray:
        """[N, 3] frontal vertices (deformed mesh, mouth centre, support with depth)."""
        mesh = np.asarray(mesh, np.float64)
        mc = mesh[LIPS_INNER].mean(0)
        mc[2] += self.mouth_setback
        sup = np.concatenate([np.asarray(support, np.float64), self.support_z[:, None]], 1)
        return np.concatenate([mesh[:, :3], mc[None], sup])

    def pose(self, verts: np.ndarray, pose: Pose) -> np.ndarray:
        """[N, 3] frontal vertices -> posed vertices: rigid for the face, blended for the support."""
        r = pose.matrix() * pose.scale
        t = np.array([pose.tx, pose.ty, 0.0])
        rigid = (verts - self.pivot) @ r.T + self.pivot + t
        out = rigid.copy()
        n_face = 479
        w = self.support_w[:, None]
        out[n_face:] = verts[n_face:] + w * (rigid[n_face:] - verts[n_face:])
        return out


# direction towards the light (camera frame): left, up, front
LIGHT = np.array([-0.3, -0.45, -1.0]) / np.linalg.norm([-0.3, -0.45, -1.0])


def shading_ratio(mesh: np.ndarray, r: np.ndarray, size: tuple[int, int], scale: int = 4) -> np.ndarray:
    """Relighting of a turned face: float32 [H, W] factor for the *frontal* image.

    The photo already holds the shading of the frontal pose; when the head turns by ``r`` [3, 3],
    each surface point's diffuse term changes from ``s(n)`` to ``s(R n)`` with
    ``s(n) = 0.55 + 0.45 max(n . LIGHT, 0)`` (a soft light from the upper left front). The ratio
    is interpolated over the face mesh (``mesh`` [478, 3], frontal) at 1/``scale`` resolution,
    1 outside it, feathered, and clipped to [0.7, 1.25].
    """
    import cv2

    from emogs.face.mesh_topology import face_triangles
    from preprocess.normals import rasterize_attributes, vertex_normals

    tris = face_triangles(True)
    mesh = np.asarray(mesh, np.float64)
    n0 = vertex_normals(mesh, tris)
    s0 = 0.55 + 0.45 * np.maximum(n0 @ LIGHT, 0)
    s1 = 0.55 + 0.45 * np.maximum((n0 @ r.T) @ LIGHT, 0)
    ratio = np.clip(s1 / s0, 0.7, 1.25)
    h, w = size
    small = max(h, w) // scale
    img, covered = rasterize_attributes(mesh[:, :2] / scale, mesh[:, 2], tris, (ratio - 1.0)[:, None], small)
    delta = cv2.GaussianBlur(np.where(covered, img[..., 0], 0.0).astype(np.float32), (0, 0), 1.5)
    return 1.0 + cv2.resize(delta, (w, h), interpolation=cv2.INTER_LINEAR)
