"""espeak-ng's C library through ctypes: one utterance -> int16 PCM + phoneme start samples.

Kept free of package imports (only numpy) because :func:`emogs.audio.tts.synthesize`
runs it as a script in a fresh process for every utterance (libespeak-ng keeps state between
calls, which makes repeated in-process synthesis drift by a few samples).

    python _espeak_native.py '{"text": ..., "voice": ..., "rate": ..., "pitch": ..., "out": "x.npz"}'
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

import numpy as np


class EspeakNotAvailable(RuntimeError):
    pass


_EV_LIST_TERMINATED = 0
_EV_PHONEME = 7
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH = 1, 3


class _EspeakEvent(ctypes.Structure):
    # espeak_EVENT from speak_lib.h; the id union is 8 bytes (char string[8] for phoneme events)
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)
_lock = threading.Lock()
_state: dict = {}


def _espeak():
    """Load and initialise libespeak-ng once per process; returns (lib, native sample rate)."""
    if "lib" in _state:
        return _state["lib"], _state["sr"]
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as err:
        raise EspeakNotAvailable(
            f"espeak-ng's library ({name}) is not installed ({err}). Install it with "
            "`sudo apt-get install espeak-ng` (or `make sysdeps`), or pass a recorded WAV with --wav."
        ) from err
    sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS)
    if sr <= 0:
        raise EspeakNotAvailable(f"espeak_Initialize failed (returned {sr}); is espeak-ng-data installed?")
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.c_void_p, ctypes.c_void_p,
    ]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    _state.update(lib=lib, sr=sr)
    return lib, sr


def worker_main(arg_json: str) -> None:
    """Helper-process entry: synthesise once with libespeak-ng and save pcm + phoneme events."""
    import json

    a = json.loads(arg_json)
    pcm, sr, events = _synth_native(a["text"], a["voice"], a["rate"], a["pitch"])
    np.savez(a["out"], pcm=pcm, sr=sr, ev_sample=np.array([e[0] for e in events], np.int64),
             ev_name=np.array([e[1] for e in events] or [""])[: len(events)])


def _synth_native(text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int, list]:
    """In-process synthesis: (int16 pcm at espeak's rate, that rate, [(start sample, phoneme)])."""
    lib, sr = _espeak()
    chunks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []

    def callback(wav, n, ev):
        if n > 0 and wav:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev[i].type != _EV_LIST_TERMINATED:
            if ev[i].type == _EV_PHONEME:
                events.append((int(ev[i].sample), ev[i].id.decode("ascii", "replace")))
            i += 1
        return 0

    cb = _CALLBACK(callback)
    data = text.encode("utf-8")
    with _lock:
        lib.espeak_SetSynthCallback(cb)
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}; list them with `espeak-ng --voices=en`.")
        lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        err = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
    if err != 0 or not chunks:
        raise RuntimeError(f"espeak-ng failed to synthesise {text[:40]!r} (error {err}).")
    return np.concatenate(chunks), sr, events



if __name__ == "__main__":
    worker_main(sys.argv[1])
