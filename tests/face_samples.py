"""Real-image test inputs for the analysis tests: the skimage astronaut portrait, its MediaPipe
mesh, and versions with the mouth opened / the eyes closed by an image warp (re-detected)."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()  # [512, 512, 3] uint8 RGB, face ~95 px wide


@functools.cache
def _detector():
    from emogs.face.landmarks import FaceMeshDetector

    return FaceMeshDetector(video_mode=False, max_faces=1)


@functools.cache
def face_512() -> tuple[np.ndarray, np.ndarray, object]:
    """The astronaut portrait cropped around the face to a 512 frame: (crop [512, 512, 3] uint8,
    its mesh points [478, 3] float64, the detector)."""
    import cv2

    crop = cv2.resize(astronaut()[20:240, 125:345], (512, 512), interpolation=cv2.INTER_CUBIC)
    return crop, detect(crop).astype(np.float64), _detector()


def detect(rgb: np.ndarray) -> np.ndarray:
    faces = _detector()(rgb)
    assert faces, "no face found in a test image"
    return faces[0].points


def open_mouth(rgb: np.ndarray, pts: np.ndarray, amount: float) -> np.ndarray:
    """Move the lower lip / chin down by up to `amount` px (elliptic profile between the mouth
    corners) and fill the opening with a dark mouth-interior colour."""
    if amount <= 0:
        return rgb.copy()
    import cv2

    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = (pts[61, 0] + pts[291, 0]) / 2
    half_w = (pts[291, 0] - pts[61, 0]) / 2
    y0 = (pts[13, 1] + pts[14, 1]) / 2  # the lip seam
    chin = pts[152, 1] + 2 * amount
    u = np.clip(np.abs(xx - cx) / half_w, 0, None)
    prof = np.where(u < 1, np.sqrt(np.clip(1 - u**2, 0, 1)), 0.0)
    fade = np.clip(1 - (u - 1) / 0.4, 0, 1) * (u >= 1)
    fx = np.maximum(prof, 0.3 * fade)  # let the cheeks follow a little: no tear at the corners
    fy = np.where(yy > y0, np.clip((chin - yy) / (chin - y0), 0, 1), 0)
    d = amount * fx * fy
    out = cv2.remap(rgb, xx, yy - d, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    opening = (yy > y0) & (yy < y0 + amount * prof) & (u < 1)
    dark = np.array([70, 30, 35], np.float32)
    blend = np.clip((amount * prof - (yy - y0)) / 2.0, 0, 1) * opening
    return (out * (1 - 0.85 * blend[..., None]) + dark * 0.85 * blend[..., None]).astype(np.uint8)


def close_eyes(rgb: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Paint both eye openings with the skin just above the eyes (a closed lid)."""
    import cv2

    from emogs.face.topology import LEFT_EYE, RIGHT_EYE

    out = rgb.copy()
    for loop, lid in ((RIGHT_EYE, 159), (LEFT_EYE, 386)):
        poly = np.round(pts[loop, :2]).astype(np.int32)
        mask = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        eye_h = pts[145, 1] - pts[159, 1] if lid == 159 else pts[374, 1] - pts[386, 1]
        x0, y0 = int(pts[lid, 0]), int(pts[lid, 1] - max(6.0, 1.5 * eye_h))
        skin = rgb[y0 - 2 : y0 + 3, x0 - 2 : x0 + 3].reshape(-1, 3).mean(0)
        out[mask > 0] = skin.astype(np.uint8)
        # a darker lash line along the lower lid
        lower = np.round(pts[loop[:9], :2]).astype(np.int32)
        cv2.polylines(out, [lower], False, tuple(int(c) for c in skin * 0.55), 1)
    return out


@functools.cache
def mouth_series() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Astronaut with the mouth opened by 0, 6, 12 px: (images, re-detected meshes)."""
    img = astronaut()
    pts = detect(img)
    imgs = [open_mouth(img, pts, a) for a in (0, 6, 12)]
    return imgs, [detect(i) for i in imgs]


@functools.cache
def closed_eyes() -> tuple[np.ndarray, np.ndarray]:
    img = astronaut()
    out = close_eyes(img, detect(img))
    return out, detect(out)
