"""Drawing inside the mouth opening: dark cavity, upper and lower teeth, tongue.

The opening is the deformed inner-lip polygon (in the frontal, pre-head-pose image). Nothing
is taken from the photo (a neutral portrait shows no teeth, a smiling one shows them at the
wrong place once the lips close), so every identity gets the same drawn interior:

- upper teeth are fixed to the skull: their incisal edge is an arch just below the rest lip
  line; they show when the upper lip rises or the jaw drops;
- lower teeth ride on the jaw: a thin band above the lower lip, visible on open vowels;
- the tongue sits behind the lower teeth and shows as the jaw opens;
- the cavity is a shaded dark red, darkest at the back (centre) and towards the corners.

Teeth are split into incisors / canines / premolars by soft darker seams, shaded darker
towards the corners and under the upper lip. Edges are anti-aliased (4x super-sampled
polygon coverage).
"""

from __future__ import annotations

import cv2
import numpy as np

from emogs.face.topology import LIPS_INNER

_SS = 4  # super-sampling for coverage masks
TEETH_RGB = np.array([234.0, 224.0, 202.0])
# tooth boundaries across the arch, in half mouth widths from the midline
_SEAMS = np.array([0.0, 0.2, 0.36, 0.5])


def _coverage(poly: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of polygon ``poly`` [K, 2] (pixel coords) on the box (x0, y0, w, h)."""
    m = np.zeros((h * _SS, w * _SS), np.uint8)
    p = np.round(((poly - [x0, y0]) * _SS - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(m, [p], 255, cv2.LINE_8, 4)
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _lower_lip(mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = mesh[LIPS_INNER[:11], :2]
    o = np.argsort(lo[:, 0])
    return lo[o, 0], lo[o, 1]


def _seams(u: np.ndarray, width: float) -> np.ndarray:
    """Darkening in [0, 1] at the tooth boundaries (u in half mouth widths, width of a seam)."""
    d = np.min(np.abs(np.abs(u)[..., None] - _SEAMS), -1)
    return np.exp(-((d / width) ** 2))


def draw_mouth(image: np.ndarray, mesh: np.ndarray, line: tuple[np.ndarray, np.ndarray], centre_x: float,
               half_width: float, gap_max: float) -> np.ndarray:
    """Paint the inside of the mouth into ``image`` [H, W, 3] uint8 (returns a new array).

    mesh: deformed mesh [478, 2+] in ``image`` pixels (before the head pose). line: the rest lip
    line (xs, ys) of the skull (rest mouth). centre_x, half_width: rest mouth centre and half
    width (px). gap_max: the rig's largest jaw drop (px).
    """
    h, w = image.shape[:2]
    poly = mesh[LIPS_INNER, :2].astype(np.float64)
    x0 = max(int(np.floor(poly[:, 0].min())) - 2, 0)
    y0 = max(int(np.floor(poly[:, 1].min())) - 2, 0)
    x1 = min(int(np.ceil(poly[:, 0].max())) + 3, w)
    y1 = min(int(np.ceil(poly[:, 1].max())) + 3, h)
    bw, bh = x1 - x0, y1 - y0
    if bw <= 2 or bh <= 2:
        return image
    alpha = _coverage(poly, x0, y0, bw, bh)
    if alpha.max() <= 0:
        return image
    gx = (np.arange(x0, x1) + 0.5)[None]
    gy = (np.arange(y0, y1) + 0.5)[:, None]
    u = (gx - centre_x) / half_width  # skull-fixed across-mouth coordinate
    au = np.abs(u)
    y_line = np.interp(gx, *line)
    lx, ly = _lower_lip(mesh)
    y_lo = np.interp(gx, lx, ly)  # lower inner lip (rides on the jaw)
    y_up = np.interp(gx, *_upper(mesh))
    gap = np.maximum(y_lo - y_up, 0.0)
    drop = float(np.interp(centre_x, lx, ly) - np.interp(centre_x, *line))  # jaw drop at the centre
    # cavity: dark red, darkest at the back and towards the corners
    depth = np.clip(np.minimum(gy - y_up, y_lo - gy) / (0.5 * gap + 1.0), 0, 1)
    shade = (1.0 - 0.5 * depth) * (1.0 - 0.45 * np.clip(au, 0, 1) ** 2)
    out = np.array([64.0, 22.0, 26.0]) * shade[..., None]
    # tongue: a rounded body low in the mouth, rising behind the lower teeth as the jaw opens
    tongue_top = y_lo - 0.45 * max(drop, 0.0) - 0.02 * half_width
    tb = np.clip((gy - (tongue_top + 0.25 * half_width * au ** 2)) / 2.0, 0, 1) * np.clip(1.05 - au, 0, 1)
    lit = 0.7 + 0.3 * np.clip((gy - tongue_top) / (0.3 * half_width + 1), 0, 1)
    tongue = np.array([168.0, 78.0, 82.0]) * (lit * (1.0 - 0.35 * au ** 2))[..., None]
    out = out * (1 - tb[..., None]) + tongue * tb[..., None]
    seam = _seams(u, 0.012 + 0.6 / half_width)
    arch = np.clip(1.0 - au / 0.86, 0, 1) ** 0.35  # teeth stop before the corners (buccal corridor)
    # lower teeth: a band above the lower lip, the incisal edge an arch following the jaw
    lt = np.clip(0.2 * max(drop, 0.0) - 0.02 * half_width, 0, 0.08 * half_width) * (1 - 0.4 * au ** 2)
    lower_a = np.clip((gy - (y_lo - lt)) * 1.2, 0, 1) * (lt > 0.6) * arch
    lower_col = TEETH_RGB * 0.72 * (1 - 0.45 * au ** 2)[..., None] * (1 - 0.12 * seam)[..., None]
    out = out * (1 - lower_a[..., None]) + lower_col * lower_a[..., None]
    # upper teeth: skull-fixed, incisal edge 0.09 half-widths below the lip line at the midline
    edge = y_line + 0.09 * half_width * (1 - 0.8 * au ** 2)
    upper_a = np.clip((edge - gy) * 1.2, 0, 1) * arch
    under_lip = np.clip((gy - y_up) / (0.05 * half_width + 1.0), 0, 1)  # shadow under the upper lip
    near_edge = np.clip((edge - gy) / (0.04 * half_width + 0.5), 0, 1)  # translucent incisal edge
    tone = (0.7 + 0.3 * under_lip) * (1 - 0.45 * au ** 2) * (1 - 0.13 * seam) * (0.9 + 0.1 * near_edge)
    out = out * (1 - upper_a[..., None]) + (TEETH_RGB * tone[..., None]) * upper_a[..., None]
    res = image.copy()
    region = res[y0:y1, x0:x1].astype(np.float32)
    a = alpha[..., None]
    res[y0:y1, x0:x1] = np.clip(region * (1 - a) + out * a, 0, 255).round().astype(np.uint8)
    return res


def _upper(mesh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    up = mesh[LIPS_INNER[10:] + [LIPS_INNER[0]], :2]
    o = np.argsort(up[:, 0])
    return up[o, 0], up[o, 1]
