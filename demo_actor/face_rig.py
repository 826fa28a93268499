"""The actor's face rig: neutral 478-point mesh + expression parameters -> deformed mesh.

All functions are pure numpy on pixel coordinates of the (pre-head-motion) portrait.
The rig only moves vertices; :mod:`.warp` moves the pixels along with them.

Parameters (one frame, see :class:`Expression`):
- mouth ``open`` [0, 1] (inner-lip gap / largest gap), ``width`` [-1, 1], ``round`` [0, 1]
- ``blink`` [0, 1] per eye (1 = upper lid on the lower lid; AU45 = 5 * blink)
- ``brow`` [-1, 1] (raise + / lower and knit -), ``cheek`` [0, 1] (cheek raise, AU06-like)
- ``smile`` [0, 1]: 0 = the *neutral rest* (lips closed and relaxed, the photo's grin removed),
  1 = the photo's own mouth plus corners pulled up and out (a smile, whatever the photo shows)
- ``press`` [0, 1]: the lips press together (bilabial closure): the outer lips roll in a little

Neutral rest: the photo's inner lips are moved onto their common mid-line (the gap closes all
along the mouth, the jaw rises with the lower lip) and, for a smiling photo, the mouth corners
move in and down by the photo's *grin* (corner lift relative to the lip centre). The
articulation then opens the mouth from that closed rest: ``open`` = 0 is a closed mouth.

The jaw moves the lower lip and the chin (with a lateral fall-off towards the jaw angles);
the upper lip moves a little; skin around the mouth follows smoothly. Extra *support points*
(a ring outside the face oval that moves by a fraction of the oval's motion, and a fixed ring
on the image border) keep the background still and spread the chin motion onto the neck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emogs.face.topology import FACE_OVAL, LEFT_BROW, LEFT_EYE, LIPS_INNER, LIPS_OUTER, RIGHT_BROW, RIGHT_EYE


@dataclass(frozen=True)
class Expression:
    open: float = 0.0
    width: float = 0.0
    round: float = 0.0
    blink_left: float = 0.0
    blink_right: float = 0.0
    brow: float = 0.0
    cheek: float = 0.0
    smile: float = 0.0
    press: float = 0.0


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _eye_parts(loop: list[int]) -> tuple[list[int], list[int]]:
    """Ordered eye loop (corner, lower lid..., corner, upper lid...) -> (upper, lower), corners included."""
    lower = loop[0:9]
    upper = [loop[8]] + loop[9:] + [loop[0]]
    return upper, lower


class FaceRig:
    """Rig built from the neutral mesh ``points`` [478, 3] (pixels) of an ``size`` = (H, W) image."""

    def __init__(self, points: np.ndarray, size: tuple[int, int]):
        points = np.asarray(points, np.float64)
        if points.shape != (478, 3):
            raise ValueError(f"FaceRig needs a [478, 3] MediaPipe mesh, got {points.shape}.")
        points = points.copy()
        # closed lips meet in depth too: each upper / lower inner-lip vertex pair gets the pair's mean z
        lower, upper = LIPS_INNER[1:10], LIPS_INNER[19:10:-1]
        points[lower, 2] = points[upper, 2] = 0.5 * (points[lower, 2] + points[upper, 2])
        self.p0 = points
        self.size = size
        xy = points[:, :2]
        inner_up = LIPS_INNER[11:] + [LIPS_INNER[0]]  # 308 -> 13 -> 78 (upper inner)
        inner_lo = LIPS_INNER[:11]  # 78 -> 14 -> 308
        self.c_right, self.c_left = xy[61], xy[291]
        self.mouth_centre = 0.5 * (xy[13] + xy[14])
        self.hw = 0.5 * np.linalg.norm(self.c_left - self.c_right)  # half mouth width
        self.gap0 = float(xy[14, 1] - xy[13, 1])
        # largest jaw drop: 14 % of the face width (~30 px on a 512 px frame at face_scale 2)
        self.face_width = float(np.linalg.norm(xy[454] - xy[234]))
        self.gap_max = 0.14 * self.face_width
        # the lip line (between the inner lips) as y(x), and the upper outer lip y(x)
        xs_up, ys_up = xy[inner_up, 0], xy[inner_up, 1]
        xs_lo, ys_lo = xy[inner_lo, 0], xy[inner_lo, 1]
        grid = np.linspace(self.c_right[0], self.c_left[0], 41)
        yl = 0.5 * (np.interp(grid, *_sorted(xs_up, ys_up)) + np.interp(grid, *_sorted(xs_lo, ys_lo)))
        self._line = (grid, yl)
        up_outer = LIPS_OUTER[10:] + [LIPS_OUTER[0]]
        self._outer_up = _sorted(xy[up_outer, 0], xy[up_outer, 1])
        lo_outer = LIPS_OUTER[:11]
        self._outer_lo = _sorted(xy[lo_outer, 0], xy[lo_outer, 1])
        self.face_centre = xy[FACE_OVAL].mean(0)
        self.eyes = {}
        for side, loop in (("right", RIGHT_EYE), ("left", LEFT_EYE)):
            up, lo = _eye_parts(loop)
            width = np.linalg.norm(xy[loop[0]] - xy[loop[8]])
            self.eyes[side] = (up, lo, width)
        self.brows = LEFT_BROW + RIGHT_BROW
        self.support = self._support_points()
        self.lip_labels = np.zeros(478, np.int64)
        self.lip_labels[LIPS_INNER[1:10] + LIPS_OUTER[1:10]] = 1
        self.lip_labels[LIPS_INNER[11:] + LIPS_OUTER[11:]] = 2
        self._inner_up = _sorted(xs_up, ys_up)
        self._inner_lo = _sorted(xs_lo, ys_lo)
        # the photo's grin: mouth-corner lift above the lip centre, in half-widths (0 = none, 1 = broad)
        lift = float(self.mouth_centre[1] - 0.5 * (self.c_left[1] + self.c_right[1])) / self.hw
        self.grin = float(np.clip((lift - 0.05) / 0.25, 0.0, 1.0))

    # ------------------------------------------------------------------ geometry helpers
    def _uv(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mouth-relative coordinates: u across (corners at +-1), v below the lip line (in half-widths)."""
        u = (xy[:, 0] - self.mouth_centre[0]) / self.hw
        y_line = np.interp(xy[:, 0], *self._line)
        v = (xy[:, 1] - y_line) / self.hw
        return u, v

    def _support_points(self) -> np.ndarray:
        """[S, 2] extra warp vertices: two rings around the face oval and the image border."""
        oval = self.p0[FACE_OVAL, :2]
        c = self.face_centre
        rings = [c + (oval - c) * s for s in (1.25, 1.6)]
        h, w = self.size
        n = 12
        t = np.linspace(0, 1, n, endpoint=False)
        border = np.concatenate([
            np.stack([t * w, np.zeros(n)], 1), np.stack([np.full(n, w), t * h], 1),
            np.stack([w - t * w, np.full(n, h)], 1), np.stack([np.zeros(n), h - t * h], 1),
        ])
        return np.concatenate(rings + [border])

    # ------------------------------------------------------------------ deformation
    def mouth_displacement(self, xy: np.ndarray, open_: float, width: float, round_: float,
                           labels: np.ndarray | None = None) -> np.ndarray:
        """[N, 2] displacement of points ``xy`` [N, 2] (pixels) for the mouth parameters.

        labels: optional int [N]: 1 = lower-lip vertex, 2 = upper-lip vertex, 0 = other.
        """
        u, v = self._uv(xy)
        delta = self.gap_for(open_)  # the rest is closed: the jaw opens from gap 0
        if delta >= 0:
            d_lo, d_up = 0.85 * delta, -0.15 * delta
        else:
            d_lo, d_up = 0.6 * delta, -0.4 * delta
        au = np.abs(u)
        # lateral profile: full at the centre, ~40 % at the corners, decaying along the jaw line
        flat = 0.55 - 0.35 * np.clip(round_, 0, 1)
        prof_in = 1.0 - flat * np.minimum(au, 1.0) ** 2
        prof = np.where(au <= 1.0, prof_in, (1 - flat) * np.exp(-((au - 1.0) / 1.3) ** 2))
        lower_w = _smoothstep(-0.01, 0.12, v) * prof
        # jaw: the chin keeps moving with the jaw (rigid), fading towards the jaw angles
        y_up_outer = np.interp(xy[:, 0], *self._outer_up)
        above = np.maximum(y_up_outer - xy[:, 1], 0.0) / self.hw
        upper_w = _smoothstep(0.01, -0.12, v) * prof * np.exp(-(above / 0.35) ** 2)
        if labels is not None:  # labelled lip vertices: exactly on their lip, whatever the photo's gap
            lower_w = np.where(labels == 1, prof, lower_w)
            upper_w = np.where(labels == 2, prof, upper_w)
        # vertical falloff far below the chin is handled by the support rings
        dy = d_lo * lower_w + d_up * upper_w
        # width: corners in/out; neighbouring skin follows
        dw = (0.14 * np.clip(width, -1, 1) - 0.24 * np.clip(round_, 0, 1)) * self.hw
        near = np.exp(-(np.maximum(au - 1.0, 0) / 0.7) ** 2)
        near = near * np.exp(-(np.maximum(np.abs(v) - 0.3, 0) / 0.6) ** 2)
        dx = dw * np.clip(u, -1.5, 1.5) * near
        # rounding pushes the lips forward/outward: the outer lips thicken a little vertically
        y_lo_outer = np.interp(xy[:, 0], *self._outer_lo)
        margin = 0.05 * self.hw
        on_lips = (xy[:, 1] > y_up_outer - margin) & (xy[:, 1] < y_lo_outer + margin) & (au < 1)
        if labels is not None:  # the inner lips stay where the jaw puts them (closed lips stay closed)
            on_lips &= ~np.isin(np.arange(len(xy)), LIPS_INNER)
        pout = 0.06 * self.hw * np.clip(round_, 0, 1) * on_lips * (1 - au**2)
        dy = dy + np.where(v > 0, pout, -pout) * (np.abs(v) > 0.15)
        return np.stack([dx, dy], 1)

    def _photo_gap(self, x: np.ndarray) -> np.ndarray:
        """The photo's inner-lip gap (px, < 0 where the lips overlap) at columns ``x`` [N] (0 outside)."""
        g = np.interp(x, *self._inner_lo) - np.interp(x, *self._inner_up)
        inside = (x > self.c_right[0]) & (x < self.c_left[0])
        return np.where(inside, g, 0.0)

    def rest_displacement(self, xy: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """[N, 2]: photo -> neutral rest (lips closed along their mid-line, the grin removed)."""
        u, v = self._uv(xy)
        au = np.abs(u)
        g_c = max(self.gap0, 0.0)
        prof = np.where(au <= 1.0, 1.0 - 0.55 * np.minimum(au, 1.0) ** 2,
                        0.45 * np.exp(-((au - 1.0) / 1.3) ** 2))
        y_up_outer = np.interp(xy[:, 0], *self._outer_up)
        above = np.maximum(y_up_outer - xy[:, 1], 0.0) / self.hw
        lower_w = _smoothstep(-0.01, 0.12, v) * prof * g_c
        upper_w = _smoothstep(0.01, -0.12, v) * prof * np.exp(-(above / 0.35) ** 2) * g_c
        if labels is not None:  # lip vertices: exactly onto the mid-line, column by column
            g = self._photo_gap(xy[:, 0])
            lower_w = np.where(labels == 1, g, lower_w)
            upper_w = np.where(labels == 2, g, upper_w)
        dy = -0.5 * lower_w + 0.5 * upper_w
        # grin removal: corners in (x 0.12 hw) and down (0.28 hw) for a broad grin; skin nearby follows
        near = _corner_weight(au, v)
        dx = -0.12 * self.hw * self.grin * np.clip(u, -1.4, 1.4) * near
        dy = dy + 0.28 * self.hw * self.grin * np.minimum(au, 1.2) ** 2 * near
        return np.stack([dx, dy], 1)

    def lip_texture_offsets(self) -> np.ndarray:
        """[478] vertical offsets of the inner-lip vertices' *texture* positions, away from the photo's
        mouth opening (upper lip up, lower lip down, by <= 4 % of the half mouth width and <= 30 % of the
        local gap), so lips that close over a smiling photo's teeth show lip, not the teeth's edge."""
        off = np.zeros(478)
        inner = np.array(LIPS_INNER)
        g = self._photo_gap(self.p0[inner, 0])
        k = np.clip(0.3 * g, 0.0, 0.04 * self.hw)
        off[inner] = np.where(self.lip_labels[inner] == 2, -k, np.where(self.lip_labels[inner] == 1, k, 0.0))
        return off

    def smile_displacement(self, xy: np.ndarray, smile: float) -> np.ndarray:
        """[N, 2]: corners up (0.22 hw) and out (0.12 hw) for ``smile`` in [0, 1]."""
        u, v = self._uv(xy)
        au = np.abs(u)
        near = _corner_weight(au, v)
        s = float(np.clip(smile, 0, 1))
        dx = 0.12 * self.hw * s * np.clip(u, -1.4, 1.4) * near
        dy = -0.22 * self.hw * s * np.minimum(au, 1.2) ** 2 * near
        return np.stack([dx, dy], 1)

    def press_displacement(self, xy: np.ndarray, press: float, labels: np.ndarray | None) -> np.ndarray:
        """[N, 2]: pressed lips: the outer lip contours move 25 % of the lip height towards the lip line."""
        out = np.zeros((len(xy), 2))
        if labels is None or press <= 0:
            return out
        y_line = np.interp(xy[:, 0], *self._line)
        outer = np.zeros(len(xy), bool)
        outer[LIPS_OUTER] = True
        lips = outer & (labels > 0)
        out[lips, 1] = -0.25 * float(np.clip(press, 0, 1)) * (xy[lips, 1] - y_line[lips])
        return out

    def gap_for(self, open_: float) -> float:
        """Inner-lip gap (px) at the lip centre for ``open`` (lips touch below open = 0.05)."""
        return float(np.clip((open_ - 0.05) / 0.95, 0, 1.25)) * self.gap_max

    def eye_displacement(self, xy: np.ndarray, side: str, blink: float) -> np.ndarray:
        """[N, 2]: the upper lid of ``side`` moves down onto the lower lid by ``blink`` in [0, 1]."""
        up, lo, ew = self.eyes[side]
        p = self.p0[:, :2]
        lo_x, lo_y = _sorted(p[lo, 0], p[lo, 1])
        up_x, up_y = _sorted(p[up, 0], p[up, 1])
        b = float(np.clip(blink, 0, 1))
        # lid travel at x: from the upper lid curve to just above the lower lid curve
        travel = np.maximum(np.interp(xy[:, 0], lo_x, lo_y) - np.interp(xy[:, 0], up_x, up_y) - 0.02 * ew, 0)
        x0, x1 = up_x.min(), up_x.max()
        inside_x = _smoothstep(x0 - 0.05 * ew, x0 + 0.25 * ew, xy[:, 0]) * _smoothstep(
            x1 + 0.05 * ew, x1 - 0.25 * ew, xy[:, 0])
        y_up = np.interp(xy[:, 0], up_x, up_y)
        dist_above = y_up - xy[:, 1]  # > 0 above the upper lid
        w = np.where(dist_above >= -0.01 * ew, np.exp(-(np.maximum(dist_above, 0) / (0.28 * ew)) ** 2), 0.0)
        dy = b * travel * w * inside_x
        # the lower lid rises slightly
        y_lo = np.interp(xy[:, 0], lo_x, lo_y)
        below = xy[:, 1] - y_lo
        wl = np.where(below >= -0.01 * ew, np.exp(-(np.maximum(below, 0) / (0.15 * ew)) ** 2), 0.0)
        dy = dy - b * 0.04 * ew * wl * inside_x
        return np.stack([np.zeros_like(dy), dy], 1)

    def brow_cheek_displacement(self, xy: np.ndarray, brow: float, cheek: float) -> np.ndarray:
        """[N, 2]: brows up (+) / down and inward (-); cheeks up."""
        out = np.zeros((len(xy), 2))
        ew = 0.5 * (self.eyes["left"][2] + self.eyes["right"][2])
        for bidx, eye in ((LEFT_BROW, "left"), (RIGHT_BROW, "right")):
            bc = self.p0[bidx, :2].mean(0)
            ec = self.p0[self.eyes[eye][0], :2].mean(0)
            d = np.linalg.norm((xy - bc) / np.array([1.3 * ew, 0.6 * ew]), axis=1)
            w = np.exp(-d**2)
            # do not drag the eye opening itself
            w = w * _smoothstep(ec[1] - 0.05 * ew, ec[1] - 0.3 * ew, xy[:, 1])
            out[:, 1] += -brow * 0.18 * ew * w
            if brow < 0:
                out[:, 0] += -brow * 0.08 * ew * w * np.sign(self.face_centre[0] - bc[0])
        for ci in (LIPS_OUTER[0], LIPS_OUTER[10]):
            corner = self.p0[ci, :2]
            side = np.sign(corner[0] - self.mouth_centre[0])
            cc = corner + np.array([side * 0.4 * self.hw, -0.9 * self.hw])
            d = np.linalg.norm((xy - cc) / (0.8 * self.hw), axis=1)
            out[:, 1] += -cheek * 0.12 * self.hw * np.exp(-d**2)
        return out

    def displacement(self, xy: np.ndarray, e: Expression) -> np.ndarray:
        labels = self.lip_labels if len(xy) == 478 else None
        d = (1.0 - float(np.clip(e.smile, 0, 1))) * self.rest_displacement(xy, labels)
        d += self.mouth_displacement(xy, e.open, e.width, e.round, labels)
        if e.smile > 0:
            d += self.smile_displacement(xy, e.smile)
        if e.press > 0:
            d += self.press_displacement(xy, e.press, labels)
        d += self.eye_displacement(xy, "left", e.blink_left)
        d += self.eye_displacement(xy, "right", e.blink_right)
        if e.brow or e.cheek:
            d += self.brow_cheek_displacement(xy, e.brow, e.cheek)
        return d

    def deform(self, e: Expression) -> tuple[np.ndarray, np.ndarray]:
        """Return (mesh [478, 3], support [S, 2]) for expression ``e`` (before head motion).

        Support points: ring 1 moves by 35 % and ring 2 by 0 % of the displacement at the
        face oval vertex they come from; border points are fixed.
        """
        mesh = self.p0.copy()
        mesh[:, :2] += self.displacement(self.p0[:, :2], e)
        n = len(FACE_OVAL)
        sup = self.support.copy()
        oval_d = mesh[FACE_OVAL, :2] - self.p0[FACE_OVAL, :2]
        sup[:n] += 0.35 * oval_d
        return mesh, sup

    def mouth_gap(self, mesh: np.ndarray) -> float:
        """Inner-lip gap at the lip centre (vertex 14 - vertex 13), pixels."""
        return float(mesh[14, 1] - mesh[13, 1])


def _corner_weight(au: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Weight of the skin that follows the mouth corners (|u| >= 1 at and beyond the corners)."""
    across = np.exp(-(np.maximum(au - 1.0, 0) / 0.6) ** 2)
    return across * np.exp(-(np.maximum(np.abs(v) - 0.2, 0) / 0.6) ** 2)


def _sorted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o = np.argsort(x)
    return np.asarray(x)[o], np.asarray(y)[o]



def eye_aspect(points: np.ndarray, loop: list[int]) -> float:
    """Eye opening / eye width for an ordered eye loop (corner, lower lid..., corner, upper lid...).

    Opening = mean lid distance of the three middle vertex pairs, measured perpendicular to the
    corner-to-corner axis (so a head roll does not change it).
    """
    p = np.asarray(points, np.float64)[:, :2]
    axis = p[loop[8]] - p[loop[0]]
    width = float(np.linalg.norm(axis))
    normal = np.array([-axis[1], axis[0]]) / max(width, 1e-9)
    gaps = [abs(float((p[loop[i]] - p[loop[16 - i]]) @ normal)) for i in (3, 4, 5)]
    return float(np.mean(gaps) / max(width, 1e-9))
