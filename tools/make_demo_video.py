#!/usr/bin/env python
"""Make a talking-portrait clip with exact ground truth (the bundled demo actor).

Examples:
  python tools/make_demo_video.py --text "Hello there." --text "How are you?" --out /tmp/clip
  python tools/make_demo_video.py --wav speech.wav --photo me.jpg --out /tmp/clip
  python tools/make_demo_video.py --bundle            # regenerate assets/demo/ (deterministic)

Writes OUT/NAME.mp4 (H.264 + AAC), OUT/NAME_truth.npz, OUT/NAME_truth.json, OUT/NAME_sheet.png.
"""

from __future__ import annotations

import argparse
import os
import sys

from demo_actor.actor import ActorConfig, load_portrait, make_clip
from demo_actor.life import EmotionSegment
from emogs.audio.tts import align_wav, concatenate, synthesize, write_wav

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "demo")

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
# (sentence index, valence, arousal): emotion held over that sentence
DEMO_EMOTIONS = [(3, 0.7, 0.6), (6, -0.5, -0.3), (7, 0.4, 0.3)]

HELDOUT_SENTENCES = [
    "Quick brown foxes jump over lazy dogs while the judge watches.",
    "Would you please bring me a cup of coffee before the meeting starts?",
    "Five bright violet balloons floated away above the old museum.",
    "She sells sea shells by the sea shore, or so they say.",
]
HELDOUT_VOICE = {"voice": "en-us+f4", "rate": 172, "pitch": 42}


def _speak(sentences: list[str], voice: dict, gap: float):
    parts = [synthesize(t, **voice) for t in sentences]
    return concatenate(parts, gap=gap), parts


def _sentence_windows(parts, gap: float) -> list[tuple[float, float]]:
    out, t = [], 0.0
    for i, p in enumerate(parts):
        if i:
            t += gap
        out.append((t, t + p.duration))
        t += p.duration
    return out


def _sheet(out: str, name: str, ext: str = "png") -> None:
    from demo_actor.sheet import contact_sheet, pick_frames
    from demo_actor.truth import load_truth
    from demo_actor.video import read_clip

    truth = load_truth(os.path.join(out, f"{name}_truth.npz"))
    frames, _, _, _ = read_clip(os.path.join(out, f"{name}.mp4"))
    picks = pick_frames(truth, 8)
    contact_sheet({k: frames[k] for k in picks}, truth, os.path.join(out, f"{name}_sheet.{ext}"), tile=192)


def bundle(out: str, seed: int = 0, crf: int = 26) -> None:
    """Regenerate the bundled demo + held-out clips (deterministic for a given seed)."""
    os.makedirs(out, exist_ok=True)
    gap = 0.45
    portrait = load_portrait(None, 512)
    speech, parts = _speak(DEMO_SENTENCES, DEMO_VOICE, gap)
    win = _sentence_windows(parts, gap)
    emotions = [EmotionSegment(win[i][0], win[i][1], v, a) for i, v, a in DEMO_EMOTIONS]
    cfg = ActorConfig(size=512, fps=25, seed=seed, crf=crf, emotions=emotions)
    s = make_clip(speech, out, "demo", cfg, portrait, progress=True)
    print(f"demo: {s['num_frames']} frames, {s['duration_s']:.1f} s, {s['num_blinks']} blinks")
    held, _ = _speak(HELDOUT_SENTENCES, HELDOUT_VOICE, gap)
    cfg_h = ActorConfig(size=512, fps=25, seed=seed + 1, crf=crf)
    s = make_clip(held, out, "heldout", cfg_h, portrait, write_audio_wav=True, progress=True)
    print(f"heldout: {s['num_frames']} frames, {s['duration_s']:.1f} s")
    for name in ("demo", "heldout"):
        _sheet(out, name, "jpg")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--text", action="append", help="sentence(s) to speak with espeak-ng (repeatable)")
    src.add_argument("--wav", help="recorded speech; phone timings by pocketsphinx alignment")
    src.add_argument("--bundle", action="store_true", help=f"regenerate the bundled clips in {ASSETS}")
    ap.add_argument("--photo", help="portrait photo (default: skimage.data.astronaut())")
    ap.add_argument("--out", help="output folder (default for --bundle: assets/demo)")
    ap.add_argument("--name", default="clip")
    ap.add_argument("--voice", default="en-us+f3")
    ap.add_argument("--rate", type=int, default=160, help="espeak-ng words per minute")
    ap.add_argument("--pitch", type=int, default=50)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crf", type=int, default=23)
    ap.add_argument("--emotion", action="append", default=[], metavar="START,END,V,A",
                    help="hold valence/arousal over [START, END] seconds (repeatable)")
    ap.add_argument("--no-sheet", action="store_true", help="skip the contact-sheet PNG")
    args = ap.parse_args(argv)

    if args.bundle:
        bundle(args.out or ASSETS, seed=args.seed)
        return 0
    if not args.out:
        ap.error("--out is required")
    if args.wav:
        speech = align_wav(args.wav)
    elif args.text:
        speech, _ = _speak(args.text, {"voice": args.voice, "rate": args.rate, "pitch": args.pitch}, 0.4)
    else:
        ap.error("give --text, --wav or --bundle")
    emotions = []
    for e in args.emotion:
        try:
            t0, t1, v, a = (float(x) for x in e.split(","))
        except ValueError:
            ap.error(f"--emotion {e!r}: expected START,END,V,A (four numbers)")
        emotions.append(EmotionSegment(t0, t1, v, a))
    cfg = ActorConfig(size=args.size, fps=args.fps, seed=args.seed, crf=args.crf, emotions=emotions)
    portrait = load_portrait(args.photo, args.size)
    s = make_clip(speech, args.out, args.name, cfg, portrait, progress=True)
    if args.text:
        write_wav(os.path.join(args.out, f"{args.name}.wav"), speech.audio, speech.sample_rate)
    if not args.no_sheet:
        _sheet(args.out, args.name)
    print(f"{args.out}/{args.name}.mp4: {s['num_frames']} frames ({s['duration_s']:.2f} s), "
          f"{s['num_blinks']} blinks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
