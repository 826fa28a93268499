"""Phone timings against the waveform, visemes and co-articulation (demo_actor.visemes)."""

import shutil

import numpy as np
import pytest

from demo_actor.visemes import VISEME_ID, VISEMES, mouth_tracks, phone_to_viseme
from emogs.audio import tts as sp

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _energy(audio, sr, t0, t1):
    a, b = int(t0 * sr), int(t1 * sr)
    return float(np.sqrt(np.mean(audio[a:b] ** 2))) if b > a else 0.0


@needs_espeak
def test_phone_timings_match_the_waveform():
    """Vowel segments carry far more energy than the pauses espeak reports."""
    s = sp.synthesize("Hello. Hello again.", voice="en-us", rate=150)
    pauses = [p for p in s.phones if p.name == "_" and p.end - p.start > 0.05]
    vowels = [p for p in s.phones if phone_to_viseme(p.name) in ("aa", "E", "oh", "ih", "ou")]
    assert pauses and vowels
    e_pause = np.mean([_energy(s.audio, s.sample_rate, p.start + 0.01, p.end - 0.01) for p in pauses])
    e_vowel = np.mean([_energy(s.audio, s.sample_rate, p.start, p.end) for p in vowels])
    assert e_vowel > 10 * e_pause


def test_viseme_mapping():
    assert len(VISEMES) == 15
    assert phone_to_viseme("p") == phone_to_viseme("m") == "PP"
    assert phone_to_viseme("aI@") == "aa" and phone_to_viseme("oU") == "oh" and phone_to_viseme("u:") == "ou"
    assert phone_to_viseme("'a#") == "aa"  # stress marks are ignored
    assert phone_to_viseme("B", "arpabet") == "PP" and phone_to_viseme("AA1", "arpabet") == "aa"
    with pytest.raises(ValueError, match="alphabet"):
        phone_to_viseme("a", "klingon")


def test_coarticulation_closes_for_bilabials_and_opens_for_vowels():
    P = sp.Phone
    phones = [P("_", 0, 0.3), P("m", 0.3, 0.38), P("A:", 0.38, 0.6), P("p", 0.6, 0.66), P("A:", 0.66, 0.9),
              P("_", 0.9, 1.3)]
    t = np.arange(0, 1.3, 0.005)
    tr = mouth_tracks(phones, t, anticipation=0.0)
    at = lambda x: tr.open[np.argmin(np.abs(t - x))]  # noqa: E731
    assert at(0.34) < 0.15 and at(0.63) < 0.2  # lips (nearly) close on m and p
    assert at(0.49) > 0.6 and at(0.78) > 0.6  # open on the vowels
    assert at(1.25) < 0.1  # rest
    assert np.abs(np.diff(tr.open)).max() < 0.15  # smooth at 200 Hz (a bilabial release is fast: ~30 ms)
    assert tr.viseme[np.argmin(np.abs(t - 0.49))] == VISEME_ID["aa"]
