"""The interactive viewer: UI state, a pure render call, a frame pacer and the viser web UI.

state   ViewerState, with_preset, preset_names
source  DriveSource (poses / AUs / plates: from the dataset or a frontal camera), rotate_about
render  render_view(avatar, state, audio_features, source) -> uint8 [R,R,3]
loop    FramePacer, run_paced, LoopStats (target frame rate, drop rather than lag)
app     ViewerApp, ViewerConfig (viser GUI; imported lazily: needs `viser`)
"""

from .loop import FramePacer, LoopStats, run_paced
from .render import audio_window_at, frame_at, render_view, view_conditions
from .source import DriveSource, head_center, rotate_about
from .state import POSE_SOURCES, RESOLUTIONS, ViewerState, preset_names, with_preset

__all__ = [
    "POSE_SOURCES",
    "RESOLUTIONS",
    "DriveSource",
    "FramePacer",
    "LoopStats",
    "ViewerState",
    "audio_window_at",
    "frame_at",
    "head_center",
    "preset_names",
    "render_view",
    "rotate_about",
    "run_paced",
    "view_conditions",
    "with_preset",
]
