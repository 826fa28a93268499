"""Emotion evaluation: the paper's emotion-conditioned protocol and lip preservation.

Emotion-conditioned (method.md): render at `n` V/A targets evenly on the circle, judge each
render -> V-RMSE, A-RMSE (lower is better), V-SA, A-SA (sign agreement, higher is better), E-Acc
(top-3 class accuracy: the target's class - the judge class nearest in angle - is among the
judge's three most probable classes). With the default `fer` judge the V/A is derived from
class probabilities (approximate) and differs from the paper's EmoNet: say so next to numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from emogs.face.topology import LIP_GAP_PAIRS

from .au_mesh import LIPS
from .judge import EmotionJudge, class_of_va
from .va_model import circle_targets


def _sign_agree(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sign(a) == np.sign(b)))


def va_scores(targets: np.ndarray, judged: np.ndarray) -> dict:
    """V_RMSE, A_RMSE, V_SA, A_SA of judged [N, 2] vs targets [N, 2]."""
    t, j = np.asarray(targets, np.float64), np.asarray(judged, np.float64)
    if t.shape != j.shape or t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"targets and judged must both be [N, 2]; got {t.shape}, {j.shape}")
    return {
        "V_RMSE": float(np.sqrt(np.mean((t[:, 0] - j[:, 0]) ** 2))),
        "A_RMSE": float(np.sqrt(np.mean((t[:, 1] - j[:, 1]) ** 2))),
        "V_SA": _sign_agree(t[:, 0], j[:, 0]),
        "A_SA": _sign_agree(t[:, 1], j[:, 1]),
    }


def emotion_conditioned_eval(
    render_fn: Callable[[np.ndarray], np.ndarray | list],
    judge: EmotionJudge | None = None,
    targets: np.ndarray | None = None,
    landmarks_fn: Callable[[np.ndarray], np.ndarray | None] | None = None,
) -> dict:
    """Render at each target V/A, judge, score.

    Args:
        render_fn: va [2] -> rgb [H, W, 3] uint8, or a list of frames (all are judged and
            their V/A averaged; top-3 from the mean probabilities).
        judge: an `EmotionJudge` (default: the fer backend).
        targets: [N, 2] (default: `circle_targets(12)`).
        landmarks_fn: optional rgb -> points478 for the judge's face crop.
    Returns:
        {V_RMSE, A_RMSE, V_SA, A_SA, E_Acc_top3, judge, per_target: [{target, judged, class, top3, hit}]}
    """
    judge = judge or EmotionJudge()
    targets = circle_targets(12) if targets is None else np.asarray(targets, np.float64)
    judged, per = [], []
    for t in targets:
        out = render_fn(np.asarray(t, np.float64))
        frames = [out] if isinstance(out, np.ndarray) and out.ndim == 3 else list(out)
        if not frames:
            raise ValueError(f"render_fn returned no frames for target {t}")
        pts = [landmarks_fn(f) if landmarks_fn else None for f in frames]
        res = judge(np.stack(frames), points478=pts)
        probs = res.probs.mean(0)
        va = res.va.mean(0)
        top3 = [res.classes[k] for k in np.argsort(-probs)[:3]]
        cls = class_of_va(t)
        judged.append(va)
        per.append(
            {
                "target": t.tolist(),
                "judged": va.tolist(),
                "class": cls,
                "top3": top3,
                "hit": cls in top3,
                "probs": probs.tolist(),
            }
        )
    out = va_scores(targets, np.asarray(judged))
    out["E_Acc_top3"] = float(np.mean([p["hit"] for p in per]))
    out["judge"] = judge.backend
    out["per_target"] = per
    return out


def va_circle_coverage(va, sectors: int = 12, min_radius: float = 0.3, min_share: float = 0.01) -> dict:
    """How much of the V/A circle a video's judged V/A covers.

    Args: va [T, 2] per-frame valence / arousal (e.g. `valence_arousal.npy`); the circle is cut into
    `sectors` equal angles (the protocol's 12 targets each sit in one). Returns {"coverage": share of
    sectors holding at least `min_share` of the frames at radius >= `min_radius` (a real expression, not
    the neutral centre), "expressive": share of frames at radius >= min_radius, "sector_share": [sectors]
    share of frames per sector (the expressive ones), "spread": the RMS distance of the frames to their
    mean V/A}. A video of one fixed expression covers one sector; one going from crying to laughing
    several."""
    v = np.asarray(va, np.float64)
    if v.ndim != 2 or v.shape[1] != 2 or len(v) == 0:
        raise ValueError(f"va must be [T, 2] valence / arousal with T >= 1; got {v.shape}")
    r = np.linalg.norm(v, axis=1)
    far = r >= min_radius
    angle = np.mod(np.arctan2(v[:, 1], v[:, 0]), 2 * np.pi)
    k = np.floor(angle / (2 * np.pi / sectors)).astype(int) % sectors
    share = np.bincount(k[far], minlength=sectors) / len(v)
    return {
        "coverage": float(np.mean(share >= min_share)) if far.any() else 0.0,
        "expressive": float(far.mean()),
        "sector_share": [round(float(x), 4) for x in share],
        "spread": float(np.sqrt(((v - v.mean(0)) ** 2).sum(1).mean())),
    }


def plot_va_circle(targets, judged, path_png: str | Path, size: int = 512, title: str = "") -> Path:
    """Targets (green) vs judged (red) V/A on the unit circle, joined by lines -> PNG (OpenCV drawing)."""
    import cv2

    t, j = np.asarray(targets, np.float64), np.asarray(judged, np.float64)
    img = np.full((size, size, 3), 255, np.uint8)
    c, r = size // 2, int(size * 0.42)
    to_px = lambda p: (int(round(c + p[0] * r)), int(round(c - p[1] * r)))  # noqa: E731
    cv2.circle(img, (c, c), r, (180, 180, 180), 1, cv2.LINE_AA)
    cv2.line(img, (c - r, c), (c + r, c), (200, 200, 200), 1)
    cv2.line(img, (c, c - r), (c, c + r), (200, 200, 200), 1)
    cv2.putText(
        img, "valence", (c + r - 60, c - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1, cv2.LINE_AA
    )
    cv2.putText(
        img, "arousal", (c + 6, c - r + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1, cv2.LINE_AA
    )
    for a, b in zip(t, j):
        cv2.line(img, to_px(a), to_px(b), (160, 160, 160), 1, cv2.LINE_AA)
        cv2.circle(img, to_px(a), 5, (0, 160, 0), -1, cv2.LINE_AA)  # BGR green
        cv2.circle(img, to_px(b), 5, (0, 0, 220), -1, cv2.LINE_AA)  # BGR red
    if title:
        cv2.putText(img, title, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        img,
        "green: target  red: judged",
        (8, size - 10),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.4,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write {path}")
    return path


def lip_preservation(neutral_landmarks, emotional_landmarks, indices=LIPS) -> dict:
    """Mouth-landmark distance between neutral and emotional renders of the same audio.

    Args: [T, 478, 3] (or [T, 478, 2]) landmarks in pixels, e.g. MediaPipe on both renders.
    Returns: {"mean_px", "max_px", "per_frame_mean_px" [T]} over the lip landmarks (x, y only).
    """
    a, b = np.asarray(neutral_landmarks, np.float64), np.asarray(emotional_landmarks, np.float64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[1] != 478:
        raise ValueError(f"need two [T, 478, 2|3] landmark arrays of equal shape; got {a.shape}, {b.shape}")
    d = np.linalg.norm(a[:, list(indices), :2] - b[:, list(indices), :2], axis=-1)  # [T, L]
    return {"mean_px": float(d.mean()), "max_px": float(d.max()), "per_frame_mean_px": d.mean(1).tolist()}


def opening_preservation(neutral_landmarks, emotional_landmarks, pairs=LIP_GAP_PAIRS) -> dict:
    """Articulation kept by an emotion: the inner-lip opening of emotional vs neutral images of the same
    speech (the lips' outline may move with the mouth corners; the opening is what speech dictates).

    Args: [T, 478, 2|3] landmarks in pixels (e.g. MediaPipe on both). Returns {"mean_abs_diff_px": mean
    |gap difference| over the `pairs` (inner upper / lower lip points) and frames, "correlation" of the
    two sets of gaps (NaN when either does not vary), "pairs": T}."""
    a, b = np.asarray(neutral_landmarks, np.float64), np.asarray(emotional_landmarks, np.float64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[1] != 478:
        raise ValueError(f"need two [T, 478, 2|3] landmark arrays of equal shape; got {a.shape}, {b.shape}")
    i, j = np.asarray(pairs).T
    ga = np.linalg.norm(a[:, i, :2] - a[:, j, :2], axis=-1).ravel()
    gb = np.linalg.norm(b[:, i, :2] - b[:, j, :2], axis=-1).ravel()
    corr = float(np.corrcoef(ga, gb)[0, 1]) if ga.std() > 0 and gb.std() > 0 else float("nan")
    return {"mean_abs_diff_px": float(np.abs(ga - gb).mean()), "correlation": corr, "pairs": int(a.shape[0])}


def lip_mask(landmarks, shape: tuple[int, int], grow_px: float = 0.0) -> np.ndarray:
    """[H, W] float32 in [0, 1]: the convex hull of the lip landmarks of `landmarks` [478, >=2] (px),
    grown by `grow_px` and feathered over as many pixels (1 inside the hull)."""
    import cv2

    m = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.asarray(landmarks, np.float32)[list(LIPS), :2])
    cv2.fillConvexPoly(m, np.round(hull).astype(np.int32), 1)
    if grow_px <= 0:
        return m.astype(np.float32)
    inside = cv2.distanceTransform((1 - m).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.clip(2.0 - inside / grow_px, 0.0, 1.0).astype(np.float32)


def mouth_swapped(emotional, neutral, neutral_landmarks, grow_px: float = 8.0) -> np.ndarray:
    """The emotional render [H, W, 3] uint8 with the neutral render's mouth (`lip_mask` of the neutral
    landmarks, grown by `grow_px`) put back: lips pixel for pixel those of the neutral render, the rest
    of the face emotional. A landmark detector's lip motion on it is its crosstalk from the eyes, brows
    and cheeks (the detector floor of `lip_preservation`), not lip motion."""
    e, n = np.asarray(emotional, np.float32), np.asarray(neutral, np.float32)
    m = lip_mask(neutral_landmarks, e.shape[:2], grow_px)[..., None]
    return (m * n + (1 - m) * e + 0.5).astype(np.uint8)


def motion_fidelity(neutral_landmarks, emotional_landmarks, intended, indices) -> dict:
    """How well an avatar reproduces the motion its emotion branch was taught.

    Args: neutral / emotional [T, 478, 2|3] landmarks detected on the neutral and emotional renders of
    the same frames; intended [T, 478, 2] the synthetic generator's displacement for those frames and
    targets (`EmotionalFrameGenerator.displacement`); indices: the landmarks compared (e.g. brows).
    Returns {"error_px": mean |rendered - intended| motion, "intended_px": mean |intended|,
    "rendered_px": mean |rendered|, "gain": least-squares slope of rendered on intended (1 = full
    motion), "correlation" of the two (all coordinates), "pairs": T}.
    """
    a, b = np.asarray(neutral_landmarks, np.float64), np.asarray(emotional_landmarks, np.float64)
    d = np.asarray(intended, np.float64)
    if a.shape != b.shape or a.ndim != 3 or d.shape[:2] != a.shape[:2]:
        raise ValueError(f"need [T, 478, 2|3] landmarks and [T, 478, 2] motions; got {a.shape}, {b.shape}, "
                         f"{d.shape}")
    idx = list(indices)
    moved = (b[:, idx, :2] - a[:, idx, :2]).reshape(-1)
    want = d[:, idx, :2].reshape(-1)
    err = np.linalg.norm((b[:, idx, :2] - a[:, idx, :2]) - d[:, idx, :2], axis=-1)
    den = float(want @ want)
    return {
        "error_px": float(err.mean()),
        "intended_px": float(np.linalg.norm(d[:, idx, :2], axis=-1).mean()),
        "rendered_px": float(np.linalg.norm(b[:, idx, :2] - a[:, idx, :2], axis=-1).mean()),
        "gain": float(moved @ want / den) if den > 0 else float("nan"),
        "correlation": (float(np.corrcoef(moved, want)[0, 1]) if moved.std() > 0 and want.std() > 0
                        else float("nan")),
        "pairs": int(a.shape[0]),
    }
