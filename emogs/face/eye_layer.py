"""A still eyeball under moving lids: the eye part of the offline emotional-frame generator.

A warp can move eyelids but cannot show what they covered: raising the upper lid (AU5,
surprise / fear) stretched the lid and its lashes over the band it uncovered, and the
synthetic frames had smudged, dark upper lids. Here each eye is two layers:

* the lids: the warped frame, everywhere outside the new eye opening;
* the eyeball: still (the eyes keep looking where they looked), i.e. the *unwarped* frame
  inside the old opening, and where the lids uncover more of it, a painted eyeball - the
  iris disc (MediaPipe iris landmarks; its colour from the visible iris, darker towards the
  limbus) and sclera (colour from the visible sclera), shaded under the lid edge.

    out, still, invented = composite_eyes(rgb, warped, points478, moved_points478)

`still` [S, S] in [0, 1] is where the output shows the still eyeball: the edit's motion
field is 0 there; `invented` (within `still`) where that eyeball is painted, not seen in the
frame: what the edit's motion is there is unknown. Landmark orders are MediaPipe's eye
contours (16 points each, lower lid then upper lid).
"""

from __future__ import annotations

import cv2
import numpy as np

from .topology import LEFT_EYE, LEFT_IRIS, RIGHT_EYE, RIGHT_IRIS

# closed eye contours, MediaPipe face-mesh indices: corner, lower lid, other corner, upper lid
RIGHT_EYE_CONTOUR = tuple(RIGHT_EYE)  # the eye openings, ordered along the contour
LEFT_EYE_CONTOUR = tuple(LEFT_EYE)
IRIS_GROUPS = (tuple(RIGHT_IRIS), tuple(LEFT_IRIS))  # centre + 4 ring points each
_SUB = 4  # sub-pixel bits of cv2.fillPoly (anti-aliased masks)


def opening_mask(contour: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Anti-aliased inside-mask [h, w] float32 in [0, 1] of a closed polygon [K, 2] (pixel
    coordinates, pixel centres at integers) within box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    k = 4  # supersampling
    m = np.zeros(((y1 - y0) * k, (x1 - x0) * k), np.uint8)
    p = ((contour - (x0, y0)) * k + (k - 1) / 2) * (1 << _SUB)
    cv2.fillPoly(m, [np.round(p).astype(np.int32)], 255, cv2.LINE_AA, _SUB)
    return cv2.resize(m, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    """0 for x <= a, 1 for x >= b, the cubic 3t^2 - 2t^3 between."""
    t = np.clip((x - a) / max(b - a, 1e-6), 0, 1)
    return t * t * (3 - 2 * t)


def paint_eyeball(
    rgb: np.ndarray, visible: np.ndarray, box, iris_centre: np.ndarray, iris_radius: float
) -> np.ndarray:
    """A painted eyeball [h, w, 3] float32 over `box` of `rgb` [S, S, 3]: iris disc + sclera in
    the colours of the pixels `visible` [h, w] (> 0.5) shows of each, the iris darker near its
    rim and a pupil at its centre."""
    x0, y0, x1, y1 = box
    crop = rgb[y0:y1, x0:x1].astype(np.float32)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rho = np.hypot(xx - iris_centre[0], yy - iris_centre[1]) / max(iris_radius, 1e-3)
    seen = visible > 0.5
    px = crop[seen]
    lum = px.mean(-1) if len(px) else np.zeros(0, np.float32)

    def colour(sel: np.ndarray, dark: bool) -> np.ndarray:
        if sel.sum() >= 6:
            return np.median(crop[sel], axis=0)
        if len(px):  # none of it visible: the darkest / brightest third of the opening
            q = np.quantile(lum, 1 / 3 if dark else 2 / 3)
            return np.median(px[lum <= q] if dark else px[lum >= q], axis=0)
        return np.array([90.0, 60, 40]) if dark else np.array([220.0, 215, 210])

    iris = colour(seen & (rho > 0.45) & (rho < 0.85), dark=True)
    sclera = colour(seen & (rho > 1.2), dark=False)
    rim = 1.0 - 0.35 * smoothstep(0.7, 1.0, rho)
    pupil = 1.0 - 0.65 * (1.0 - smoothstep(0.3, 0.4, rho))
    inside = 1.0 - smoothstep(0.97, 1.03, rho)
    return inside[..., None] * iris * (rim * pupil)[..., None] + (1 - inside[..., None]) * sclera


def eye_box(contour: np.ndarray, size: int, margin_x: int, margin_up: int,
            margin_down: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around an eye `contour` [K, 2] (pixels) grown by those margins (pixels; image
    y points down), clipped to a size x size image; None when under 3 px wide or high."""
    lo, hi = np.floor(contour.min(0)).astype(int), np.ceil(contour.max(0)).astype(int)
    x0, x1 = lo[0] - margin_x, hi[0] + margin_x
    y0, y1 = lo[1] - margin_up, hi[1] + margin_down
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size), min(y1, size)
    return (x0, y0, x1, y1) if x1 - x0 >= 3 and y1 - y0 >= 3 else None


def still_eyeball(rgb: np.ndarray, points: np.ndarray, contour: tuple[int, ...],
                  box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One eye's eyeball over `box` of `rgb` [S, S, 3] as it is under the lids of `points` [478, >=2]
    (pixels): (frame crop [h, w, 3], painted eyeball [h, w, 3], keep [h, w]) as float32, where keep
    is 1 where the frame shows the eyeball away from the lid edge (its lashes and shadow) and the
    eyeball is crop there, painted elsewhere (mix them as keep * crop + (1 - keep) * painted)."""
    p0 = np.asarray(points, np.float64)[:, :2]
    c0 = p0[list(contour)]
    eye_w = float(np.ptp(c0[:, 0]))
    x0, y0, x1, y1 = box
    old = opening_mask(c0, box)
    # the iris of this eye: the landmark group whose centre lies nearest the opening's centre
    centre = c0.mean(0)
    grp = min(IRIS_GROUPS, key=lambda gr: float(np.linalg.norm(p0[gr[0]] - centre)))
    ic = p0[grp[0]]
    ir = float(np.mean(np.linalg.norm(p0[list(grp[1:])] - ic, axis=1)))
    if not np.isfinite(ir) or ir < 0.5:
        ir = 0.2 * eye_w
    # keep the real eyeball where it was visible, away from the old lid edge (lashes, shadow)
    depth = cv2.distanceTransform((old > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    keep = smoothstep(0.5, 0.5 + max(0.06 * eye_w, 1.5), depth).astype(np.float32)
    painted = paint_eyeball(rgb, keep, box, ic, ir)
    return rgb[y0:y1, x0:x1].astype(np.float32), painted, keep


def still_eyeballs(rgb: np.ndarray, points: np.ndarray, grow_x: float = 0.15, grow_up: float = 0.5,
                   grow_down: float = 0.35, shadow: float = 0.0) -> np.ndarray:
    """`rgb` [S, S, 3] uint8 with each eye's box (the contour grown by those fractions of the eye
    width) replaced by its still eyeball (`still_eyeball`): what the frame would show with the lids
    of `points` [478, >=2] (pixels) taken away. Colours for the eyeball Gaussians, which lie under the
    lids. `shadow` > 0 darkens the painted part the further it lies from the opening, down to
    1 - `shadow` (0.1 eye widths from it: 1 - 0.63 shadow); the default 0 paints it as bright as the
    synthetic frames' uncovered eyeball (`composite_eyes`), which the eyeballs show when lids rise."""
    out = rgb.copy()
    p0 = np.asarray(points, np.float64)[:, :2]
    for contour in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):
        c0 = p0[list(contour)]
        eye_w = float(np.ptp(c0[:, 0]))
        box = eye_box(c0, rgb.shape[0], *(int(np.ceil(g * eye_w)) for g in (grow_x, grow_up, grow_down)))
        if box is None:
            continue
        crop, painted, keep = still_eyeball(rgb, p0, contour, box)
        x0, y0, x1, y1 = box
        outside = cv2.distanceTransform((opening_mask(c0, box) < 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        painted *= (1.0 - shadow * (1.0 - np.exp(-outside / max(0.1 * eye_w, 1.0))))[..., None]
        eyeball = keep[..., None] * crop + (1 - keep[..., None]) * painted
        out[y0:y1, x0:x1] = np.clip(np.round(eyeball), 0, 255).astype(np.uint8)
    return out


def composite_eyes(
    rgb: np.ndarray, warped: np.ndarray, points: np.ndarray, moved: np.ndarray, shadow: float = 0.3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Put still eyeballs under the warped lids.

    rgb, warped: [S, S, 3] uint8 (the frame and its warp); points, moved: [478, >=2] landmarks
    before / after the edit (pixels). Returns (out [S, S, 3] uint8, still [S, S] float32,
    invented [S, S] float32)."""
    size = rgb.shape[0]
    out = warped.astype(np.float32)
    still = np.zeros(rgb.shape[:2], np.float32)
    invented = np.zeros(rgb.shape[:2], np.float32)
    p0, p1 = np.asarray(points, np.float64)[:, :2], np.asarray(moved, np.float64)[:, :2]
    for contour in (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR):
        c0, c1 = p0[list(contour)], p1[list(contour)]
        if np.allclose(c0, c1):
            continue
        eye_w = float(np.ptp(c0[:, 0]))
        g = int(np.ceil(0.15 * eye_w)) + 2
        box = eye_box(np.concatenate([c0, c1]), size, g, g, g)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        crop, painted, keep = still_eyeball(rgb, p0, contour, box)
        new = opening_mask(c1, box)
        # the uncovered eyeball lies in the lid's shadow near the new lid edge
        edge = cv2.distanceTransform((new > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        painted *= (1.0 - shadow * np.exp(-edge / max(0.08 * eye_w, 1.0)))[..., None]
        eyeball = keep[..., None] * crop + (1 - keep[..., None]) * painted
        out[y0:y1, x0:x1] = new[..., None] * eyeball + (1 - new[..., None]) * out[y0:y1, x0:x1]
        still[y0:y1, x0:x1] = np.maximum(still[y0:y1, x0:x1], new)
        invented[y0:y1, x0:x1] = np.maximum(invented[y0:y1, x0:x1], new * (1 - keep))
    return np.clip(np.round(out), 0, 255).astype(np.uint8), still, invented


__all__ = [
    "composite_eyes",
    "eye_box",
    "still_eyeball",
    "still_eyeballs",
    "opening_mask",
    "paint_eyeball",
    "smoothstep",
    "RIGHT_EYE_CONTOUR",
    "LEFT_EYE_CONTOUR",
]
