"""Decoding that survives damaged media: skip a packet FFmpeg cannot decode, count it, fail only when
too much is lost (as the ffmpeg command line does), and tell images and silence from video / speech.

Every reader of user media (preprocess's decoder, `read_audio`, `iter_video_frames`) decodes through
`decode_packets`, so one damaged packet costs one frame (held from the previous one by timestamp
picking) or a few milliseconds of audio (filled with zeros, keeping sync) instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

MAX_DAMAGED_FRACTION = 0.05  # fail when more than this fraction of a stream's packets is undecodable
# demuxers of single images (FFmpeg's image2 and its *_pipe probes)
IMAGE_FORMATS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe",
                 "jpegls_pipe", "pam_pipe", "ppm_pipe", "pgm_pipe", "qoi_pipe", "svg_pipe", "exr_pipe")
SILENCE_DBFS = -45.0  # loud part (95th percentile of 50 ms RMS) below this = no speech


class MediaError(UserError, ValueError):
    """A media file that cannot be used (unreadable, no such stream, empty, too damaged)."""


class DamagedMediaError(MediaError):
    """Too many packets of a stream could not be decoded."""


class MissingMediaError(UserError, FileNotFoundError):
    """A media file that does not exist."""


@dataclass
class DecodeStats:
    """Packets read and packets skipped as undecodable in one pass over one stream."""

    kind: str = "video"
    packets: int = 0
    damaged: int = 0

    @property
    def fraction(self) -> float:
        return self.damaged / max(self.packets, 1)

    def warning(self) -> str | None:
        """'skipped 1 damaged video packet of 83 (1.2 %)...' or None when nothing was lost."""
        if not self.damaged:
            return None
        lost = "the previous frame is held" if self.kind == "video" else "filled with silence"
        return (f"skipped {self.damaged} damaged {self.kind} packet{'s' * (self.damaged != 1)} of "
                f"{self.packets} ({100 * self.fraction:.1f} %; {lost})")

    def check(self, path, max_fraction: float = MAX_DAMAGED_FRACTION) -> None:
        """Raise DamagedMediaError when more than `max_fraction` of the packets were lost."""
        if self.packets and self.fraction > max_fraction:
            raise DamagedMediaError(
                f"{path}: {self.damaged} of {self.packets} {self.kind} packets are damaged "
                f"({100 * self.fraction:.0f} % > {100 * max_fraction:.0f} %)",
                "re-encode or re-export the file from its source (e.g. `ffmpeg -i in.mp4 -c:v libx264 "
                "-c:a aac out.mp4` keeps what is readable), or use an undamaged copy")


def decode_packets(container, stream, stats: DecodeStats | None = None, path="",
                   max_fraction: float = MAX_DAMAGED_FRACTION) -> Iterator:
    """Yield the decoded frames of `stream` (a PyAV stream of open `container`), skipping packets
    FFmpeg rejects; counts in `stats`. Raises DamagedMediaError at the end when too much was lost."""
    import av

    stats = stats if stats is not None else DecodeStats(stream.type)
    for packet in container.demux(stream):
        if packet.size:  # the final empty packet only flushes the decoder
            stats.packets += 1
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            stats.damaged += 1
            continue
        yield from frames
    stats.check(path, max_fraction)


def is_image_container(container) -> bool:
    """True when PyAV opened a still image (PNG, JPEG, ...) rather than a video."""
    names = set(str(container.format.name).split(","))
    return bool(names & set(IMAGE_FORMATS))


def loudness_dbfs(wav: np.ndarray, sample_rate: int, window_s: float = 0.05) -> float:
    """The loud part of a mono signal [N] in dBFS: the 95th percentile of its RMS in `window_s`
    windows (-inf for silence / an empty signal). Speech at a normal level gives about -25..-10."""
    w = max(1, int(window_s * sample_rate))
    n = len(wav) // w
    if n == 0:
        return float("-inf")
    rms = np.sqrt(np.mean(np.square(np.asarray(wav[: n * w], np.float64).reshape(n, w)), axis=1))
    loud = float(np.percentile(rms, 95))
    return 20.0 * np.log10(loud) if loud > 0 else float("-inf")
