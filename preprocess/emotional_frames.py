"""The emotional-frames stage: writes the `emotion/` sub-dataset of docs/dataset.md.

The edit itself (AU targets -> lip-aligned warp -> seamless clone) is the library's
`emogs.emotion.edit.EmotionalFrameGenerator`; this module picks which real frames get which target
V/A (`sample_plan`), runs the generator over them, and labels the results with the analysis
functions of the other stages (face parsing, normals, AUs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from emogs.data.schema import FLOW_STRIDE, manifest_so_far
from emogs.emotion.edit import EmotionalFrameConfig, EmotionalFrameGenerator, contact_sheet, face_box
from emogs.emotion.va_model import circle_targets
from emogs.io.atomic import save_bytes, save_npy, tmp_path


def rest_va_of_dataset(root: str | Path) -> tuple[float, float]:
    """The person's rest V/A: the median judged V/A of the training frames (`valence_arousal.npy`)."""
    root = Path(root)
    va = np.load(root / "valence_arousal.npy", mmap_mode="r")
    man = manifest_so_far(root)
    lo, hi = man.get("split", {}).get("train", (0, len(va)))
    med = np.median(np.asarray(va[lo:hi], np.float64), axis=0)
    return float(med[0]), float(med[1])


@dataclass
class EmotionalStageResult:
    num_frames: int
    seconds: float
    outputs: list[str] = field(default_factory=list)


def sample_plan(
    num_real: int,
    num_targets: int,
    frames_per_target: int,
    seed: int,
    train_range: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(source_index [M], target V/A [M, 2]): `num_targets` V/A points spread over the whole circle.

    Targets: `circle_targets` at radii 0.8 and (for every other target) 0.45 so the branch sees
    intensities, each paired with `frames_per_target` distinct real frames sampled without replacement.
    """
    lo, hi = train_range if train_range is not None else (0, num_real)
    if hi - lo < 1:
        raise ValueError("no training frames to make emotional frames from")
    rng = np.random.default_rng(seed)
    ring = circle_targets(num_targets)
    radii = np.where(np.arange(num_targets) % 2 == 0, 1.0, 0.45 / 0.8)
    targets = ring * radii[:, None]
    src, va = [], []
    for t in targets:
        k = min(frames_per_target, hi - lo)
        src.append(rng.choice(np.arange(lo, hi), size=k, replace=False))
        va.append(np.repeat(t[None], k, 0))
    return np.concatenate(src).astype(np.int64), np.concatenate(va).astype(np.float32)


def _open_memmap_tmp(path: Path, dtype, shape):
    tmp = tmp_path(path)
    return np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape), tmp


def run_emotional_frames_stage(
    root: str | Path,
    num_targets: int = 12,
    frames_per_target: int = 8,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    config: EmotionalFrameConfig | None = None,
    parser=None,
    normal_renderer=None,
) -> dict:
    """Write `root/emotion/` (docs/dataset.md) from frames.npy, landmarks.npy, camera.npz.

    Returns a dict for the manifest's stage record: {"num_frames", "seconds", "outputs",
    "num_targets", "frames_per_target", "seed", "generator"}. The parsing / normals / AUs of
    the synthetic frames come from the preprocessing analysis functions (`preprocess.parsing.
    FaceParser`, `preprocess.normals.FaceNormalRenderer`, `emogs.face.action_units.estimate_aus`).
    """
    t0 = time.time()
    root = Path(root)
    for name in ("frames.npy", "landmarks.npy", "camera.npz"):
        if not (root / name).is_file():
            raise FileNotFoundError(
                f"{root / name} is missing: run the decode / landmarks / camera stages first"
            )
    frames = np.load(root / "frames.npy", mmap_mode="r")
    lms = np.load(root / "landmarks.npy", mmap_mode="r")
    cam = np.load(root / "camera.npz")
    t, s = frames.shape[0], frames.shape[1]
    if lms.shape != (t, 478, 3):
        raise ValueError(f"landmarks.npy has shape {lms.shape}; expected {(t, 478, 3)} to match frames.npy")
    train_range = None
    manifest = manifest_so_far(root)
    if "split" in manifest:
        train_range = tuple(manifest["split"]["train"])
    src, va = sample_plan(t, num_targets, frames_per_target, seed, train_range)
    m = len(src)

    if parser is None:
        from preprocess.parsing import FaceParser

        parser = FaceParser()
    if normal_renderer is None:
        from preprocess.normals import FaceNormalRenderer

        normal_renderer = FaceNormalRenderer(s)
    config = config if config is not None else EmotionalFrameConfig()
    if config.relative_to_rest and config.rest_va is None:
        if not (root / "valence_arousal.npy").is_file():
            raise FileNotFoundError(
                f"{root / 'valence_arousal.npy'} is missing: relative_to_rest needs the real frames' V/A "
                "(run the valence_arousal stage first) or an explicit rest_va"
            )
        config = replace(config, rest_va=rest_va_of_dataset(root))
    gen = EmotionalFrameGenerator(config)
    out_dir = root / "emotion"
    out_dir.mkdir(exist_ok=True)
    fr, fr_tmp = _open_memmap_tmp(out_dir / "frames.npy", np.uint8, (m, s, s, 3))
    pa, pa_tmp = _open_memmap_tmp(out_dir / "parsing.npy", np.uint8, (m, s, s))
    nm, nm_tmp = _open_memmap_tmp(out_dir / "normals.npy", np.uint8, (m, s, s, 3))
    f = s // FLOW_STRIDE
    fl, fl_tmp = _open_memmap_tmp(out_dir / "flow.npy", np.float16, (m, f, f, 2))
    pts_e = np.zeros((m, 478, 3), np.float32)
    sheet_real, sheet_fake, sheet_lab, sheet_box = [], [], [], []
    show = set(np.linspace(0, m - 1, min(m, 12)).round().astype(int).tolist())
    for i in range(m):
        rgb = np.asarray(frames[src[i]])
        img, p, flow = gen(rgb, np.asarray(lms[src[i]]), va[i], return_flow=True)
        fr[i] = img
        fl[i] = flow
        pts_e[i] = p
        pa[i] = parser(img, p)
        nm[i] = normal_renderer(p, cam["K"])
        if i in show:
            sheet_real.append(rgb)
            sheet_fake.append(img)
            sheet_lab.append(f"#{src[i]} V={va[i, 0]:+.2f} A={va[i, 1]:+.2f}")
            sheet_box.append(face_box(np.asarray(lms[src[i]]), s))
        if progress is not None:
            progress(i + 1, m)
    for a in (fr, pa, nm, fl):
        a.flush()
    del fr, pa, nm, fl

    aus, au_names = _emotional_aus(root, lms, cam, src, pts_e, manifest)
    save_npy(out_dir / "aus.npy", aus)
    save_npy(out_dir / "source_index.npy", src)
    save_npy(out_dir / "valence_arousal.npy", va)
    sheet = contact_sheet(list(zip(sheet_real, sheet_fake)), sheet_lab, boxes=sheet_box)
    ok, png = cv2.imencode(".png", sheet[..., ::-1])
    save_bytes(out_dir / "contact_sheet.png", png.tobytes())
    for tmp in (fr_tmp, pa_tmp, nm_tmp, fl_tmp):
        tmp.replace(tmp.with_name(tmp.name[: -len(".tmp")]))
    outputs = [
        f"emotion/{n}"
        for n in (
            "frames.npy",
            "source_index.npy",
            "valence_arousal.npy",
            "parsing.npy",
            "normals.npy",
            "aus.npy",
            "flow.npy",
            "contact_sheet.png",
        )
    ]
    return {
        "num_frames": m,
        "seconds": round(time.time() - t0, 2),
        "outputs": outputs,
        "num_targets": num_targets,
        "frames_per_target": frames_per_target,
        "seed": seed,
        "rest_va": None if gen.cfg.rest_va is None else [float(x) for x in gen.cfg.rest_va],
        "aus_names": au_names,
        "generator": "au-warp+seamlessClone (py-feat AU->mesh PLS v4)",
    }


def _emotional_aus(root: Path, lms, cam, src: np.ndarray, pts_e: np.ndarray, manifest: dict):
    """AUs of the synthetic frames (`estimate_aus_single`) against the person's neutral baseline
    fitted on the real frames (the same baseline `aus.npy` of the real frames uses)."""
    from emogs.face.action_units import AU_NAMES, au_geometry_features, estimate_aus_single, fit_au_baseline

    names = list(manifest.get("aus", {}).get("names", AU_NAMES))
    w2c = np.asarray(cam["w2c"], dtype=np.float64) if "w2c" in cam.files else None
    baseline = fit_au_baseline(au_geometry_features(np.asarray(lms, dtype=np.float32), w2c))
    aus = np.stack(
        [estimate_aus_single(p, baseline, None if w2c is None else w2c[k], names) for p, k in zip(pts_e, src)]
    )
    return aus.astype(np.float32), names
