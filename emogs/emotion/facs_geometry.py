"""A parametric FACS geometry: action units -> image displacements of the 478 MediaPipe points.

The py-feat PLS table (`au_mesh`) is a population regression: its deltas are small and noisy where
an expression is read (AU4 barely pulls the brows together, AU15 lowers the mouth corners by 2 px,
AU17 raises them, AU5 lifts the brows). This module moves the features that carry an emotion the
way FACS describes each AU, in the face's own frame (x: from the right eye's outer corner to the
left one's, y: down; lengths in inter-ocular distances `iod`, mouth widths `mw` at the corners):

| AU | motion per unit of intensity (OpenFace 0..5 scale) |
|---|---|
| AU01 inner brow raiser | inner brow up 0.05 iod, fading to 0 at the outer end |
| AU02 outer brow raiser | outer brow up 0.05 iod, fading to 0 at the inner end |
| AU04 brow lowerer | brows down 0.025 iod (inner end; 0.01 outer), inner ends 0.035 iod towards the midline |
| AU05 upper lid raiser | upper lid up 0.02 iod (lid centre; 0 at the eye corners) |
| AU07 lid tightener | lower lid up 0.015 iod, upper lid down 0.012 iod |
| AU43 eyes closed | upper lid down 0.03 iod |
| AU06 cheek raiser | cheeks up 0.02 iod, lower lid up 0.008 iod |
| AU09 nose wrinkler | nose wings up 0.03 iod, inner brows down 0.01 iod |
| AU10 upper lip raiser | nose wings up 0.015 iod, beside them 0.008 iod, upper lip 0.04 mw (`lip_motion`) |
| AU12 lip corner puller | corners out 0.03 mw, up 0.05 mw |
| AU15 lip corner depressor | corners down 0.045 mw |
| AU17 chin raiser | chin boss up 0.03 mw, corners down 0.01 mw |
| AU20 lip stretcher | corners out 0.04 mw, down 0.01 mw |
| AU23 lip tightener | corners in 0.035 mw |

The mouth corners' motion (`mouth_corner_motion`) is applied to the whole lips by the emotional-frame
generator with a weight that grows towards the corners and is the same for the upper and the lower
lip, so the inner-lip opening (what speech dictates) is kept. Lips, face outline and irises get no
displacement here.
"""

from __future__ import annotations

import numpy as np

from emogs.face import topology

from .au_mesh import FACE_OVAL, IRISES, LEFT_BROW, LIPS, RIGHT_BROW

# eye contours: (upper lid, lower lid, outer corner, inner corner)
EYE_LIDS = (
    (tuple(topology.RIGHT_UPPER_LID), tuple(topology.RIGHT_LOWER_LID), 33, 133),
    (tuple(topology.LEFT_UPPER_LID), tuple(topology.LEFT_LOWER_LID), 263, 362),
)
CREASES = (tuple(topology.RIGHT_LID_CREASE), tuple(topology.LEFT_LID_CREASE))
CHEEKS, NOSE_WINGS = tuple(topology.CHEEKS), tuple(topology.NOSE_WINGS)
BESIDE_NOSE, CHIN_BOSS = tuple(topology.BESIDE_NOSE), tuple(topology.CHIN_BOSS)
CORNERS, NOSE_MIDLINE = tuple(topology.MOUTH_CORNERS), tuple(topology.NOSE_MIDLINE)
MAX_CLOSING = 0.5
_LIDS = tuple(i for up, lo, _, _ in EYE_LIDS for i in up + lo)
MOVED = tuple(sorted(set(RIGHT_BROW + LEFT_BROW + CHEEKS + NOSE_WINGS + BESIDE_NOSE + CHIN_BOSS + _LIDS
                         + CREASES[0] + CREASES[1])))
ANCHORS = tuple(sorted(set(LIPS + FACE_OVAL + IRISES + NOSE_MIDLINE + (33, 133, 263, 362))))

# per unit of AU intensity: (out, up) of each mouth corner in mouth widths
CORNER_MOTION: dict[str, tuple[float, float]] = {
    "AU12": (0.03, 0.05),
    "AU15": (0.0, -0.045),
    "AU17": (0.0, -0.01),
    "AU20": (0.04, -0.01),
    "AU23": (-0.035, 0.0),
}


def face_frame(points478: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(ex [2], ey [2], iod, mw): the face's unit axes in the image (x: right eye -> left eye outer
    corners, y: down), the inter-ocular distance and the mouth width (corner to corner) in px."""
    p = np.asarray(points478, np.float64)[:, :2]
    ex = p[263] - p[33]
    iod = float(np.linalg.norm(ex))
    ex = ex / max(iod, 1e-9)
    ey = np.array([-ex[1], ex[0]])
    return ex, ey, iod, float(np.linalg.norm(p[291] - p[61]))


def mouth_corner_motion(points478: np.ndarray, aus: dict[str, float], gain: float = 1.0) -> np.ndarray:
    """[2, 2] image displacements (px) of the mouth corners 61 and 291 for AU intensities `aus`."""
    p = np.asarray(points478, np.float64)[:, :2]
    ex, ey, _, mw = face_frame(p)
    centre = (p[61] + p[291]) / 2
    out = np.zeros((2, 2))
    for k, c in enumerate(CORNERS):
        outward = np.sign(float((p[c] - centre) @ ex)) * ex
        for au, (o, u) in CORNER_MOTION.items():
            a = aus.get(au, 0.0)
            out[k] += gain * a * mw * (o * outward - u * ey)
    return out


UPPER_INNER_LIP, UPPER_OUTER_LIP = topology.UPPER_LIP_INNER, topology.UPPER_LIP_OUTER
UPPER_LIP_RAISE = 0.04  # AU10: the upper lip's outer contour up, per unit, in mouth widths


def lip_motion(points478: np.ndarray, aus: dict[str, float], gain: float = 1.0):
    """xy [N, 2] px -> displacement [N, 2] of the lips and the skin around them.

    The corners' motion (`mouth_corner_motion`) weighted u^2 across the mouth (u = -1 / 1 at the
    corners, clipped beyond), alike for the upper and the lower lip, so the gap between them is kept;
    plus AU10's raise of the upper lip (1 - u^2 across), from 0 at the inner edge of the upper lip to
    full at its outer contour and above: the red of the upper lip grows, the inner-lip opening stays."""
    p = np.asarray(points478, np.float64)[:, :2]
    cl, cr = mouth_corner_motion(p, aus, gain)
    _, ey, _, mw = face_frame(p)
    raise_px = gain * aus.get("AU10", 0.0) * UPPER_LIP_RAISE * mw
    cx = (p[61, 0] + p[291, 0]) / 2
    hw = max(abs(p[291, 0] - p[61, 0]) / 2, 1.0)
    sign = 1.0 if p[291, 0] > p[61, 0] else -1.0
    order = np.argsort(p[list(UPPER_INNER_LIP), 0])
    xin, yin = p[list(UPPER_INNER_LIP), 0][order], p[list(UPPER_INNER_LIP), 1][order]
    order = np.argsort(p[list(UPPER_OUTER_LIP), 0])
    xout, yout = p[list(UPPER_OUTER_LIP), 0][order], p[list(UPPER_OUTER_LIP), 1][order]

    def field(xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, np.float64)
        u = np.clip(sign * (xy[:, 0] - cx) / hw, -1, 1)
        out = (u**2)[:, None] * np.where(u[:, None] < 0, cl, cr)
        if raise_px:
            y_in, y_out = np.interp(xy[:, 0], xin, yin), np.interp(xy[:, 0], xout, yout)
            w = np.clip((y_in - xy[:, 1]) / np.maximum(y_in - y_out, 1.0), 0.0, 1.0)
            out -= (raise_px * (1 - u**2) * w)[:, None] * ey
        return out

    return field


def _along(p: np.ndarray, idx, ex: np.ndarray, mid: float) -> np.ndarray:
    """Position of points `idx` along a brow: 0 at its end nearest the face midline, 1 at the far end."""
    x = np.abs(p[list(idx)] @ ex - mid)
    return (x - x.min()) / max(np.ptp(x), 1e-9)


def facs_displacement(points478: np.ndarray, aus: dict[str, float], gain: float = 1.0) -> np.ndarray:
    """[478, 2] image displacements (px) of the upper face, cheeks, nose wings and chin (module table);
    0 on the anchors (lips, face outline, irises, the nose's midline, eye corners: the mouth corners
    move by `mouth_corner_motion`); NaN on the points in between, which are free: a smooth warp through
    the others decides where they go (a fixed 0 there folded the skin between lowered brows and lids)."""
    p = np.asarray(points478, np.float64)[:, :2]
    ex, ey, iod, mw = face_frame(p)
    a = {k: gain * v for k, v in aus.items()}
    g = lambda name: a.get(name, 0.0)  # noqa: E731
    d = np.zeros((len(p), 2))
    mid = float(p[168] @ ex)  # the nose bridge: the face's midline
    for brow in (RIGHT_BROW, LEFT_BROW):
        s = _along(p, brow, ex, mid)[:, None]
        inward = -np.sign(float(p[list(brow)].mean(0) @ ex) - mid) * ex
        up = (0.05 * g("AU01") * (1 - s) + 0.05 * g("AU02") * s
              - 0.025 * g("AU04") * (1 - 0.6 * s) - 0.01 * g("AU09") * (1 - s))
        d[list(brow)] += iod * (-up * ey + 0.035 * g("AU04") * (1 - s) * inward)
    for upper, lower, c0, c1 in EYE_LIDS:
        for lid, up_per_unit in (
            (upper, 0.02 * g("AU05") - 0.012 * g("AU07") - 0.03 * g("AU43")),
            (lower, 0.015 * g("AU07") + 0.008 * g("AU06")),
        ):
            x = p[list(lid)] @ ex
            t = (x - p[c0] @ ex) / ((p[c1] - p[c0]) @ ex)  # 0..1 from corner to corner
            bump = np.sin(np.pi * np.clip(t, 0, 1))[:, None]
            d[list(lid)] += -iod * up_per_unit * bump * ey
        # the lids close the eye by at most `MAX_CLOSING` of its opening: a warp squeezing the eyeball band
        # to a line folds (and the eye layer keeps the eyeball still in whatever opening is left)
        gap = (p[list(lower)] - p[list(upper)]) @ ey
        closing = (d[list(upper)] - d[list(lower)]) @ ey
        k = np.where(closing > MAX_CLOSING * gap, MAX_CLOSING * gap / np.maximum(closing, 1e-9), 1.0)
        d[list(upper)] *= k[:, None]
        d[list(lower)] *= k[:, None]
    for (upper, _, _, _), brow, crease in zip(EYE_LIDS, (RIGHT_BROW, LEFT_BROW), CREASES):
        # spread the brow-lid squeeze evenly over the skin between (linear in the height above the lid)
        for i in crease:
            lid = upper[int(np.argmin(np.abs((p[list(upper)] - p[i]) @ ex)))]
            top = brow[int(np.argmin(np.abs((p[list(brow)] - p[i]) @ ex)))]
            h = float((p[lid] - p[top]) @ ey)
            w = float(np.clip((p[lid] - p[i]) @ ey / max(h, 1e-6), 0.0, 1.0))
            d[i] = (1 - w) * d[lid] + w * d[top]
    d[list(CHEEKS)] += -iod * (0.02 * g("AU06")) * ey
    d[list(BESIDE_NOSE)] += -iod * (0.008 * g("AU10")) * ey
    d[list(NOSE_WINGS)] += -iod * (0.03 * g("AU09") + 0.015 * g("AU10")) * ey
    d[list(CHIN_BOSS)] += -mw * (0.03 * g("AU17")) * ey
    free = np.ones(len(p), bool)
    free[list(MOVED + ANCHORS)] = False
    d[free] = np.nan
    return d


__all__ = ["CORNER_MOTION", "face_frame", "facs_displacement", "lip_motion", "mouth_corner_motion"]
