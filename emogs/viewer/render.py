"""`render_view`: one viewer frame from (avatar, UI state, audio) - a pure function.

    img = render_view(avatar, state, features, source)   # uint8 [R,R,3], R = state.resolution

Audio: `features` [T,D] per-frame features of the loaded audio, sampled at `state.time_s`
(frame floor(time * fps), window +-W edge-padded as in training), or an explicit
`audio_window` [2W+1,D] (live streaming), or neither (the source's idle features: a closed,
silent mouth).
"""

from __future__ import annotations

import numpy as np
import torch

from ..avatar import FrameConditions
from ..avatar.drive import pingpong
from .source import DriveSource, rotate_about
from .state import ViewerState


def frame_at(time_s: float, fps: float, num_frames: int) -> int:
    """Index of the video frame showing `time_s` (frame t covers [t/fps, (t+1)/fps)), clamped."""
    if num_frames <= 0:
        return 0
    return int(min(max(int(np.floor(time_s * fps + 1e-9)), 0), num_frames - 1))


def audio_window_at(features: np.ndarray | None, t: int, window: int, idle: np.ndarray) -> np.ndarray:
    """[2W+1, D] window of `features` [T,D] around frame t (edge-padded); idle [D] repeated if None."""
    if features is None or len(features) == 0:
        return np.repeat(np.asarray(idle, np.float32)[None], 2 * window + 1, axis=0)
    idx = np.clip(np.arange(t - window, t + window + 1), 0, len(features) - 1)
    return np.asarray(features[idx], dtype=np.float32)


def source_frame(state: ViewerState, source: DriveSource, t: int) -> int:
    """The source frame giving head pose / plate / AUs at video frame t for the state's pose mode."""
    if state.pose == "frames":
        return pingpong(t, len(source))
    return min(state.fixed_frame, len(source) - 1)


def view_conditions(state: ViewerState, source: DriveSource, audio_window: np.ndarray,
                    t: int = 0, with_emotion: bool = True) -> FrameConditions:
    """FrameConditions of one viewer frame (video frame index t selects the pose in "frames" mode)."""
    state.validate()
    src = source_frame(state, source, t)
    w2c = source.w2c[src]
    if state.pose == "sliders":
        w2c = rotate_about(w2c, source.center, state.yaw_deg, state.pitch_deg)
    aus = torch.from_numpy(np.array(source.aus[src], dtype=np.float32))
    if state.blink is not None and source.blink_index is not None:
        aus[source.blink_index] = float(state.blink)
    va = torch.from_numpy(state.va()) if (state.emotion and with_emotion) else None
    return FrameConditions(w2c=w2c.float(), K=source.K.float(), audio=torch.from_numpy(audio_window),
                           aus=aus, va=va, background=source.background(src))


def render_view(avatar, state: ViewerState, audio_features: np.ndarray | None,
                source: DriveSource | None = None, audio_window: np.ndarray | None = None) -> np.ndarray:
    """Render the frame the viewer shows for `state`. Returns uint8 [R,R,3], R = state.resolution.

    avatar: emogs.avatar.Avatar; audio_features: [T,D] of the loaded audio or None;
    source: poses / AUs / plates (default: `DriveSource.frontal(avatar)`);
    audio_window: [2W+1,D] overrides `audio_features` (live audio).
    """
    state.validate()
    cfg = avatar.config
    source = source if source is not None else DriveSource.frontal(avatar)
    W = int(cfg.audio_window)
    t = frame_at(state.time_s, source.fps, len(audio_features) if audio_features is not None else 1 << 30)
    if audio_window is None:
        audio_window = audio_window_at(audio_features, t, W, source.idle_audio)
    audio_window = np.asarray(audio_window, dtype=np.float32)
    if audio_window.shape != (2 * W + 1, cfg.audio_dim):
        raise ValueError(f"audio window has shape {audio_window.shape}, the avatar expects "
                         f"({2 * W + 1}, {cfg.audio_dim}); extract features with the avatar's extractor "
                         f"({cfg.audio_extractor or 'see avatar.json'}).")
    if len(source.aus_names) != len(cfg.aus_names):
        raise ValueError(f"the drive source has AUs {source.aus_names} but the avatar was trained with "
                         f"{cfg.aus_names}; use the avatar's own dataset.")
    cond = view_conditions(state, source, audio_window, t, with_emotion=avatar.emotion_net is not None)
    R = int(state.resolution)
    with torch.no_grad():
        rgb = avatar.render_frame(cond, R, R, image_size=source.size)["rgb"]
    return (rgb.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def pick_resolution(avatar, source: DriveSource, min_fps: float = 25.0, sizes: tuple[int, ...] = (512, 256),
                    frames: int = 4) -> tuple[int, dict[int, float]]:
    """The largest of `sizes` (at most the source's size) this machine renders at >= `min_fps`:
    the median of `frames` renders after one warm-up, measured at start-up. Falls back to the
    smallest candidate. Returns (size, {size: measured FPS})."""
    import time

    cands = sorted({min(int(s), source.size) for s in sizes}, reverse=True)
    measured: dict[int, float] = {}
    for size in cands[:-1]:
        st = ViewerState(resolution=size)
        times = []
        for k in range(frames + 1):
            t0 = time.perf_counter()
            render_view(avatar, st.replace(time_s=k / source.fps), None, source)
            times.append(time.perf_counter() - t0)
        measured[size] = 1.0 / max(float(np.median(times[1:])), 1e-6)
        if measured[size] >= min_fps:
            return size, measured
    return cands[-1], measured
