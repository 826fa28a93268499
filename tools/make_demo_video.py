#!/usr/bin/env python
"""Make a talking-portrait clip with exact ground truth (the bundled demo actor).

Examples:
  python tools/make_demo_video.py --text "Hello there." --text "How are you?" --out /tmp/clip
  python tools/make_demo_video.py --text "Hi." --photo hopper --out /tmp/clip     # second identity
  python tools/make_demo_video.py --wav speech.wav --photo me.jpg --out /tmp/clip
  python tools/make_demo_video.py --bundle            # regenerate assets/demo/ (deterministic)

Writes OUT/NAME.mp4 (H.264 + AAC), OUT/NAME_truth.npz, OUT/NAME_truth.json, OUT/NAME_sheet.png,
OUT/NAME_visemes.png, and prints the truth statistics (median lip gap per viseme, pose ranges).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from demo_actor.actor import PORTRAITS, ActorConfig, load_portrait, make_clip
from demo_actor.bundle import make_bundle, speak, write_sheets
from demo_actor.life import EmotionSegment
from demo_actor.truth import load_truth, truth_statistics
from emogs.audio.tts import align_wav, write_wav
from emogs.errors import cli_entry
from emogs.io.outputs import check_output_dir

ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "demo")


def _print_stats(stats: dict) -> None:
    print(json.dumps(stats, indent=1, sort_keys=True))


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--text", action="append", help="sentence(s) to speak with espeak-ng (repeatable)")
    src.add_argument("--wav", help="recorded speech; phone timings by pocketsphinx alignment")
    src.add_argument("--bundle", action="store_true", help=f"regenerate the bundled clips in {ASSETS}")
    src.add_argument("--stats", metavar="TRUTH_NPZ", help="only print the truth statistics of a clip")
    ap.add_argument("--photo", help=f"portrait photo, or one of {sorted(PORTRAITS)} (default: astronaut)")
    ap.add_argument("--out", help="output folder (default for --bundle: assets/demo)")
    ap.add_argument("--name", default="clip")
    ap.add_argument("--voice", default="en-us+f3")
    ap.add_argument("--rate", type=int, default=160, help="espeak-ng words per minute")
    ap.add_argument("--pitch", type=int, default=50)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crf", type=int, default=23)
    ap.add_argument("--yaw", type=float, default=14.0, help="largest head turn, degrees")
    ap.add_argument("--pitch-deg", type=float, default=7.0, help="largest nod / tilt, degrees")
    ap.add_argument("--emotion", action="append", default=[], metavar="START,END,V,A",
                    help="hold valence/arousal over [START, END] seconds (repeatable)")
    ap.add_argument("--no-sheet", action="store_true", help="skip the contact sheets")
    args = ap.parse_args(argv)
    if args.out:  # checked before the work, not after it
        check_output_dir(args.out, "--out folder")

    if args.stats:
        _print_stats(truth_statistics(load_truth(args.stats)))
        return 0
    if args.bundle:
        _print_stats(make_bundle(args.out or ASSETS, seed=args.seed))
        return 0
    if not args.out:
        ap.error("--out is required")
    if args.wav:
        speech = align_wav(args.wav)
    elif args.text:
        speech, _ = speak(args.text, {"voice": args.voice, "rate": args.rate, "pitch": args.pitch}, 0.4)
    else:
        ap.error("give --text, --wav, --stats or --bundle")
    emotions = []
    for e in args.emotion:
        try:
            t0, t1, v, a = (float(x) for x in e.split(","))
        except ValueError:
            ap.error(f"--emotion {e!r}: expected START,END,V,A (four numbers)")
        emotions.append(EmotionSegment(t0, t1, v, a))
    cfg = ActorConfig(size=args.size, fps=args.fps, seed=args.seed, crf=args.crf, emotions=emotions,
                      yaw_max_deg=args.yaw, pitch_max_deg=args.pitch_deg)
    portrait = load_portrait(args.photo, args.size)
    s = make_clip(speech, args.out, args.name, cfg, portrait, progress=True)
    if args.text:
        write_wav(os.path.join(args.out, f"{args.name}.wav"), speech.audio, speech.sample_rate)
    if not args.no_sheet:
        _print_stats(write_sheets(args.out, args.name, "png"))
    print(f"{args.out}/{args.name}.mp4: {s['num_frames']} frames ({s['duration_s']:.2f} s), "
          f"{s['num_blinks']} blinks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
