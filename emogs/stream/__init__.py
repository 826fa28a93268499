"""Live audio driving: audio chunks -> per-frame [2W+1, D] feature windows with bounded latency.

window  FeatureWindowBuffer (the +-W frame window as the only look-ahead)
live    LiveAudioFeatures, StreamConfig, StreamFrame, latency_bound_s, LatestFrame
sources pcm_chunks (a WAV as real-time chunks), PcmSocketSource (raw PCM over TCP, loopback)
"""

from .live import LatestFrame, LiveAudioFeatures, StreamConfig, StreamFrame, latency_bound_s
from .sources import PcmSocketSource, pcm_chunks
from .window import FeatureWindowBuffer

__all__ = [
    "FeatureWindowBuffer",
    "LatestFrame",
    "LiveAudioFeatures",
    "PcmSocketSource",
    "StreamConfig",
    "StreamFrame",
    "latency_bound_s",
    "pcm_chunks",
]
