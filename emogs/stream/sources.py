"""Where live audio comes from: a file played as real-time chunks, or raw PCM over a TCP socket.

A microphone is one pipe away: `arecord -f S16_LE -r 16000 -c 1 -t raw | nc 127.0.0.1 PORT`
(or `ffmpeg -i speech.wav -f s16le -ac 1 -ar 16000 tcp://127.0.0.1:PORT`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import numpy as np

SAMPLE_RATE = 16000


def pcm_chunks(wav: np.ndarray, chunk_s: float = 0.02, realtime: bool = False,
               clock=time.monotonic, sleep=time.sleep) -> Iterator[np.ndarray]:
    """Split float32 [N] audio into chunks of `chunk_s` seconds; with `realtime`, each chunk is
    yielded when it would have been fully recorded (as a microphone delivers it)."""
    n = max(1, int(round(chunk_s * SAMPLE_RATE)))
    t0 = clock()
    for s in range(0, len(wav), n):
        if realtime:
            wait = t0 + min(s + n, len(wav)) / SAMPLE_RATE - clock()
            if wait > 0:
                sleep(wait)
        yield wav[s : s + n]


class PcmSocketSource:
    """A TCP listener for one client sending raw 16 kHz mono PCM (`dtype` "int16" little-endian or
    "float32"). Binds to loopback by default; `port=0` picks a free port (see `.port`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, dtype: str = "int16"):
        if dtype not in ("int16", "float32"):
            raise ValueError(f"PCM dtype must be 'int16' or 'float32', got {dtype!r}.")
        self.dtype = np.dtype("<i2" if dtype == "int16" else "<f4")
        self._srv = socket.create_server((host, port))
        self.host, self.port = self._srv.getsockname()[:2]

    def chunks(self, accept_timeout_s: float = 60.0, read_timeout_s: float = 5.0,
               chunk_samples: int = 320) -> Iterator[np.ndarray]:
        """Wait up to `accept_timeout_s` for a client, then yield float32 chunks (<= chunk_samples)
        until it disconnects or sends nothing for `read_timeout_s` (both bound the loop)."""
        self._srv.settimeout(accept_timeout_s)
        try:
            conn, _ = self._srv.accept()
        except TimeoutError as err:
            raise TimeoutError(f"no audio client connected to {self.host}:{self.port} within "
                               f"{accept_timeout_s} s; send raw 16 kHz mono PCM to that port.") from err
        item = self.dtype.itemsize
        rest = b""
        with conn:
            conn.settimeout(read_timeout_s)
            while True:
                try:
                    data = conn.recv(chunk_samples * item)
                except TimeoutError:
                    return
                if not data:
                    return
                data = rest + data
                usable = len(data) - len(data) % item
                rest = data[usable:]
                x = np.frombuffer(data[:usable], dtype=self.dtype)
                yield (x.astype(np.float32) / 32768.0) if self.dtype.kind == "i" else x.astype(np.float32)

    def close(self) -> None:
        self._srv.close()

    def __enter__(self) -> PcmSocketSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
