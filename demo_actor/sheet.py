"""Contact sheet of a generated clip: frames with the widest / closed mouth, blinks, and an even
sample; the bottom row repeats them with the ground-truth lip and eye contours drawn."""

from __future__ import annotations

import cv2
import numpy as np

from emogs.face.topology import LEFT_EYE, LIPS_INNER, LIPS_OUTER, RIGHT_EYE


def pick_frames(truth: dict, n: int = 8) -> list[int]:
    gap = truth["mouth_gap_px"]
    au45 = truth["au45"]
    t = len(gap)
    picks = [int(np.argmax(gap)), int(np.argmin(gap))]
    if au45.max() > 0:
        picks.append(int(np.argmax(au45)))
    if "head_rotvec" in truth:  # the widest turns and nods
        rv = truth["head_rotvec"]
        picks += [int(np.argmax(rv[:, 1])), int(np.argmin(rv[:, 1])), int(np.argmax(rv[:, 0])),
                  int(np.argmin(rv[:, 0]))]
    picks += [int(i) for i in np.linspace(0, t - 1, max(n - len(picks), 1) + 2)[1:-1].round()]
    seen, out = set(), []
    for i in picks:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out[:n]


def contact_sheet(frames: dict[int, np.ndarray], truth: dict, path: str, tile: int = 256) -> np.ndarray:
    """Write a sheet (PNG or JPEG by ``path``'s extension) of ``frames`` {index: rgb}: two rows,
    plain and with the ground-truth lip and eye contours. Returns the sheet (RGB)."""
    rows = [[], []]
    for k in sorted(frames):
        img = frames[k]
        s = tile / img.shape[0]
        small = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        lab = f"{k} gap {truth['mouth_gap_px'][k]:.0f} au45 {truth['au45'][k]:.1f}"
        if "head_euler_deg" in truth:
            p, y, _ = truth["head_euler_deg"][k]
            lab += f" y{y:+.0f} p{p:+.0f}"
        over = small.copy()
        lm = truth["landmarks"][k][:, :2] * s
        loops = ((LIPS_OUTER, (255, 60, 60)), (LIPS_INNER, (60, 255, 60)), (LEFT_EYE, (60, 160, 255)),
                 (RIGHT_EYE, (60, 160, 255)))
        for loop, col in loops:
            pts = np.round((lm[loop] - 0.5) * 16).astype(np.int32)
            cv2.polylines(over, [pts], True, col, 1, cv2.LINE_AA, 4)
        for im in (small, over):
            cv2.putText(im, lab, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
        rows[0].append(small)
        rows[1].append(over)
    sheet = np.concatenate([np.concatenate(r, 1) for r in rows], 0)
    cv2.imwrite(path, sheet[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return sheet


def viseme_frames(truth: dict) -> dict[str, int]:
    """For every viseme present: the frame with its median inner-lip gap (a typical one)."""
    gap, vis = truth["mouth_gap_px"], truth["viseme"]
    out = {}
    for i, name in enumerate(str(n) for n in truth["viseme_names"]):
        idx = np.nonzero(vis == i)[0]
        if len(idx):
            out[name] = int(idx[np.argsort(gap[idx])[len(idx) // 2]])
    return out


def mouth_sheet(frames: dict[str, tuple[int, np.ndarray]], truth: dict, path: str,
                tile: int = 160) -> np.ndarray:
    """Mouth close-ups {label: (frame index, rgb)}: a crop of 0.64 face widths around the true lips,
    upscaled to ``tile`` px, labelled with the viseme and the true gap. Returns the sheet (RGB)."""
    tiles = []
    for lab, (k, img) in frames.items():
        lm = truth["landmarks"][k][:, :2]
        c = lm[LIPS_OUTER].mean(0)
        half = 0.32 * np.linalg.norm(lm[454] - lm[234])  # by the face width: rounding shows as narrowing
        m = np.array([[tile / (2 * half), 0, tile / 2 - c[0] * tile / (2 * half)],
                      [0, tile / (2 * half), tile / 2 - c[1] * tile / (2 * half)]])
        crop = cv2.warpAffine(img, m, (tile, tile), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
        cv2.putText(crop, f"{lab} #{k} gap {truth['mouth_gap_px'][k]:.1f}", (3, 12), cv2.FONT_HERSHEY_SIMPLEX,
                    0.38, (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(crop)
    cols = 8
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0)
    cv2.imwrite(path, sheet[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    return sheet
