"""Speech for the demo actor: synthesis with phoneme timings, and alignment of a given WAV.

Timings come from the synthesiser itself: espeak-ng's C library (``libespeak-ng.so.1``, called
through ctypes) reports a *phoneme event* with the exact output sample at which it starts
synthesising each phoneme (``espeakINITIALIZE_PHONEME_EVENTS``). These are not estimates:
they are the boundaries espeak-ng used to build the waveform. (The ``--pho`` command-line
output only exists for mbrola voices, which are not installed.)

For a user-supplied WAV (``--wav``), :func:`align_wav` uses pocketsphinx's allphone decoder
(``pocketsphinx==5.1.1``, optional) and returns ARPAbet phones with frame (10 ms) times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ._espeak_native import EspeakNotAvailable

SAMPLE_RATE = 16000  # everything downstream (muxed AAC, truth sample ranges) uses 16 kHz


@dataclass(frozen=True)
class Phone:
    """One phoneme of the timeline: ``name`` in the alphabet of ``Speech.alphabet``; times in seconds."""

    name: str
    start: float
    end: float


@dataclass
class Speech:
    """Mono speech at ``sample_rate`` with its phoneme timeline.

    audio: float32 [N] in [-1, 1]. phones: contiguous, sorted, covering [0, N / sample_rate].
    alphabet: "espeak" (espeak-ng ASCII mnemonics) or "arpabet" (pocketsphinx / CMU).
    """

    audio: np.ndarray
    sample_rate: int
    phones: list[Phone]
    alphabet: str
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def synthesize(text: str, voice: str = "en-us+m3", rate: int = 160, pitch: int = 50) -> Speech:
    """Speak ``text`` with espeak-ng; return 16 kHz audio and the synthesiser's own phoneme timeline.

    voice: an espeak-ng voice name (``en-us``, ``en-us+f3``, ...); rate: words per minute (80..450);
    pitch: 0..99. Deterministic for a given (text, voice, rate, pitch): libespeak-ng keeps internal
    state between utterances (its output drifts by a few samples from call to call), so every
    utterance is synthesised in a fresh helper process.
    """
    if not text or not text.strip():
        raise ValueError("synthesize() got empty text; pass the sentence(s) to speak.")
    import json
    import subprocess
    import sys
    import tempfile

    from scipy.signal import resample_poly

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_espeak_native.py")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "speech.npz")
        args = json.dumps({"text": text, "voice": voice, "rate": int(rate), "pitch": int(pitch), "out": out})
        proc = subprocess.run([sys.executable, script, args], capture_output=True, text=True)
        if proc.returncode != 0:
            msg = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            if "EspeakNotAvailable" in proc.stderr:
                raise EspeakNotAvailable(msg)
            if "no voice" in proc.stderr:
                raise ValueError(msg.split(": ", 1)[-1])
            raise RuntimeError(f"espeak-ng synthesis failed: {msg}")
        with np.load(out) as z:
            native, sr = z["pcm"], int(z["sr"])
            events = list(zip(z["ev_sample"].tolist(), z["ev_name"].tolist()))
    native = native.astype(np.float32) / 32768.0
    audio = resample_poly(native, SAMPLE_RATE, sr).astype(np.float32)
    phones = _events_to_phones(events, len(native), sr)
    return Speech(audio=np.clip(audio, -1, 1), sample_rate=SAMPLE_RATE, phones=phones, alphabet="espeak",
                  source=f"espeak-ng voice={voice} rate={rate} pitch={pitch}",
                  meta={"text": text, "voice": voice, "rate": rate, "pitch": pitch})


def _events_to_phones(events: list[tuple[int, str]], n_samples: int, sr: int) -> list[Phone]:
    """Phoneme start samples -> contiguous [start, end) phones in seconds (pauses named "_")."""
    phones: list[Phone] = []
    starts = [(s, n) for s, n in events if s <= n_samples]
    t_prev, name_prev = 0.0, "_"
    for s, name in starts:
        if name.strip() in (";", ":"):  # modifiers (palatalisation, length) extend the current phone
            continue
        t = s / sr
        if t > t_prev:
            phones.append(Phone(name_prev, t_prev, t))
            t_prev = t
        name_prev = name.strip() or "_"
    end = n_samples / sr
    if end > t_prev:
        phones.append(Phone(name_prev, t_prev, end))
    return _merge_pauses(phones)


def _merge_pauses(phones: list[Phone]) -> list[Phone]:
    out: list[Phone] = []
    for p in phones:
        name = "_" if p.name.startswith("_") else p.name
        if out and name == "_" and out[-1].name == "_":
            out[-1] = Phone("_", out[-1].start, p.end)
        else:
            out.append(Phone(name, p.start, p.end))
    return out


def concatenate(parts: list[Speech], gap: float = 0.35) -> Speech:
    """Join utterances with ``gap`` seconds of silence between them (timelines shifted)."""
    if not parts:
        raise ValueError("concatenate() needs at least one Speech.")
    sr = parts[0].sample_rate
    audio, phones, t0 = [], [], 0.0
    for i, p in enumerate(parts):
        if p.sample_rate != sr or p.alphabet != parts[0].alphabet:
            raise ValueError("concatenate(): all parts need the same sample rate and phone alphabet.")
        if i > 0 and gap > 0:
            n = int(round(gap * sr))
            audio.append(np.zeros(n, np.float32))
            phones.append(Phone("_", t0, t0 + n / sr))
            t0 += n / sr
        audio.append(p.audio)
        phones.extend(Phone(q.name, q.start + t0, q.end + t0) for q in p.phones)
        t0 += len(p.audio) / sr
    return Speech(np.concatenate(audio), sr, _merge_pauses(phones), parts[0].alphabet,
                  source="; ".join(p.source for p in parts), meta={"parts": [p.meta for p in parts]})


# --------------------------------------------------------------------------- WAV input

def load_wav(path: str) -> tuple[np.ndarray, int]:
    """Read a WAV (any PCM width, mono or stereo) -> (float32 mono [N], sample rate)."""
    from scipy.io import wavfile

    try:
        sr, data = wavfile.read(path)
    except (FileNotFoundError, ValueError) as err:
        raise ValueError(f"cannot read WAV {path!r} ({err}); pass a PCM .wav file.") from err
    data = np.asarray(data)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(np.asarray(data).dtype).max + 1)
    return data.astype(np.float32), int(sr)


def resample(audio: np.ndarray, sr_in: int, sr_out: int = SAMPLE_RATE) -> np.ndarray:
    if sr_in == sr_out:
        return audio.astype(np.float32)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sr_in, sr_out)
    return resample_poly(audio, sr_out // g, sr_in // g).astype(np.float32)


def write_wav(path: str, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write float audio in [-1, 1] as 16-bit PCM mono."""
    from scipy.io import wavfile

    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    wavfile.write(path, sample_rate, pcm)


def align_wav(path: str) -> Speech:
    """Phone timeline of recorded speech by pocketsphinx allphone decoding (ARPAbet, 10 ms frames).

    Needs ``pocketsphinx==5.1.1`` (ships its en-US acoustic model and phone LM). Timings are
    the decoder's segmentation, accurate to a frame or two; phone identities are
    recognised, not forced, so expect some substitutions (visemes are robust to most).
    """
    audio, sr = load_wav(path)
    audio = resample(audio, sr, SAMPLE_RATE)
    try:
        import pocketsphinx
    except ImportError as err:
        raise ImportError(
            "--wav needs pocketsphinx for phone alignment: `pip install pocketsphinx==5.1.1`."
        ) from err
    model = pocketsphinx.get_model_path()
    config = pocketsphinx.Config(
        hmm=os.path.join(model, "en-us", "en-us"),
        allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
        lw=2.0, beam=1e-20, pbeam=1e-20, samprate=SAMPLE_RATE, loglevel="FATAL",
    )
    dec = pocketsphinx.Decoder(config)
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    frate = 100.0
    phones: list[Phone] = []
    for seg in dec.seg():
        name = seg.word.upper()
        if name in ("SIL", "<S>", "</S>", "+NSN+", "+SPN+", "(NULL)"):
            name = "_"
        phones.append(Phone(name, seg.start_frame / frate, (seg.end_frame + 1) / frate))
    if not phones:
        raise RuntimeError(f"pocketsphinx found no speech in {path!r}.")
    dur = len(audio) / SAMPLE_RATE
    fixed, t = [], 0.0
    for p in phones:  # make the timeline contiguous over [0, dur]
        s, e = max(p.start, t), min(max(p.end, p.start), dur)
        if s > t:
            fixed.append(Phone("_", t, s))
        if e > s:
            fixed.append(Phone(p.name, s, e))
            t = e
    if t < dur:
        fixed.append(Phone("_", t, dur))
    return Speech(audio, SAMPLE_RATE, _merge_pauses(fixed), "arpabet",
                  source=f"pocketsphinx allphone: {path}")
