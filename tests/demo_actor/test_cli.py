"""tools/make_demo_video.py end to end at a small size (text input, and WAV input via pocketsphinx)."""

import importlib.util
import os
import shutil

import numpy as np
import pytest

from demo_actor.truth import load_truth

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def _tool():
    spec = importlib.util.spec_from_file_location("make_demo_video", os.path.join(ROOT, "tools",
                                                                                  "make_demo_video.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_text_and_wav(tmp_path):
    tool = _tool()
    out = str(tmp_path)
    args = ["--text", "Good morning, how are you today?", "--out", out, "--name", "a", "--size", "128"]
    assert tool.main(args + ["--emotion", "0,1,0.5,0.5"]) == 0
    for f in ("a.mp4", "a_truth.npz", "a_truth.json", "a.wav", "a_sheet.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    tr = load_truth(os.path.join(out, "a_truth.npz"))
    assert str(tr["phone_alphabet"]) == "espeak" and tr["valence_arousal"][:, 0].max() == pytest.approx(0.5)
    if importlib.util.find_spec("pocketsphinx") is None:
        pytest.skip("pocketsphinx not installed")
    assert tool.main(["--wav", os.path.join(out, "a.wav"), "--out", out, "--name", "b", "--size", "128",
                      "--no-sheet"]) == 0
    tb = load_truth(os.path.join(out, "b_truth.npz"))
    assert str(tb["phone_alphabet"]) == "arpabet" and len(tb["landmarks"]) == len(tr["landmarks"])
    # aligned phones drive the mouth like the synthesiser's own timings do
    r = np.corrcoef(tb["mouth_open"], tr["mouth_open"])[0, 1]  # (the gap also holds a's smile)
    print("mouth gap r (pocketsphinx vs espeak timings):", r)
    assert r > 0.5, r


def test_cli_errors(tmp_path):
    tool = _tool()
    with pytest.raises(SystemExit):
        tool.main(["--text", "hi"])  # no --out
    with pytest.raises(ValueError, match="photo"):
        tool.main(["--text", "hi", "--out", str(tmp_path), "--photo", str(tmp_path / "nope.jpg")])
    blank = np.full((200, 200, 3), 128, np.uint8)
    import cv2

    cv2.imwrite(str(tmp_path / "blank.png"), blank)
    with pytest.raises(ValueError, match="no face"):
        tool.main(["--text", "hi", "--out", str(tmp_path), "--photo", str(tmp_path / "blank.png")])
