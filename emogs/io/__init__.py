"""Input / output: audio reading, video writing with audio muxing (PyAV), PLY export."""

from .audio import read_audio, write_wav
from .ply import export_ply, read_ply
from .video import iter_video_frames, read_video_frames, write_video

__all__ = ["export_ply", "iter_video_frames", "read_audio", "read_ply", "read_video_frames", "write_video",
           "write_wav"]
