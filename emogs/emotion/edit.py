"""Lip-aligned emotional synthetic frames: the offline default of g_LEF.

For a frame I with MediaPipe landmarks and a target valence/arousal e:
1. AU targets: `va_to_aus(e)` (FACS prototypes on the V/A circle, emogs.emotion.va_model).
2. Landmark displacements: the linear AU -> mesh model (`emogs.emotion.au_mesh`, from
   py-feat's PLS table), mapped onto this face by a similarity fit, times `au_gain`.
3. Lip alignment: the 40 lip landmarks are held FIXED (and mouth-opening AUs 25/26 are
   dropped), so the mouth shape - and lip sync - stays that of the real frame.
4. Only points inside an eyes+brows rectangle and a mouth/cheeks rectangle move, faded to 0
   towards the rectangles' borders.
5. A smooth backward warp (thin-plate-spline interpolation of the displacements, zero on the
   rectangle borders and the lips) gives I_E; OpenCV `seamlessClone` (Poisson) puts the two
   rectangles of I_E into I, as the paper does with its StyleGAN output. Before that, the eyes
   get still eyeballs under the warped lids (`emogs.face.eye_layer`).

The preprocessing stage `preprocess.emotional_frames` runs this over a dataset and writes the
`emotion/` sub-dataset of docs/dataset.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from emogs.data.schema import FLOW_STRIDE
from emogs.emotion.au_mesh import (
    FACE_OVAL,
    IRISES,
    LEFT_BROW,
    LEFT_EYE,
    LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
    AUMeshModel,
)
from emogs.emotion.va_model import va_to_aus
from emogs.face.eye_layer import composite_eyes, smoothstep


@dataclass
class EmotionalFrameConfig:
    au_gain: float = 2.5  # py-feat's PLS deltas are population averages: subtle; scale them up
    eye_gain: float = 0.35  # eyelid points' share of the AU motion
    # still eyeballs under the moving lids (emogs.face.eye_layer): a raised lid uncovers painted
    # iris / sclera instead of stretching the lid and its lashes over the eye
    eye_layer: bool = True
    open_eye: float = 0.2  # lid gap / eye width of an open eye; narrower eyes move their lids less
    lip_clearance: float = 0.3  # displacements fade to 0 within this fraction of the mouth width of the lips
    # 0 = lips held fixed (lip-aligned, the default). > 0: the mouth corners follow the AUs (AU12 up,
    # AU15 down) times this gain, bending the lips with a weight u^2 across the mouth (0 at the centre)
    # that moves upper and lower lip alike, so the lip opening - what lip sync needs - is kept.
    lip_corners: float = 0.0
    drop_aus: tuple[str, ...] = ("AU25", "AU26")  # mouth opening contradicts fixed lips
    grid_step: int = 4  # px between samples of the dense warp field
    smooth: float = 0.06  # Gaussian smoothing of the per-point displacements, x the inter-ocular distance
    fade: float = 0.25  # fraction of a rectangle's half-size over which displacements fade to 0
    outline_fade: float = 0.08  # the warp fades to 0 towards the face outline, over this x the IOD
    clone: bool = True  # seamlessClone the rectangles (False: paste the warped rectangles)
    max_disp_frac: float = 0.12  # clip displacements to this fraction of the inter-ocular distance
    # the person's rest expression on the V/A circle (e.g. the judge on the real frames): the AUs
    # applied are va_to_aus(target) - va_to_aus(rest_va), so a target is an absolute expression and a
    # person who smiles at rest gets the smile taken away for a sad target. None = (0, 0).
    rest_va: tuple[float, float] | None = None
    relative_to_rest: bool = True  # the stage sets rest_va from the real frames' valence_arousal.npy


def face_rectangles(pts: np.ndarray, size: int) -> list[tuple[int, int, int, int]]:
    """[(x0, y0, x1, y1)] of the eyes+brows band and the mouth+cheeks box (half-open, inside the image)."""
    p = pts[:, :2]
    iod = float(np.linalg.norm(p[33] - p[263]))
    eb = p[list(LEFT_EYE + RIGHT_EYE + LEFT_BROW + RIGHT_BROW)]
    eyes = (
        eb[:, 0].min() - 0.15 * iod,
        eb[:, 1].min() - 0.3 * iod,
        eb[:, 0].max() + 0.15 * iod,
        p[list(LEFT_EYE + RIGHT_EYE)][:, 1].max() + 0.3 * iod,
    )
    lp = p[list(LIPS)]
    lw = lp[:, 0].max() - lp[:, 0].min()
    mouth = (
        lp[:, 0].min() - 0.5 * lw,
        min(p[1, 1], lp[:, 1].min() - 0.1 * lw),
        lp[:, 0].max() + 0.5 * lw,
        lp[:, 1].max() + 0.55 * max(p[152, 1] - lp[:, 1].max(), 1.0),
    )
    out = []
    for x0, y0, x1, y1 in (eyes, mouth):
        x0, y0 = int(np.clip(np.floor(x0), 2, size - 4)), int(np.clip(np.floor(y0), 2, size - 4))
        x1, y1 = int(np.clip(np.ceil(x1), x0 + 2, size - 2)), int(np.clip(np.ceil(y1), y0 + 2, size - 2))
        out.append((x0, y0, x1, y1))
    return out


def face_interior(pts: np.ndarray, size: int, fade: float) -> np.ndarray:
    """[S, S] float32 weight: 1 inside the face outline (convex hull of the MediaPipe face oval)
    farther than `fade` x the inter-ocular distance from it, 0 on and outside it (smoothstep)."""
    p = np.asarray(pts, np.float64)[:, :2]
    hull = cv2.convexHull(p[list(FACE_OVAL)].astype(np.float32))[:, 0]
    inside = np.zeros((size, size), np.uint8)
    cv2.fillPoly(inside, [np.round(hull).astype(np.int32)], 1)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    return smoothstep(0.0, fade * float(np.linalg.norm(p[33] - p[263])), depth).astype(np.float32)


def _window(xy: np.ndarray, rect, fade: float) -> np.ndarray:
    """Smooth weight in [0, 1]: 1 well inside `rect`, 0 on and outside its border."""
    x0, y0, x1, y1 = rect
    hx, hy = (x1 - x0) / 2, (y1 - y0) / 2
    u = smoothstep(0.0, fade * hx, np.minimum(xy[:, 0] - x0, x1 - xy[:, 0]))
    v = smoothstep(0.0, fade * hy, np.minimum(xy[:, 1] - y0, y1 - xy[:, 1]))
    return u * v


def _distance_to_hull(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance of points [N, 2] to the convex hull of `poly` [K, 2] (0 inside)."""
    hull = cv2.convexHull(poly.astype(np.float32))
    return np.array([max(-cv2.pointPolygonTest(hull, (float(x), float(y)), True), 0.0) for x, y in xy])


def _hull_samples(poly: np.ndarray, step: float, grow: float) -> np.ndarray:
    """Grid points (spacing `step`) inside the convex hull of `poly` grown by `grow` px, plus the hull."""
    hull = cv2.convexHull(poly.astype(np.float32))[:, 0]
    x0, y0 = hull.min(0) - grow
    x1, y1 = hull.max(0) + grow
    gx, gy = np.meshgrid(np.arange(x0, x1 + step, step), np.arange(y0, y1 + step, step))
    cand = np.stack([gx.ravel(), gy.ravel()], 1)
    h = hull.reshape(-1, 1, 2)
    inside = np.array([cv2.pointPolygonTest(h, (float(x), float(y)), True) >= -grow for x, y in cand], bool)
    return np.concatenate([cand[inside], hull.astype(np.float64)])


def _border_points(rect, step: float) -> np.ndarray:
    x0, y0, x1, y1 = rect
    nx, ny = max(int((x1 - x0) / step), 2), max(int((y1 - y0) / step), 2)
    xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    return np.concatenate(
        [
            np.stack([xs, np.full_like(xs, y0)], 1),
            np.stack([xs, np.full_like(xs, y1)], 1),
            np.stack([np.full_like(ys, x0), ys], 1),
            np.stack([np.full_like(ys, x1), ys], 1),
        ]
    )


class EmotionalFrameGenerator:
    """Offline lip-aligned emotional frame generator.

    gen = EmotionalFrameGenerator()
    rgb_e, pts_e = gen(rgb [S,S,3] uint8, points478 [478,3], va [2])
    rgb_e, pts_e, flow = gen(rgb, points478, va, return_flow=True)   # + motion field [S/4, S/4, 2]
    """

    def __init__(self, config: EmotionalFrameConfig | None = None, au_mesh: AUMeshModel | None = None):
        self.cfg = config or EmotionalFrameConfig()
        self.model = au_mesh or AUMeshModel.load()
        self._fixed = np.zeros(478, bool)
        self._fixed[list(LIPS + FACE_OVAL + IRISES)] = True

    def target_aus(self, va) -> dict[str, float]:
        aus = va_to_aus(np.asarray(va, dtype=np.float64), as_dict=True)
        if self.cfg.rest_va is not None:
            rest = va_to_aus(np.asarray(self.cfg.rest_va, dtype=np.float64), as_dict=True)
            aus = {k: v - rest[k] for k, v in aus.items()}
        return {k: v for k, v in aus.items() if k not in self.cfg.drop_aus}

    def lip_field(self, points478: np.ndarray, va):
        """xy [N, 2] -> displacement [N, 2] of the lip region (all 0 unless `lip_corners` > 0)."""
        pts = np.asarray(points478, dtype=np.float64)
        if self.cfg.lip_corners <= 0:
            return lambda xy: np.zeros((len(xy), 2))
        d = self.cfg.au_gain * self.cfg.lip_corners * self.model.image_displacement(self.target_aus(va), pts)
        cl, cr = d[61], d[291]
        cx = (pts[61, 0] + pts[291, 0]) / 2
        hw = max(abs(pts[291, 0] - pts[61, 0]) / 2, 1.0)
        sign = 1.0 if pts[291, 0] > pts[61, 0] else -1.0

        def field(xy):
            u = np.clip(sign * (np.asarray(xy)[:, 0] - cx) / hw, -1, 1)
            return (u**2)[:, None] * np.where(u[:, None] < 0, cl, cr)

        return field

    def displacement(self, points478: np.ndarray, va, size: int) -> tuple[np.ndarray, list]:
        """Pixel displacements [478, 2] (lips exactly 0 unless `lip_corners`) and the two rectangles."""
        pts = np.asarray(points478, dtype=np.float64)
        d = self.cfg.au_gain * self.model.image_displacement(self.target_aus(va), pts)
        d[self._fixed] = 0.0
        d[list(LEFT_EYE + RIGHT_EYE)] *= self.cfg.eye_gain
        # the PLS deltas are noisy from vertex to vertex: smooth them over the face (Gaussian in image
        # space among the moving points) so contours such as the brows move as a whole, without waves
        iod = float(np.linalg.norm(pts[33, :2] - pts[263, :2]))
        if self.cfg.smooth > 0:
            mov = ~self._fixed
            q = pts[mov, :2]
            k = np.exp(-((q[:, None] - q[None]) ** 2).sum(-1) / (2 * (self.cfg.smooth * iod) ** 2))
            d[mov] = (k @ d[mov]) / k.sum(1, keepdims=True)
        for eye, (top, bottom, c0, c1) in (
            (RIGHT_EYE, (159, 145, 33, 133)),
            (LEFT_EYE, (386, 374, 263, 362)),
        ):
            # a closing eye carries proportionally less lid motion: a blink stays a blink
            width = max(float(np.linalg.norm(pts[c0, :2] - pts[c1, :2])), 1e-6)
            opening = float(np.linalg.norm(pts[top, :2] - pts[bottom, :2])) / width
            d[list(eye)] *= min(opening / self.cfg.open_eye, 1.0)
        rects = face_rectangles(pts, size)
        w = np.zeros(478)
        for r in rects:
            w = np.maximum(w, _window(pts[:, :2], r, self.cfg.fade))
        # fade to 0 near the lips: the mouth keeps its shape and its surroundings do not fold onto it
        lip_d = _distance_to_hull(pts[:, :2], pts[list(LIPS), :2])
        lw = float(np.ptp(pts[list(LIPS), 0]))
        t = smoothstep(0.0, self.cfg.lip_clearance * lw, lip_d)
        near = self.lip_field(pts, va)(pts[:, :2])  # the lips' own motion (0 when they are fixed)
        near[list(FACE_OVAL + IRISES)] = 0.0
        d = t[:, None] * d + (1 - t[:, None]) * near
        d *= w[:, None]
        # nothing crosses the face outline (the warp field is faded the same way: `warp_field`)
        inner = face_interior(pts, size, fade=self.cfg.outline_fade)
        ij = np.clip(np.round(pts[:, :2]).astype(int), 0, size - 1)
        d *= inner[ij[:, 1], ij[:, 0]][:, None]
        lim = self.cfg.max_disp_frac * iod
        n = np.linalg.norm(d, axis=1, keepdims=True)
        d *= np.minimum(1.0, lim / np.maximum(n, 1e-9))
        return d, rects

    def warp_field(
        self, pts: np.ndarray, d: np.ndarray, rects: list, size: int, lip_field=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Backward maps (map_x, map_y) [S, S] float32: output pixel -> source pixel."""
        step = self.cfg.grid_step
        nodes = [pts[:, :2] + d]
        vals = [-d]
        for r in rects:
            b = _border_points(r, step * 2)
            nodes.append(b)
            vals.append(np.zeros_like(b))
        lip_nodes = _hull_samples(
            pts[list(LIPS), :2], step * 1.5, grow=0.05 * float(np.ptp(pts[list(LIPS), 0]))
        )
        lip_d = np.zeros_like(lip_nodes) if lip_field is None else lip_field(lip_nodes)
        nodes.append(lip_nodes + lip_d)
        vals.append(-lip_d)
        nodes, vals = np.concatenate(nodes), np.concatenate(vals)
        # drop duplicate nodes (a singular TPS system otherwise)
        _, keep = np.unique(np.round(nodes, 3), axis=0, return_index=True)
        rbf = RBFInterpolator(nodes[keep], vals[keep], kernel="thin_plate_spline", smoothing=1e-3)
        g = np.arange(0, size + step, step, dtype=np.float64)
        gy, gx = np.meshgrid(g, g, indexing="ij")
        field_ = rbf(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(len(g), len(g), 2)
        # pixel centres: pixel (i, j) samples the field at (j + 0.5, i + 0.5) -> bilinear upsample
        coords = ((np.arange(size) + 0.5) / step).astype(np.float32)
        cx, cy = np.meshgrid(coords, coords)
        fx = cv2.remap(
            field_[..., 0].astype(np.float32), cx, cy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        fy = cv2.remap(
            field_[..., 1].astype(np.float32), cx, cy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        mask = np.zeros((size, size), np.float32)
        for x0, y0, x1, y1 in rects:
            mask[y0:y1, x0:x1] = 1.0
        mask *= face_interior(pts, size, fade=self.cfg.outline_fade)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        return xx + fx * mask, yy + fy * mask

    def __call__(self, rgb: np.ndarray, points478: np.ndarray, va, return_flow: bool = False) -> tuple:
        """-> (rgb_e [S,S,3] uint8, points_e [478,3] float32) (+ flow with `return_flow`).

        flow [S/FLOW_STRIDE, S/FLOW_STRIDE, 2] float32: the motion field of the edit in pixels of
        the frame - at each (area-averaged) pixel of I_E, how far the content shown there moved
        from I (output pixel p shows source pixel p - flow(p)); 0 outside the two rectangles and
        on the still eyeballs, NaN (unknown) where the eye layer paints eyeball the lids uncovered
        (a flow cell with any such pixel is NaN).
        It is the exact geometry of the warp (seamless cloning changes colours, not positions):
        the emotion branch is supervised with it (docs/emotion.md)."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[0] != rgb.shape[1] or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected a square RGB uint8 frame [S, S, 3]; got {rgb.dtype} {rgb.shape}")
        pts = np.asarray(points478, dtype=np.float64)
        if pts.shape != (478, 3) or not np.all(np.isfinite(pts)):
            raise ValueError(
                f"points478 must be finite [478, 3] MediaPipe landmarks in pixels; got {pts.shape}"
            )
        size = rgb.shape[0]
        d, rects = self.displacement(pts, va, size)
        out_pts = pts.copy()
        out_pts[:, :2] += d
        fs = size // FLOW_STRIDE
        if not np.any(d):
            still = (rgb.copy(), out_pts.astype(np.float32))
            return (*still, np.zeros((fs, fs, 2), np.float32)) if return_flow else still
        mx, my = self.warp_field(pts, d, rects, size, self.lip_field(pts, va))
        warped = cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        still = invented = None
        if self.cfg.eye_layer:
            warped, still, invented = composite_eyes(rgb, warped, pts, out_pts)
        out = rgb.copy()
        for x0, y0, x1, y1 in rects:
            if self.cfg.clone:
                mask = np.zeros((size, size), np.uint8)
                mask[y0:y1, x0:x1] = 255
                centre = (x0 + (x1 - x0) // 2, y0 + (y1 - y0) // 2)
                bgr = cv2.seamlessClone(
                    warped[..., ::-1].copy(), out[..., ::-1].copy(), mask, centre, cv2.NORMAL_CLONE
                )
                out = bgr[..., ::-1].copy()
            else:
                out[y0:y1, x0:x1] = warped[y0:y1, x0:x1]
        if not return_flow:
            return out, out_pts.astype(np.float32)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        flow = np.stack([xx - mx, yy - my], -1)  # forward motion = minus the backward map's offset
        if still is not None:
            flow *= 1.0 - still[..., None]  # the eyeballs do not move
            flow[invented > 0.5] = np.nan  # painted eyeball: its motion is unknown
        return out, out_pts.astype(np.float32), cv2.resize(flow, (fs, fs), interpolation=cv2.INTER_AREA)


def contact_sheet(
    cells: Sequence[Sequence[np.ndarray]], labels: list[str], tile: int = 256, boxes=None, cols: int = 3
) -> np.ndarray:
    """Cells of side-by-side images (e.g. real | emotional) with a label each -> RGB uint8 sheet.

    cells: per cell, images [H, W, 3] uint8 of one size; boxes: optional (x0, y0, x1, y1) per cell
    to zoom on the face; each image is shown at tile x tile, `cols` cells per row."""
    out = []
    for k, (images, lab) in enumerate(zip(cells, labels)):
        if boxes is not None:
            x0, y0, x1, y1 = boxes[k]
            images = [im[y0:y1, x0:x1] for im in images]
        row = [cv2.resize(np.ascontiguousarray(im), (tile, tile), interpolation=cv2.INTER_AREA)
               for im in images]
        cell = np.concatenate(row, 1).copy()
        cv2.putText(cell, lab, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
        out.append(cell)
    while len(out) % cols:
        out.append(np.zeros_like(out[0]))
    return np.concatenate([np.concatenate(out[i : i + cols], 1) for i in range(0, len(out), cols)], 0)


def face_box(pts: np.ndarray, size: int, scale: float = 1.15) -> tuple[int, int, int, int]:
    """A square (x0, y0, x1, y1) around landmarks [K, >=2], `scale` x their extent, inside the frame."""
    p = pts[:, :2]
    cx, cy = (p.min(0) + p.max(0)) / 2
    half = max(np.ptp(p[:, 0]), np.ptp(p[:, 1])) * scale / 2
    half = min(half, size / 2)
    x0 = int(np.clip(cx - half, 0, size - 2 * half))
    y0 = int(np.clip(cy - half, 0, size - 2 * half))
    return x0, y0, x0 + int(2 * half), y0 + int(2 * half)
