"""The shared --emotion parser: every accepted form, and errors that name the problem."""

import argparse

import numpy as np
import pytest

from emogs.emotion import emotion_to_va
from emogs.emotion.cli_parse import emotion_arg, parse_emotion


@pytest.mark.parametrize("text,expect", [
    ("happy", emotion_to_va("happy:medium")),
    ("Happy:Strong", emotion_to_va("happy:strong")),
    ("happy:0.7", emotion_to_va("happy:0.7")),
    ("sad:mild", emotion_to_va("sad:mild")),
    ("neutral", np.zeros(2)),
    ("0.5,0.3", np.array([0.5, 0.3])),
    (" -0.2 , 0.9 ", np.array([-0.2, 0.9])),
])
def test_forms(text, expect):
    spec = parse_emotion(text)
    np.testing.assert_allclose(spec.va, expect, atol=1e-9)


def test_name_and_intensity_recorded():
    spec = parse_emotion("happy:strong")
    assert spec.name == "happy" and spec.intensity == pytest.approx(0.95)
    assert parse_emotion("0.1,0.2").name is None


@pytest.mark.parametrize("text,words", [
    ("happy:huge", ["intensity", "huge"]),
    ("happy:1.5", ["outside [0, 1]"]),
    ("elated", ["unknown emotion", "neutral"]),
    ("0.5", ["unknown emotion"]),
    ("2,0", ["outside [-1, 1]"]),
    ("a,b", ["valence,arousal"]),
    ("", ["empty"]),
])
def test_errors_name_the_problem(text, words):
    with pytest.raises(ValueError) as err:
        parse_emotion(text)
    for w in words:
        assert w in str(err.value)


def test_argparse_exit_2(capsys):
    p = argparse.ArgumentParser(prog="x")
    p.add_argument("--emotion", type=emotion_arg)
    assert p.parse_args(["--emotion", "happy:strong"]).emotion.name == "happy"
    with pytest.raises(SystemExit) as ex:
        p.parse_args(["--emotion", "happy:loud"])
    assert ex.value.code == 2
    assert "loud" in capsys.readouterr().err
