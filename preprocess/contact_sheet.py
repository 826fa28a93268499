"""Contact sheet: one PNG showing whether preprocessing worked.

Rows (for N frames spread over the video): frame + landmarks (mesh dots, iBUG-68 in green) and the
crop's pose axes; colour-coded parsing over the frame; normals. Below: time plots of head pose,
reprojection error, landmark confidence, AUs and an audio-feature heat map, with markers at the
shown frames. Drawn with OpenCV only; missing arrays are skipped and labelled "missing".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emogs.data.schema import CLASS_NAMES, manifest_so_far

PALETTE = np.array([
    [0, 0, 0], [255, 200, 160], [120, 70, 20], [0, 255, 255], [220, 30, 60],
    [120, 0, 120], [255, 255, 255], [140, 90, 40], [60, 180, 75], [0, 90, 220]], np.uint8)
_COLORS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255)]


def _load(root: Path, name: str):
    p = root / name
    return np.load(p, mmap_mode="r") if p.exists() else None


def _text(img, s, xy, scale=0.4, color=(255, 255, 255)):
    import cv2

    cv2.putText(img, s, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, s, xy, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def _plot(width: int, height: int, series: list[tuple[str, np.ndarray]], marks, title: str) -> np.ndarray:
    import cv2

    img = np.full((height, width, 3), 24, np.uint8)
    _text(img, title, (4, 12))
    if not series:
        _text(img, "missing", (width // 2 - 30, height // 2), 0.5, (80, 80, 255))
        return img
    T = len(series[0][1])
    allv = np.concatenate([np.asarray(s, np.float64).ravel() for _, s in series])
    allv = allv[np.isfinite(allv)]
    lo, hi = (float(allv.min()), float(allv.max())) if len(allv) else (0.0, 1.0)
    if hi - lo < 1e-9:
        hi = lo + 1
    x = np.linspace(4, width - 4, max(T, 2))
    for m in marks:
        xm = int(4 + (width - 8) * m / max(T - 1, 1))
        cv2.line(img, (xm, 16), (xm, height - 2), (70, 70, 70), 1)
    colors = [_COLORS[k % len(_COLORS)] for k in range(len(series))]
    for k, (name, s) in enumerate(series):
        s = np.asarray(s, np.float64)
        y = height - 4 - (height - 22) * (s - lo) / (hi - lo)
        pts = np.stack([x[:T], np.nan_to_num(y)], -1).astype(np.int32)
        cv2.polylines(img, [pts], False, colors[k], 1, cv2.LINE_AA)
        _text(img, name, (4 + 44 * k, height - 6), 0.35, colors[k])
    _text(img, f"{hi:.2g}", (width - 40, 26), 0.3)
    _text(img, f"{lo:.2g}", (width - 40, height - 18), 0.3)
    return img


def write_contact_sheet(root: str | Path, out_png: str | Path | None = None, num_frames: int = 6,
                        tile: int = 192) -> Path:
    """Render the contact sheet of the dataset at `root` (default output: root/contact_sheet.png)."""
    import cv2

    from emogs.face.landmarks import to_68
    from emogs.io.atomic import save_png

    root = Path(root)
    out_png = Path(out_png) if out_png else root / "contact_sheet.png"
    frames = _load(root, "frames.npy")
    if frames is None:
        raise FileNotFoundError(f"{root / 'frames.npy'} missing: run the decode stage first")
    T, S = frames.shape[0], frames.shape[1]
    lm = _load(root, "landmarks.npy")
    parsing = _load(root, "parsing.npy")
    normals = _load(root, "normals.npy")
    aus = _load(root, "aus.npy")
    feats = _load(root, "audio_features.npy")
    conf = _load(root, "landmark_conf.npy")
    cam = dict(np.load(root / "camera.npz")) if (root / "camera.npz").exists() else None
    manifest = manifest_so_far(root)
    marks = np.linspace(0, T - 1, min(num_frames, T)).round().astype(int)
    sc = tile / S

    rows = [[], [], []]
    for t in marks:
        f = cv2.resize(np.asarray(frames[t]), (tile, tile), interpolation=cv2.INTER_AREA)
        a = f.copy()
        if lm is not None:
            for p in np.asarray(lm[t])[:, :2] * sc:
                a[int(np.clip(p[1], 0, tile - 1)), int(np.clip(p[0], 0, tile - 1))] = (255, 255, 0)
            for p in to_68(np.asarray(lm[t])) * sc:
                cv2.circle(a, (int(p[0]), int(p[1])), 1, (0, 255, 0), -1, cv2.LINE_AA)
        if cam is not None:  # pose axes at the template origin
            R, tr, K = cam["w2c"][t, :3, :3], cam["w2c"][t, :3, 3], cam["K"]
            axes = np.array([[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05]]) @ R.T + tr
            uv = (axes @ K.T)[:, :2] / (axes @ K.T)[:, 2:] * sc
            for k, col in zip(range(1, 4), [(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
                cv2.line(a, tuple(uv[0].astype(int)), tuple(uv[k].astype(int)), col, 1, cv2.LINE_AA)
        _text(a, f"#{t}  {t / float(manifest.get('fps', 25)):.1f}s", (3, 12))
        rows[0].append(a)
        if parsing is not None:
            lab = cv2.resize(np.asarray(parsing[t]), (tile, tile), interpolation=cv2.INTER_NEAREST)
            rows[1].append((0.4 * f + 0.6 * PALETTE[lab]).astype(np.uint8))
        else:
            m = np.zeros_like(f)
            _text(m, "parsing missing", (10, tile // 2), 0.45, (255, 80, 80))
            rows[1].append(m)
        if normals is not None:
            rows[2].append(cv2.resize(np.asarray(normals[t]), (tile, tile), interpolation=cv2.INTER_NEAREST))
        else:
            m = np.zeros_like(f)
            _text(m, "normals missing", (10, tile // 2), 0.45, (255, 80, 80))
            rows[2].append(m)
    grid = np.concatenate([np.concatenate(r, 1) for r in rows], 0)
    W = grid.shape[1]

    legend = np.full((18, W, 3), 24, np.uint8)
    for k, name in enumerate(CLASS_NAMES):
        x = 4 + k * (W // 10)
        cv2.rectangle(legend, (x, 4), (x + 10, 14), tuple(int(c) for c in PALETTE[k]), -1)
        _text(legend, name, (x + 13, 13), 0.35)

    ph = 90
    plots = []
    if cam is not None:
        from .camera import rotation_angles

        ang = rotation_angles(cam["w2c"][:, :3, :3])
        plots.append(_plot(W, ph, [("pitch", ang[:, 0]), ("yaw", ang[:, 1]), ("roll", ang[:, 2])], marks,
                           "head pose (deg)"))
        plots.append(_plot(W, ph // 2 + 20, [("px", cam["reproj_err"])] + ([("conf", np.asarray(conf) * 5)]
                           if conf is not None else []), marks, "reprojection error (px) / confidence x5"))
    else:
        plots.append(_plot(W, ph, [], marks, "head pose"))
    names = manifest.get("aus", {}).get("names", [])
    if aus is not None:
        plots.append(_plot(W, ph + 30, [(names[k] if k < len(names) else str(k), np.asarray(aus[:, k]))
                                        for k in range(aus.shape[1])], marks, "action units (0..5)"))
    else:
        plots.append(_plot(W, ph, [], marks, "action units"))
    if feats is not None:
        fe = np.asarray(feats, np.float32)
        lo, hi = np.percentile(fe, 1), np.percentile(fe, 99)
        heat = np.clip((fe.T - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        heat = cv2.resize(heat, (W, 80), interpolation=cv2.INTER_AREA)
        heat = cv2.applyColorMap(heat, cv2.COLORMAP_VIRIDIS)
        heat = heat[..., ::-1].copy()
        _text(heat, f"audio features ({manifest.get('audio_features', {}).get('extractor', '?')}, "
                    f"{fe.shape[1]}-d) over time", (4, 12))
        plots.append(heat)
    else:
        plots.append(_plot(W, 60, [], marks, "audio features"))
    header = np.full((22, W, 3), 40, np.uint8)
    src = manifest.get("source", {})
    _text(header, f"{Path(str(src.get('path', '?'))).name}: {T} frames @ {manifest.get('fps')} fps, {S}px, "
                  f"audio={manifest.get('has_audio')}, fov="
                  f"{manifest.get('stages', {}).get('camera', {}).get('fov_deg', '?')} deg", (4, 15), 0.45)
    sheet = np.concatenate([header, grid, legend] + plots, 0)
    save_png(out_png, sheet)
    return out_png
