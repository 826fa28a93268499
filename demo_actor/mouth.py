"""Drawing inside the mouth opening: dark cavity, upper and lower teeth, a tongue hint.

The opening is the deformed inner-lip polygon. Upper teeth are fixed to the skull, so they
are taken from the portrait itself (its own neutral mouth opening, unmoved); above them, if
the upper lip rises, and below, where the jaw uncovers new area, the cavity is painted with
a shaded dark red, the lower teeth ride on the lower lip, and the tongue sits behind them.
Edges are anti-aliased (4x super-sampled polygon coverage).
"""

from __future__ import annotations

import cv2
import numpy as np

from emogs.face.topology import LIPS_INNER

_SS = 4  # super-sampling for coverage masks


def _coverage(poly: np.ndarray, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of polygon ``poly`` [K, 2] (pixel coords) on the box (x0, y0, w, h)."""
    m = np.zeros((h * _SS, w * _SS), np.uint8)
    p = np.round(((poly - [x0, y0]) * _SS - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(m, [p], 255, cv2.LINE_8, 4)
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _lip_curves(mesh: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    up = mesh[LIPS_INNER[10:] + [LIPS_INNER[0]], :2]
    lo = mesh[LIPS_INNER[:11], :2]
    ou, ol = np.argsort(up[:, 0]), np.argsort(lo[:, 0])
    return (up[ou, 0], up[ou, 1]), (lo[ol, 0], lo[ol, 1])


def teeth_colour(photo: np.ndarray, mesh0: np.ndarray) -> np.ndarray:
    """Typical colour of the portrait's visible teeth (bright pixels in its mouth opening), or a default."""
    h, w = photo.shape[:2]
    cov = _coverage(mesh0[LIPS_INNER, :2], 0, 0, w, h) > 0.9
    px = photo[cov].astype(np.float32)
    if len(px) >= 10:
        lum = px.mean(1)
        bright = px[lum >= np.percentile(lum, 70)]
        if bright.mean() > 120:
            return bright.mean(0)
    return np.array([225.0, 218.0, 205.0])


def draw_mouth(image: np.ndarray, photo: np.ndarray, mesh: np.ndarray, mesh0: np.ndarray,
               teeth_rgb: np.ndarray, half_width: float) -> np.ndarray:
    """Paint the inside of the mouth into ``image`` [H, W, 3] uint8 (returns a new array).

    mesh / mesh0: deformed / neutral meshes [478, 2+] in ``image`` pixels (before head motion).
    photo: the neutral portrait (source of the upper teeth). half_width: half mouth width (px).
    """
    h, w = image.shape[:2]
    poly = mesh[LIPS_INNER, :2].astype(np.float64)
    x0 = max(int(np.floor(poly[:, 0].min())) - 2, 0)
    y0 = max(int(np.floor(min(poly[:, 1].min(), mesh0[LIPS_INNER, 1].min()))) - 2, 0)
    x1 = min(int(np.ceil(poly[:, 0].max())) + 3, w)
    y1 = min(int(np.ceil(max(poly[:, 1].max(), mesh0[LIPS_INNER, 1].max()))) + 3, h)
    bw, bh = x1 - x0, y1 - y0
    if bw <= 2 or bh <= 2:
        return image
    alpha = _coverage(poly, x0, y0, bw, bh)
    if alpha.max() <= 0:
        return image
    (ux, uy), (lx, ly) = _lip_curves(mesh)
    (ux0, uy0), (lx0, ly0) = _lip_curves(mesh0)
    gx = np.arange(x0, x1) + 0.5
    gy = (np.arange(y0, y1) + 0.5)[:, None]
    y_up = np.interp(gx, ux, uy)[None]
    y_lo = np.interp(gx, lx, ly)[None]
    y_up0 = np.interp(gx, ux0, uy0)[None]
    y_lo0 = np.interp(gx, lx0, ly0)[None]
    gap = np.maximum(y_lo - y_up, 1e-3)
    cx = 0.5 * (poly[:, 0].min() + poly[:, 0].max())
    half_open = max(0.5 * (poly[:, 0].max() - poly[:, 0].min()), 1.0)
    u = (gx[None] - cx) / half_open
    # cavity: dark red, darker towards the back (centre) of the opening
    depth = np.clip(np.minimum(gy - y_up, y_lo - gy) / (0.5 * gap + 1e-3), 0, 1)
    shade = (1.0 - 0.55 * depth) * (1.0 - 0.35 * np.abs(u) ** 2)
    out = np.empty((bh, bw, 3), np.float32)
    base = np.array([70.0, 28.0, 30.0])
    out[:] = base * shade[..., None]
    gap_c = float(np.interp(cx, lx, ly) - np.interp(cx, ux, uy))
    # tongue: a soft reddish ellipse low in the cavity
    if gap_c > 0.15 * half_width:
        ty = float(np.interp(cx, lx, ly)) - 0.15 * gap_c
        rx, ry = 0.62 * half_open, 0.45 * gap_c
        d = ((gx[None] - cx) / rx) ** 2 + ((gy - ty) / ry) ** 2
        t_a = np.clip((1.0 - d) * 3.0, 0, 1) * min(1.0, (gap_c - 0.15 * half_width) / (0.2 * half_width))
        tongue = np.array([150.0, 62.0, 66.0]) * (0.75 + 0.25 * np.clip(1 - d, 0, 1))[..., None]
        out = out * (1 - t_a[..., None]) + tongue * t_a[..., None]
    teeth = np.asarray(teeth_rgb, np.float32)
    # lower teeth ride on the lower lip, shown as the jaw opens
    lt = np.clip(0.22 * gap, 0, 0.10 * half_width) * np.clip(1 - (np.abs(u) / 0.8) ** 2, 0, 1)
    lower_a = np.clip((gy - (y_lo - lt)) * 1.5, 0, 1) * (lt > 0.5)
    lower_col = teeth * (0.68 + 0.2 * np.clip((gy - (y_lo - lt)) / (lt + 1e-3), 0, 1))[..., None]
    out = out * (1 - lower_a[..., None]) + lower_col * lower_a[..., None]
    # upper teeth: the portrait's own (identity mapping) inside its neutral opening ...
    photo_box = photo[y0:y1, x0:x1].astype(np.float32)
    up0_a = _coverage(mesh0[LIPS_INNER, :2], x0, y0, bw, bh)
    # ... fading out just above the neutral lower lip (its shadow line is not teeth)
    up0_a = up0_a * np.clip((y_lo0 - 1.0 - gy) / 1.5, 0, 1)
    # above the neutral upper lip (the upper lip rose): more upper teeth / gum, drawn
    ext_a = np.clip((y_up0 - gy) * 1.5, 0, 1) * np.clip(1 - np.abs(u) ** 4, 0, 1)
    out = out * (1 - ext_a[..., None]) + (teeth * 0.9) * ext_a[..., None]
    out = out * (1 - up0_a[..., None]) + photo_box * up0_a[..., None]
    res = image.copy()
    region = res[y0:y1, x0:x1].astype(np.float32)
    a = alpha[..., None]
    res[y0:y1, x0:x1] = np.clip(region * (1 - a) + out * a, 0, 255).round().astype(np.uint8)
    return res
