"""The bundled demo clips (``assets/demo/``): fixed sentences, voices, poses and seeds.

``make_bundle(out)`` writes (deterministic):

- ``demo``: the training clip, astronaut, neutral (no emotion segment), yaw within +-14 deg,
  pitch within +-7 deg;
- ``heldout``: other sentences and voice, the same actor, *wider* poses (yaw +-20, pitch +-10:
  poses the training clip does not contain), plus ``heldout.wav``;
- ``hopper``: a second identity (matplotlib's Grace Hopper portrait), other sentences, used by
  the tests so nothing is tuned to one face;
- contact sheets ``NAME_sheet.jpg`` (frames across the clip, with the truth contours) and
  ``NAME_visemes.jpg`` (a mouth close-up per viseme).
"""

from __future__ import annotations

import os

from emogs.audio.tts import concatenate, synthesize

from .actor import ActorConfig, load_portrait, make_clip
from .sheet import contact_sheet, mouth_sheet, pick_frames, viseme_frames
from .truth import load_truth, truth_statistics
from .video import read_frames

DEMO_SENTENCES = [
    "Hello, my name is Eileen, and I am an astronaut.",
    "I flew the space shuttle around the Earth many times, and every sunrise looked different.",
    "People often ask me what it feels like to float without any weight at all.",
    "Oh, it's wonderful! You push a finger against the wall, and you glide across the cabin.",
    "But there is also a lot of hard work: checklists, experiments, and very careful planning.",
    "We sleep in small bags tied to the wall, and we eat food from pouches with a spoon.",
    "Sometimes I miss fresh bread, a warm bath, and the sound of rain on the roof.",
    "Still, looking back at our blue planet is a view I will never forget.",
    "Thank you very much for listening, and goodbye.",
]
DEMO_VOICE = {"voice": "en-us+f3", "rate": 150, "pitch": 55}

HELDOUT_SENTENCES = [
    "Quick brown foxes jump over lazy dogs while the judge watches.",
    "Would you please bring me a cup of coffee before the meeting starts?",
    "Five bright violet balloons floated away above the old museum.",
    "She sells sea shells by the sea shore, or so they say.",
]
HELDOUT_VOICE = {"voice": "en-us+f4", "rate": 172, "pitch": 42}

SECOND_SENTENCES = [
    "My name is Grace, and I wrote some of the very first compilers.",
    "A ship in port is safe, but that is not what ships are built for.",
    "Maybe we should measure everything twice, and build it only once.",
]
SECOND_VOICE = {"voice": "en-us+f2", "rate": 160, "pitch": 38}

GAP_S = 0.45  # silence between sentences


def speak(sentences: list[str], voice: dict, gap: float = GAP_S):
    """espeak-ng speech of the sentences, joined with ``gap`` s of silence -> (Speech, parts)."""
    parts = [synthesize(t, **voice) for t in sentences]
    return concatenate(parts, gap=gap), parts


def write_sheets(out: str, name: str, ext: str = "jpg") -> dict:
    """``NAME_sheet.EXT`` (frames across the clip) and ``NAME_visemes.EXT`` (mouth per viseme);
    decodes only the frames it shows. Returns the truth statistics."""
    truth = load_truth(os.path.join(out, f"{name}_truth.npz"))
    picks = pick_frames(truth, 10)
    vis = viseme_frames(truth)
    frames = read_frames(os.path.join(out, f"{name}.mp4"), set(picks) | set(vis.values()))
    contact_sheet({k: frames[k] for k in picks}, truth, os.path.join(out, f"{name}_sheet.{ext}"), tile=192)
    mouth_sheet({v: (k, frames[k]) for v, k in vis.items()}, truth,
                os.path.join(out, f"{name}_visemes.{ext}"))
    return truth_statistics(truth)


def make_bundle(out: str, seed: int = 0, crf: int = 26, progress: bool = True) -> dict:
    """Regenerate the bundled clips in ``out`` (deterministic for a given seed). Returns
    {name: truth statistics}."""
    os.makedirs(out, exist_ok=True)
    stats = {}
    astronaut = load_portrait("astronaut", 512)
    speech, _ = speak(DEMO_SENTENCES, DEMO_VOICE)
    make_clip(speech, out, "demo", ActorConfig(seed=seed, crf=crf), astronaut, progress=progress)
    held, _ = speak(HELDOUT_SENTENCES, HELDOUT_VOICE)
    cfg = ActorConfig(seed=seed + 1, crf=crf, yaw_max_deg=20.0, pitch_max_deg=10.0)
    make_clip(held, out, "heldout", cfg, astronaut, write_audio_wav=True, progress=progress)
    second, _ = speak(SECOND_SENTENCES, SECOND_VOICE)
    cfg = ActorConfig(seed=seed + 2, crf=crf, yaw_max_deg=18.0, pitch_max_deg=9.0)
    make_clip(second, out, "hopper", cfg, load_portrait("hopper", 512), progress=progress)
    for name in ("demo", "heldout", "hopper"):
        stats[name] = write_sheets(out, name)
    return stats
