import shutil

import numpy as np
import pytest

from emogs.data.tts_bank import TTSBank
from preprocess.tts_audio import TTS_VOICES, synthesize_tts_bank

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@needs_espeak
def test_tts_bank_is_frame_aligned_speech():
    voices = (TTS_VOICES[0], TTS_VOICES[2])
    audio, feats, seg = synthesize_tts_bank(25.0, "logmel", sentences=("Open the window, please.",),
                                            voices=voices)
    assert seg.shape == (2, 2) and seg[0, 0] == 0 and seg[1, 0] == seg[0, 1]  # utterances back to back
    assert len(feats) == seg[:, 1].sum() and feats.shape[1] == 80
    assert len(audio) == 640 * len(feats)  # frame k plays samples 640 k .. 640 (k + 1)
    loud = [np.abs(audio[640 * a:640 * (a + n)]).max() for a, n in seg]
    assert min(loud) > 0.05  # both utterances hold speech
    assert seg[0, 1] != seg[1, 1]  # another voice, another length


def test_tts_bank_windows_stay_inside_one_utterance():
    feats = np.arange(10, dtype=np.float32)[:, None].repeat(2, 1)
    bank = TTSBank(feats, np.array([[0, 4], [4, 6]]), np.zeros(6400, np.float32))
    assert list(bank.window_starts(5)) == [4, 5]  # the 4-frame utterance holds no 5-frame window
    assert bank.audio_window(4, 2)[:, 0].tolist() == [4, 4, 4, 5, 6]  # clamped to its own utterance
    assert bank.audio_window(3, 1)[:, 0].tolist() == [2, 3, 3]
