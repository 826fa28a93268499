import numpy as np
import pytest
import python_speech_features

from emogs.lipsync.mfcc import mel_filterbank, mfcc


@pytest.mark.parametrize("n", [250, 400, 401, 16000, 16123])
def test_mfcc_matches_python_speech_features(n):
    """The exact recipe SyncNet's audio tower was trained on (same frames, filters, lifter, energy)."""
    rng = np.random.default_rng(n)
    x = np.round(rng.standard_normal(n) * 3000)  # int16-scaled samples, as wavfile.read gives them
    ref = python_speech_features.mfcc(x, 16000)
    ours = mfcc(x)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-9 * max(1.0, np.abs(ref).max())


def test_mfcc_of_silence_matches_and_is_finite():
    x = np.zeros(3200)
    assert np.isfinite(mfcc(x)).all()
    assert np.abs(mfcc(x) - python_speech_features.mfcc(x, 16000)).max() < 1e-9


def test_mel_filterbank_matches_and_peaks_at_one():
    ref = python_speech_features.get_filterbanks(26, 512, 16000)
    ours = mel_filterbank(26, 512, 16000)
    assert np.abs(ours - ref).max() < 1e-12
    assert np.allclose(ours.max(1), 1.0)


def test_mfcc_rejects_empty_signal():
    with pytest.raises(ValueError, match="empty"):
        mfcc(np.zeros(0))
