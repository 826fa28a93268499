"""TTS speech for L_sync: audio the person never spoke, with no video (method, stage 2: "L_sync uses
the real audio and TTS-synthesised audio, which makes lips robust to unseen voices").

espeak-ng (emogs.audio.tts) speaks `TTS_SENTENCES` in `TTS_VOICES`; each utterance is
featurised with the dataset's own audio extractor at the dataset's fps and stored as

    tts/audio.wav      int16 16 kHz, the utterances one after another (utterance i starts at
                       sample 640 * segments[i, 0] at 25 fps: frame-aligned, silence-padded)
    tts/features.npy   float32 [N, D]: per-frame features of all utterances, in the same order
    tts/segments.npy   int64 [S, 2]: (first frame, number of frames) of each utterance

The voices and sentences are not those of the bundled demo's held-out speech (tools/make_demo_video.py),
so the demo's held-out measures stay unseen - but they share its synthesiser.
"""

from __future__ import annotations

import numpy as np

TTS_SENTENCES = (
    "Bring the map, the rope, and two warm jackets before we climb.",
    "Why would anybody paint the garage door bright orange?",
    "Seven thirsty wolves waited quietly beside the frozen river.",
    "My cousin fixes old bicycles every Thursday evening.",
    "Please check the oven, I think the pizza is burning!",
    "Huge waves crashed over the pier, and the gulls flew up.",
    "The youth choir sang a cheerful song about the moon.",
    "Ship the package by Monday, or the shop will charge extra.",
)
TTS_VOICES = (
    {"voice": "en-us+m3", "rate": 165, "pitch": 45},
    {"voice": "en-gb-scotland", "rate": 145, "pitch": 60},
    {"voice": "en-us+m7", "rate": 185, "pitch": 38},
)
SAMPLE_RATE = 16000


def synthesize_tts_bank(fps: float, extractor: str, sentences=TTS_SENTENCES, voices=TTS_VOICES,
                        progress=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (audio float32 [M] 16 kHz, features float32 [N, D], segments int64 [S, 2]).

    Raises RuntimeError (espeak-ng missing or failing) with the synthesiser's message."""
    from emogs.audio.features import extract_audio_features
    from emogs.audio.tts import synthesize

    per_frame = SAMPLE_RATE / float(fps)
    audio, feats, segments, start = [], [], [], 0
    for voice in voices:
        for text in sentences:
            wav = synthesize(text, **voice).audio.astype(np.float32)
            n = int(np.ceil(len(wav) / per_frame))
            padded = np.zeros(int(round(n * per_frame)), np.float32)
            padded[:len(wav)] = wav
            f, _ = extract_audio_features(padded, n, fps, extractor)
            audio.append(padded)
            feats.append(f.astype(np.float32))
            segments.append((start, n))
            start += n
            if progress is not None:
                progress(1)
    return np.concatenate(audio), np.concatenate(feats), np.asarray(segments, np.int64)

