"""Interactive web viewer.

    python tools/viewer.py AVATAR [--audio speech.wav] [--port 8080] [--host 127.0.0.1]

Open the printed URL in a browser. Controls: valence / arousal sliders and an emotion preset with
intensity, blink (AU45) override, head-pose source (training frames / fixed frame / yaw-pitch
sliders), play / pause and a time slider over the audio, resolution. The measured FPS is shown.
Live audio: `--live-port 5005`, then send raw 16 kHz mono int16 PCM to that port, e.g.
`ffmpeg -re -i speech.wav -f s16le -ac 1 -ar 16000 tcp://127.0.0.1:5005`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("avatar", help="avatar folder (OUT/avatar) or the OUT folder of tools/fit_person.py")
    p.add_argument("--audio", help="speech audio to drive the avatar (wav or any file PyAV decodes)")
    p.add_argument("--live-port", type=int, help="drive from raw 16 kHz mono int16 PCM sent to this TCP port")
    p.add_argument("--port", type=int, default=8080, help="web server port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default loopback; 0.0.0.0 exposes it to the network)")
    p.add_argument("--dataset", help="the avatar's person dataset (default: the one recorded in the avatar); "
                   "without it a fixed frontal camera on a grey background is used")
    p.add_argument("--emotion", default="neutral", help="initial emotion preset, e.g. happy:0.8")
    p.add_argument("--resolution", type=int, default=0, help="initial image size (default min(256, dataset))")
    p.add_argument("--fps", type=float, default=0, help="display rate while playing (default: dataset fps)")
    p.add_argument("--max-seconds", type=float, help="stop by itself after N seconds")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.audio and args.live_port:
        raise SystemExit("error: give --audio or --live-port, not both")
    from emogs.audio.features import runnable_extractor
    from emogs.avatar.drive import AudioExtractorError, silence_features, speech_features
    from emogs.avatar.inference import tune_allocator
    from emogs.avatar.store import load_avatar
    from emogs.data import PersonDataset
    from emogs.viewer import DriveSource, ViewerState, with_preset
    from emogs.viewer.app import ViewerApp, ViewerConfig

    tune_allocator()  # reuse frame-sized buffers instead of page-faulting them every frame
    avatar, meta = load_avatar(args.avatar)
    avatar.prepare_inference()
    cfg = avatar.config
    extractor = runnable_extractor(cfg.audio_extractor)
    ds_root = args.dataset or meta.get("dataset")
    idle = silence_features(cfg)
    if ds_root and Path(ds_root).exists():
        ds = PersonDataset(ds_root, split="train", audio_window=cfg.audio_window)
        source = DriveSource.from_dataset(ds, avatar, idle_audio=idle)
    else:
        print(f"warning: the avatar's dataset {ds_root!r} was not found (pass --dataset DIR); using a "
              "frontal camera without torso / background", file=sys.stderr)
        source = DriveSource.frontal(avatar, idle_audio=idle)

    feats = None
    if args.audio or args.live_port:
        if extractor is None:
            raise SystemExit(f"error: the avatar's audio extractor {cfg.audio_extractor!r} cannot run "
                             "here; new audio needs an avatar fitted on 'whisper' or 'logmel' features.")
    if args.audio:
        from emogs.io import read_audio

        try:
            feats = speech_features(read_audio(args.audio, 16000), source.fps, cfg)
        except AudioExtractorError as err:
            raise SystemExit(f"error: {err}") from None
    live = None
    if args.live_port:
        from emogs.stream import PcmSocketSource

        sock = PcmSocketSource(args.host, args.live_port)
        print(f"live audio: send raw 16 kHz mono int16 PCM to {sock.host}:{sock.port}")
        live = sock.chunks(accept_timeout_s=args.max_seconds or 3600.0)

    state = ViewerState(resolution=args.resolution or min(256, source.size), playing=feats is not None)
    if args.emotion != "neutral":
        name, _, k = args.emotion.partition(":")
        state = with_preset(state, name, float(k) if k else None)
    app = ViewerApp(avatar, source, feats, ViewerConfig(host=args.host, port=args.port, fps=args.fps or None),
                    state=state, live=live, live_extractor=extractor or "logmel")
    app.start()
    print(f"emogs viewer at {app.url}  (Ctrl-C to stop)", flush=True)
    try:
        app.wait(args.max_seconds)
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
