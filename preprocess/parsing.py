"""Face / person parsing: one label map per frame (classes in docs/dataset.md) and a background plate.

Backends
- ``"geometry"`` (default, no weights): face regions from the 478-point mesh (face oval, brows,
  eyes, lips, inner-lip cavity; teeth = bright, not-red pixels of the cavity), the person from
  MediaPipe selfie segmentation (bundled with mediapipe 0.10.21), then colour / region reasoning
  with a per-frame skin colour model (Lab median / spread of the cheeks and nose):
  hair = person pixels around and above the face oval that are not skin (and non-skin pixels of
  the upper forehead: fringes); ears = skin pixels beside the oval (labelled face skin);
  neck = skin-coloured person pixels below the jaw within the jaw width; torso = the remaining
  person pixels below the face. Everything else is background.
- ``"bisenet"``: the 19-class BiSeNet face parser (``preprocess.bisenet``) with user weights,
  its classes mapped to ours, teeth split from its mouth class by the same colour rule.
"""

from __future__ import annotations

import cv2
import numpy as np

from emogs.data.schema import (
    BACKGROUND,
    BROWS,
    EYES,
    HAIR,
    LIPS,
    MOUTH,
    NECK,
    SKIN,
    TEETH,
    TORSO,
)
from emogs.face.topology import FACE_OVAL, LEFT_BROW, LEFT_EYE, LIPS_INNER, LIPS_OUTER, RIGHT_BROW, RIGHT_EYE

# colours for inspection PNGs (RGB)
CLASS_COLORS = np.array(
    [
        [0, 0, 0],
        [255, 204, 153],
        [102, 51, 0],
        [0, 128, 255],
        [220, 20, 60],
        [128, 0, 128],
        [255, 255, 255],
        [255, 215, 0],
        [0, 200, 100],
        [70, 70, 200],
    ],
    dtype=np.uint8,
)

_CHEEK_POINTS = [50, 280, 101, 330, 205, 425, 118, 347, 4, 5, 195, 151, 9]


def colorize(labels: np.ndarray) -> np.ndarray:
    """[..., H, W] uint8 labels -> [..., H, W, 3] RGB using CLASS_COLORS."""
    return CLASS_COLORS[np.asarray(labels)]


def _poly(mask: np.ndarray, pts: np.ndarray, value: int = 1) -> np.ndarray:
    """Fill a polygon given in pixel coordinates (pixel centres at i + 0.5)."""
    cv2.fillPoly(mask, [np.round((pts - 0.5) * 16).astype(np.int32)], value, lineType=cv2.LINE_8, shift=4)
    return mask


def _region_hw(h: int, w: int, pts: np.ndarray, loops: list[list[int]]) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for loop in loops:
        _poly(m, pts[loop, :2])
    return m.astype(bool)


class _SkinModel:
    """Per-frame skin colour in Lab from the cheeks / nose / forehead centre: robust median and spread."""

    def __init__(self, lab: np.ndarray, pts: np.ndarray, face: np.ndarray, exclude: np.ndarray):
        probe = np.zeros(lab.shape[:2], np.uint8)
        r = max(2, int(0.04 * np.linalg.norm(pts[263, :2] - pts[33, :2])))
        for i in _CHEEK_POINTS:
            x, y = np.round(pts[i, :2] - 0.5).astype(int)
            cv2.circle(probe, (int(x), int(y)), r, 1, -1)
        sample = lab[(probe > 0) & face & ~exclude].reshape(-1, 3).astype(np.float32)
        if len(sample) < 20:
            sample = lab[face & ~exclude].reshape(-1, 3).astype(np.float32)
        if len(sample) < 20:
            sample = np.array([[160.0, 145.0, 145.0]], np.float32)
        self.median = np.median(sample, axis=0)
        mad = np.median(np.abs(sample - self.median), axis=0) * 1.4826
        # lightness varies with shading far more than chroma does
        self.spread = np.maximum(mad, [12.0, 4.0, 4.0]) * np.array([2.5, 1.0, 1.0], np.float32)

    def distance2(self, lab: np.ndarray) -> np.ndarray:
        """Squared normalised distance to the skin colour, float32 [H, W] (per-channel lookup tables)."""
        v = np.arange(256, dtype=np.float32)[None, :]
        tables = (((v - self.median[:, None]) / self.spread[:, None]) ** 2).astype(np.float32)  # [3, 256]
        ch = cv2.split(lab)  # OpenCV lookups: same values as tables[k][lab[..., k]], ~2x faster
        return cv2.LUT(ch[0], tables[0]) + cv2.LUT(ch[1], tables[1]) + cv2.LUT(ch[2], tables[2])


def teeth_mask(
    rgb: np.ndarray,
    cavity: np.ndarray,
    skin_lab_median: np.ndarray | None = None,
    lab: np.ndarray | None = None,
) -> np.ndarray:
    """Teeth inside the mouth cavity: bright pixels that are not red.

    rgb [S, S, 3] uint8, cavity [S, S] bool, skin_lab_median: the skin colour (Lab, OpenCV 8-bit).
    Lightness must exceed 55 % of the skin's (or 100 / 255): the dark cavity is excluded; redness
    (Lab a*) must stay below the skin's + 3 (at least 6): lips, gums and tongue are redder than
    skin, teeth (white to yellowish, high b*, low a*) are not.
    """
    out = np.zeros_like(cavity)
    ys, xs = np.nonzero(cavity)
    if len(ys) == 0:
        return out
    if lab is None:
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    pix = lab[ys, xs].astype(np.float32)
    light, red = pix[:, 0], pix[:, 1] - 128.0
    if skin_lab_median is not None:
        ref = 0.55 * float(skin_lab_median[0])
        max_red = max(6.0, float(skin_lab_median[1]) - 128.0 + 3.0)
    else:
        ref, max_red = 100.0, 12.0
    keep = (light > ref) & (red < max_red)
    out[ys[keep], xs[keep]] = True
    return out


class FaceParser:
    """Label map of one frame.

    ``parser(rgb [S, S, 3] uint8, points478 [478, 3]) -> labels [S, S] uint8`` (CLASS_NAMES ids).
    backend: "geometry" (default, offline) or "bisenet" (``weights`` = path of the 19-class
    checkpoint, e.g. 79999_iter.pth).
    """

    def __init__(self, backend: str = "geometry", weights: str | None = None, device: str = "cpu"):
        if backend not in ("geometry", "bisenet"):
            raise ValueError(f"unknown parsing backend {backend!r}; use 'geometry' or 'bisenet'.")
        self.backend = backend
        self.device = device
        self._segmenter = None
        self._bisenet = None
        if backend == "bisenet":
            if weights is None:
                raise ValueError(
                    "the 'bisenet' parsing backend needs weights: pass the 19-class face-parsing checkpoint "
                    "(79999_iter.pth), or use backend='geometry'."
                )
            from preprocess.bisenet import load_bisenet

            self._bisenet = load_bisenet(weights, device=device)

    # -- person segmentation
    def person_probability(self, rgb: np.ndarray) -> np.ndarray:
        """MediaPipe selfie segmentation: float32 [S, S] in [0, 1]."""
        if self._segmenter is None:
            import mediapipe as mp

            self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        res = self._segmenter.process(np.ascontiguousarray(rgb))
        if res.segmentation_mask is None:
            return np.zeros(rgb.shape[:2], np.float32)
        return np.asarray(res.segmentation_mask, np.float32)

    def close(self) -> None:
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __call__(self, rgb: np.ndarray, points478: np.ndarray) -> np.ndarray:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] != rgb.shape[1] or rgb.dtype != np.uint8:
            raise ValueError(
                f"FaceParser expects a square RGB uint8 frame [S, S, 3], got {rgb.dtype} {rgb.shape}."
            )
        pts = np.asarray(points478, dtype=np.float64)
        if pts.shape != (478, 3):
            raise ValueError(f"FaceParser expects the 478-point face mesh [478, 3], got {pts.shape}.")
        if self.backend == "bisenet":
            return self._parse_bisenet(rgb, pts)
        return self._parse_geometry(rgb, pts)

    # -- bisenet
    def _parse_bisenet(self, rgb: np.ndarray, pts: np.ndarray) -> np.ndarray:
        from preprocess.bisenet import parse_with_bisenet

        labels = parse_with_bisenet(self._bisenet, rgb, device=self.device)
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
        skin = lab[labels == SKIN]
        skin_median = np.median(skin.reshape(-1, 3), axis=0) if len(skin) >= 20 else None
        labels[teeth_mask(rgb, labels == MOUTH, skin_median, lab=lab)] = TEETH
        return labels

    # -- geometry
    def _parse_geometry(self, rgb: np.ndarray, pts: np.ndarray) -> np.ndarray:
        s = rgb.shape[0]
        person = self.person_probability(rgb) > 0.5
        face_w = float(np.linalg.norm(pts[454, :2] - pts[234, :2]))
        chin_y = float(pts[152, 1])
        top_y = float(pts[10, 1])
        face_h = max(chin_y - top_y, 1.0)
        # everything that needs colour reasoning lies in a box around the head and neck
        x0 = int(np.clip(pts[:, 0].min() - 0.6 * face_w, 0, s - 1))
        x1 = int(np.clip(pts[:, 0].max() + 0.6 * face_w, x0 + 1, s))
        y0 = int(np.clip(top_y - 0.6 * face_h, 0, s - 1))
        y1 = int(np.clip(chin_y + 1.0 * face_h, y0 + 1, s))
        off = np.array([x0, y0, 0.0])
        roi = self._parse_roi(
            np.ascontiguousarray(rgb[y0:y1, x0:x1]),
            pts - off,
            person[y0:y1, x0:x1],
            chin_y - y0,
            top_y - y0,
            face_w,
            face_h,
        )
        # outside the box: person pixels above the eyes are hair, the rest torso (shoulders, arms)
        eye_y = float((pts[33, 1] + pts[263, 1]) / 2)
        labels = np.zeros((s, s), np.uint8)
        rows = (np.arange(s) + 0.5)[:, None] > eye_y
        labels[person & rows] = TORSO
        labels[person & ~rows] = HAIR
        labels[y0:y1, x0:x1] = roi
        return labels

    def _parse_roi(self, rgb, pts, person, chin_y, top_y, face_w, face_h) -> np.ndarray:
        h, w = rgb.shape[:2]
        face = _region_hw(h, w, pts, [FACE_OVAL])
        brows = _region_hw(h, w, pts, [RIGHT_BROW, LEFT_BROW])
        eyes = _region_hw(h, w, pts, [RIGHT_EYE, LEFT_EYE])
        lips_outer = _region_hw(h, w, pts, [LIPS_OUTER])
        cavity = _region_hw(h, w, pts, [LIPS_INNER])
        lips = lips_outer & ~cavity
        # head surroundings: an ellipse ~0.3 face sizes larger than the face
        centre = (float(pts[FACE_OVAL, 0].mean()), float((top_y + chin_y) / 2))
        axes = (0.8 * face_w, 0.8 * face_h)
        x_l, x_r = sorted((float(pts[172, 0]), float(pts[397, 0])))  # jaw width (neck band)
        pad = 0.08 * (x_r - x_l)
        # skin colour is only looked at in the face, the head ellipse and the neck band: convert to Lab
        # only in their bounding box (the rest of the box stays "not skin"; the result is the same)
        cx0 = int(np.clip(np.floor(min(centre[0] - axes[0], x_l - pad, pts[:, 0].min())) - 2, 0, w))
        cx1 = int(np.clip(np.ceil(max(centre[0] + axes[0], x_r + pad, pts[:, 0].max())) + 2, cx0, w))
        cy0 = int(np.clip(np.floor(min(centre[1] - axes[1], pts[:, 1].min())) - 2, 0, h))
        cy1 = int(np.clip(np.ceil(max(chin_y + 0.9 * face_h, pts[:, 1].max())) + 2, cy0, h))
        win = (slice(cy0, cy1), slice(cx0, cx1))
        lab = cv2.cvtColor(np.ascontiguousarray(rgb[win]), cv2.COLOR_RGB2LAB)
        skin = _SkinModel(lab, pts - [cx0, cy0, 0.0], face[win], (brows | eyes | lips_outer)[win])
        skin_d2 = np.full((h, w), np.inf, np.float32)
        skin_d2[win] = skin.distance2(lab)
        is_skin = skin_d2 < 9.0  # within 3 spreads
        person = person | face
        yc = (np.arange(h) + 0.5)[:, None]
        xc = (np.arange(w) + 0.5)[None, :]

        # jaw contour: for each column, the lowest point of the face oval (the chin level beside it)
        oval_cols = face.any(axis=0)
        lowest = np.where(oval_cols, h - np.argmax(face[::-1], axis=0), 0).astype(np.float64)
        jaw_y = np.where(oval_cols, lowest, chin_y)
        below_jaw = yc > jaw_y[None, :]
        eye_y = float((pts[33, 1] + pts[263, 1]) / 2)
        near = np.zeros((h, w), np.uint8)
        cv2.ellipse(
            near, (int(centre[0] * 16), int(centre[1] * 16)), (int(axes[0] * 16), int(axes[1] * 16)),
            0, 0, 360, 1, -1, cv2.LINE_8, 4,
        )  # fmt: skip
        near_head = near.astype(bool)

        labels = np.zeros((h, w), np.uint8)
        other = person & ~face
        upper = yc < chin_y
        # above the chin line: hair around the head, ears (skin beside the face), shoulders further out
        ears = other & upper & near_head & is_skin & ~below_jaw & (yc > top_y + 0.25 * face_h)
        hair = other & upper & ~ears & ((near_head & ~is_skin) | (yc <= eye_y) | (near_head & (yc < top_y)))
        # hair is attached to the head: keep hair pixels connected to the part above the eyes
        hair = _keep_connected_to(hair, seed_rows=(0, max(1, int(eye_y))), cols=(0, w), connectivity=8)
        labels[other] = TORSO
        labels[hair] = HAIR
        labels[ears] = SKIN

        # neck: skin-coloured person pixels under the jaw contour, within the jaw width
        band = (xc > x_l - pad) & (xc < x_r + pad) & below_jaw & (yc < chin_y + 0.9 * face_h)
        neck = band & other & (skin_d2 < 16.0)
        neck = _keep_connected_to(neck, seed_rows=(int(chin_y), int(chin_y + 0.25 * face_h)), cols=(x_l, x_r))
        labels[neck] = NECK

        # the face and its parts
        labels[face] = SKIN
        brow_top = min(pts[RIGHT_BROW, 1].min(), pts[LEFT_BROW, 1].min())
        fringe = face & (skin_d2 > 16.0) & (yc < brow_top - 0.02 * face_h)
        labels[fringe] = HAIR
        labels[brows] = BROWS
        labels[eyes] = EYES
        labels[lips] = LIPS
        labels[cavity] = MOUTH
        labels[win][teeth_mask(rgb[win], cavity[win], skin.median, lab=lab)] = TEETH
        return labels


def _keep_connected_to(
    mask: np.ndarray, seed_rows: tuple[int, int], cols: tuple[float, float], connectivity: int = 4
) -> np.ndarray:
    """The connected components of `mask` (bool [H, W]) that touch the seed rectangle (rows
    [r0, r1), columns [int(c0), int(c1)]). Labels only the mask's bounding box (the same components,
    fewer pixels)."""
    rows, cols_any = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return mask
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols_any[0], cols_any[-1] + 1
    sub = mask[y0:y1, x0:x1]
    n, comp = cv2.connectedComponents(sub.view(np.uint8), connectivity=connectivity)
    r0, r1 = max(0, seed_rows[0]), min(mask.shape[0], max(seed_rows[1], seed_rows[0] + 1))
    c0, c1 = max(0, int(cols[0])), min(mask.shape[1], int(cols[1]) + 1)
    keep = np.zeros(n, bool)
    keep[comp[max(r0 - y0, 0) : max(r1 - y0, 0), max(c0 - x0, 0) : max(c1 - x0, 0)].ravel()] = True
    keep[0] = False
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = keep[comp]
    return out


def estimate_background(
    frames: np.ndarray, labels: np.ndarray, max_samples: int = 48, rows_per_chunk: int = 64, margin: int = 4
) -> np.ndarray:
    """Background plate: per-pixel median over frames where the pixel is background.

    frames [T, S, S, 3] uint8 and labels [T, S, S] uint8 may be memmaps: at most ``max_samples``
    evenly spaced frames are read, ``rows_per_chunk`` image rows at a time. Background pixels
    within ``margin`` px of the person are not trusted (halo). Pixels never seen as background
    are inpainted (OpenCV Telea). Returns uint8 [S, S, 3].
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or labels.shape != frames.shape[:3]:
        raise ValueError(
            f"estimate_background: frames [T,S,S,3] and labels [T,S,S] must match, got "
            f"{frames.shape} and {labels.shape}."
        )
    t = frames.shape[0]
    if t == 0:
        raise ValueError("estimate_background: no frames.")
    idx = np.unique(np.linspace(0, t - 1, min(t, max_samples)).round().astype(int))
    h, w = frames.shape[1:3]
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    bg_masks = np.stack(
        [cv2.erode((np.asarray(labels[i]) == BACKGROUND).astype(np.uint8), kernel) > 0 for i in idx]
    )
    plate = np.zeros((h, w, 3), np.float32)
    known = np.zeros((h, w), bool)
    for r0 in range(0, h, rows_per_chunk):
        r1 = min(h, r0 + rows_per_chunk)
        block = np.stack([np.asarray(frames[i, r0:r1]) for i in idx]).astype(np.float32)  # [n, rows, W, 3]
        m = bg_masks[:, r0:r1]
        block[~m] = np.nan
        cnt = m.sum(0)
        block.sort(axis=0)  # NaNs (not background) sort last: the median of the first cnt values
        lo = np.clip((cnt - 1) // 2, 0, None)[None, ..., None]
        hi = np.clip(cnt // 2, 0, None)[None, ..., None]
        lo3 = np.broadcast_to(lo, (1, *block.shape[1:]))
        hi3 = np.broadcast_to(hi, (1, *block.shape[1:]))
        med = 0.5 * (np.take_along_axis(block, lo3, 0)[0] + np.take_along_axis(block, hi3, 0)[0])
        ok = cnt > 0
        plate[r0:r1][ok] = med[ok]
        known[r0:r1] = ok
    out = np.clip(np.round(plate), 0, 255).astype(np.uint8)
    if not known.all():
        if not known.any():
            return np.zeros((h, w, 3), np.uint8)
        out = cv2.inpaint(out, (~known).astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return out
