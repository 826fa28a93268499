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

from emogs.emotion.cli_parse import emotion_arg
from emogs.errors import cli_entry


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
    p.add_argument("--emotion", type=emotion_arg, default=None,
                   help="initial emotion: happy, happy:strong, happy:0.7 or valence,arousal (0.5,0.3)")
    p.add_argument("--emotion-from", metavar="FACE_OR_CLIP",
                   help="the emotion of a face image (its V/A), or of a clip (a V/A trajectory followed "
                   "while the audio plays), as the offline judge reads it (emogs.emotion.reference)")
    p.add_argument("--va-trajectory", help="V/A keyframes (CSV / JSON, as tools/render.py) followed in time")
    p.add_argument("--resolution", type=int, default=0,
                   help="image size (default: 512 when this machine renders it at >= 25 FPS, else 256)")
    p.add_argument("--no-sound", action="store_true", help="do not play the audio in the browser")
    p.add_argument("--fps", type=float, default=0, help="display rate while playing (default: dataset fps)")
    p.add_argument("--max-seconds", type=float, help="stop by itself after N seconds")
    from emogs.device import add_device_argument

    add_device_argument(p)
    return p


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.audio and args.live_port:
        raise SystemExit("error: give --audio or --live-port, not both")
    from emogs.device import device_from_args

    device = device_from_args(args)
    from emogs.audio.features import runnable_extractor
    from emogs.avatar.drive import AudioExtractorError, silence_features, speech_features
    from emogs.avatar.inference import tune_allocator
    from emogs.avatar.store import load_avatar
    from emogs.data import PersonDataset
    from emogs.viewer import DriveSource, ViewerState, with_preset
    from emogs.viewer.app import ViewerApp, ViewerConfig

    tune_allocator()  # reuse frame-sized buffers instead of page-faulting them every frame
    avatar, meta = load_avatar(args.avatar)
    from emogs.backends import require_backends

    require_backends(avatar.config.backend, avatar.config.face_encoder.backend, device)
    avatar.to(device).prepare_inference()
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

    feats = wav = None
    if args.audio or args.live_port:
        if extractor is None:
            raise SystemExit(f"error: the avatar's audio extractor {cfg.audio_extractor!r} cannot run "
                             "here; new audio needs an avatar fitted on 'whisper' or 'logmel' features.")
    if args.audio:
        from emogs.io import read_audio

        wav = read_audio(args.audio, 16000)
        try:
            feats = speech_features(wav, source.fps, cfg, device=device)
        except AudioExtractorError as err:
            raise SystemExit(f"error: {err}") from None
    live = None
    if args.live_port:
        from emogs.stream import PcmSocketSource

        sock = PcmSocketSource(args.host, args.live_port)
        print(f"live audio: send raw 16 kHz mono int16 PCM to {sock.host}:{sock.port}")
        live = sock.chunks(accept_timeout_s=args.max_seconds or 3600.0)

    traj = None
    if args.va_trajectory:
        from emogs.emotion import load_va_trajectory

        traj = load_va_trajectory(args.va_trajectory)
    if args.emotion_from:
        from emogs.emotion.reference import va_from_reference_cli

        traj = va_from_reference_cli(args.emotion_from)
    res = args.resolution
    if not res:
        from emogs.viewer.render import pick_resolution

        res, fps = pick_resolution(avatar, source)
        shown = ", ".join(f"{s} px: {f:.0f} FPS" for s, f in fps.items()) or "the dataset's size"
        print(f"resolution {res} px (measured {shown})")
    state = ViewerState(resolution=res, playing=feats is not None)
    if args.emotion is not None:
        e = args.emotion
        state = (with_preset(state, e.name, e.intensity) if e.name
                 else state.replace(valence=e.valence, arousal=e.arousal))
    if traj is not None and len(traj.times) == 1:  # a photo: a fixed V/A; a clip: followed while playing
        v, a = (min(max(float(x), -1.0), 1.0) for x in traj.va[0])
        state, traj = state.replace(valence=v, arousal=a, preset="custom"), None
    vcfg = ViewerConfig(host=args.host, port=args.port, fps=args.fps or None, sound=not args.no_sound)
    app = ViewerApp(avatar, source, feats, vcfg, state=state, live=live, live_extractor=extractor or "logmel",
                    audio_wav=wav, va_trajectory=traj)
    app.start()
    print(f"emogs viewer at {app.url}  (Ctrl-C to stop)", flush=True)
    try:
        app.wait(args.max_seconds)
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
