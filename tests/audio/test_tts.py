"""Text-to-speech (emogs.audio.tts): espeak-ng synthesis, phone timelines, WAV alignment and reading."""

import shutil

import numpy as np
import pytest

from emogs.audio import tts as sp

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@needs_espeak
def test_synthesize_is_deterministic_and_timeline_is_contiguous():
    s1 = sp.synthesize("Peter picked a peck of pickled peppers.", voice="en-us+m3", rate=160)
    s2 = sp.synthesize("Peter picked a peck of pickled peppers.", voice="en-us+m3", rate=160)
    assert s1.sample_rate == 16000 and s1.alphabet == "espeak"
    np.testing.assert_array_equal(s1.audio, s2.audio)
    assert [p.name for p in s1.phones] == [p.name for p in s2.phones]
    assert s1.phones[0].start == 0.0 and s1.phones[-1].end == pytest.approx(s1.duration, abs=1e-3)
    for a, b in zip(s1.phones[:-1], s1.phones[1:]):
        assert a.end == pytest.approx(b.start) and b.end > b.start
    names = [p.name for p in s1.phones]
    assert names.count("p") >= 5  # five p's, each reported by the synthesiser


@needs_espeak
def test_bad_voice_and_empty_text_raise():
    with pytest.raises(ValueError, match="voice"):
        sp.synthesize("hi", voice="no-such-voice-xyz")
    with pytest.raises(ValueError, match="empty"):
        sp.synthesize("  ")


@needs_espeak
def test_align_wav_finds_the_speech(tmp_path):
    pytest.importorskip("pocketsphinx")
    s = sp.synthesize("Would you please bring me a cup of coffee?", voice="en-us+f3")
    path = str(tmp_path / "a.wav")
    sp.write_wav(path, np.concatenate([np.zeros(8000, np.float32), s.audio, np.zeros(8000, np.float32)]))
    a = sp.align_wav(path)
    assert a.alphabet == "arpabet"
    assert a.phones[0].start == 0 and a.phones[-1].end == pytest.approx(a.duration, abs=0.02)
    speech_phones = [p for p in a.phones if p.name != "_"]
    assert len(speech_phones) >= 8
    # the half second of silence on both sides is recognised as such
    assert speech_phones[0].start > 0.35 and speech_phones[-1].end < a.duration - 0.35


def test_load_wav_errors(tmp_path):
    with pytest.raises(ValueError, match="WAV"):
        sp.load_wav(str(tmp_path / "missing.wav"))
