"""MFCCs as SyncNet's audio encoder was trained on them (the `python_speech_features` defaults).

SyncNet's published evaluation feeds `python_speech_features.mfcc(audio, 16000)` of the 16-bit
samples *as integers* (wavfile.read, not scaled to [-1, 1]): 13 coefficients at 100 Hz, frames of
25 ms every 10 ms, rectangular window, pre-emphasis 0.97, 26 mel filters over a 512-point FFT,
cepstral lifter 22, and the first coefficient replaced by the frame's log energy. `mfcc` below is
our implementation of that recipe; tests/lipsync/test_mfcc.py checks it against the package.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import dct

INT16_SCALE = 32768.0  # float audio in [-1, 1] -> the int16 sample values SyncNet's MFCCs were taken of


def hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(num_filters: int, nfft: int, sample_rate: int, low_hz: float = 0.0,
                   high_hz: float | None = None) -> np.ndarray:
    """Triangular filters [num_filters, nfft//2 + 1], evenly spaced on the mel scale, peaks of 1 at FFT
    bins floor((nfft + 1) * f / sample_rate)."""
    high_hz = sample_rate / 2 if high_hz is None else high_hz
    mels = np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), num_filters + 2)
    bins = np.floor((nfft + 1) * mel_to_hz(mels) / sample_rate).astype(np.int64)
    k = np.arange(nfft // 2 + 1)[None, :]
    left, centre, right = bins[:-2, None], bins[1:-1, None], bins[2:, None]
    rising = (k - left) / np.maximum(centre - left, 1)
    falling = (right - k) / np.maximum(right - centre, 1)
    up = np.where((k >= left) & (k < centre), rising, 0.0)
    return up + np.where((k >= centre) & (k < right), falling, 0.0)


def frame_signal(x: np.ndarray, frame_length: int, step: int) -> np.ndarray:
    """[N] -> [F, frame_length] frames every `step` samples; the end is zero-padded so that the last
    frame covers the last sample (F = 1 + ceil((N - frame_length) / step), at least 1)."""
    n = len(x)
    count = 1 if n <= frame_length else 1 + int(math.ceil((n - frame_length) / step))
    padded = np.zeros((count - 1) * step + frame_length)
    padded[:n] = x
    starts = np.arange(count)[:, None] * step
    return padded[starts + np.arange(frame_length)[None, :]]


def mfcc(signal: np.ndarray, sample_rate: int = 16000, num_ceps: int = 13, num_filters: int = 26,
         frame_seconds: float = 0.025, step_seconds: float = 0.01, nfft: int = 512,
         preemphasis: float = 0.97, lifter: int = 22) -> np.ndarray:
    """[N] samples (int16 *values*, see INT16_SCALE) -> float64 [F, num_ceps], F ~ N / (step * rate).

    Column 0 is the log frame energy (of the pre-emphasised signal), columns 1.. the liftered DCT-II
    (orthonormal) of the log mel energies."""
    x = np.asarray(signal, np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("mfcc: empty signal")
    x = np.concatenate([x[:1], x[1:] - preemphasis * x[:-1]])
    frames = frame_signal(x, int(round(frame_seconds * sample_rate)), int(round(step_seconds * sample_rate)))
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    tiny = np.finfo(np.float64).eps
    energy = power.sum(1)
    energy = np.where(energy == 0, tiny, energy)
    mel = power @ mel_filterbank(num_filters, nfft, sample_rate).T
    mel = np.where(mel == 0, tiny, mel)
    ceps = dct(np.log(mel), type=2, axis=1, norm="ortho")[:, :num_ceps]
    if lifter > 0:
        ceps *= 1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(num_ceps) / lifter)
    ceps[:, 0] = np.log(energy)
    return ceps
