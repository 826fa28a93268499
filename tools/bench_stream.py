"""Benchmark: live audio driving on CPU - per-frame latency and FPS.

    python tools/bench_stream.py [AVATAR] [--size 256] [--face 10000] [--mouth 2000] [--seconds 4]
                                 [--chunk-ms 20] [--threads 2] [--extractor logmel]

Without AVATAR a synthetic avatar of the `quick` preset's sizes is built (random non-zero
deformation heads, 80-d logmel audio). Speech comes from espeak-ng when installed (else a
synthetic vowel track). Three runs in this process:

1. reference: offline - features of the whole clip, then every frame rendered (ms/frame);
2. streaming, as fast as possible: 20 ms chunks -> LiveAudioFeatures -> render each frame;
   per-frame compute (features + render) and the algorithmic look-ahead (W frames + STFT);
3. real time: an audio thread delivers chunks at the speed of speech, the render thread draws
   the newest ready frame and drops older ones; prints displayed FPS, dropped frames and the
   end-to-end latency (frame shown - end of that frame's audio) = look-ahead + waiting + render.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def speech(seconds: float, tmp: Path) -> tuple[np.ndarray, str]:
    """16 kHz float32 speech of about `seconds` (espeak-ng), or a synthetic vowel track."""
    text = ("The quick brown fox jumps over the lazy dog while we measure how fast the avatar "
            "follows live speech, frame by frame, with a bounded delay.")
    if shutil.which("espeak-ng"):
        out = tmp / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(out), "-s", "160", text], check=True, capture_output=True)
        from emogs.io import read_audio

        wav = read_audio(out, 16000)
        reps = int(np.ceil(seconds * 16000 / len(wav)))
        return np.tile(wav, reps)[: int(seconds * 16000)], "espeak-ng"
    t = np.arange(int(seconds * 16000)) / 16000
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    return (0.3 * env * np.sin(2 * np.pi * 140 * t)).astype(np.float32), "synthetic vowels"


def build(args, tmp: Path):
    import torch

    from emogs.viewer import DriveSource

    if args.avatar:
        from emogs.avatar.store import load_avatar
        from emogs.data import PersonDataset

        avatar, meta = load_avatar(args.avatar)
        ds = PersonDataset(args.dataset or meta["dataset"], split="train",
                           audio_window=avatar.config.audio_window)
        if not avatar.config.audio_extractor.lower().startswith(("logmel", "whisper")):
            raise SystemExit(f"error: the avatar's extractor {avatar.config.audio_extractor!r} "
                             "cannot run live")
        return avatar, DriveSource.from_dataset(ds, avatar), avatar.config.audio_extractor.split("-")[0]
    from emogs.audio.features import FEATURE_DIMS
    from emogs.avatar import build_avatar
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.train import load_config
    from emogs.train.trainer import avatar_config_for

    dim = FEATURE_DIMS[args.extractor]
    ds = PersonDataset(write_toy_dataset(tmp / "ds", num_frames=8, size=args.size, audio_dim=dim),
                       split="all")
    cfg = load_config("quick")
    cfg.model.num_face, cfg.model.num_mouth = args.face, args.mouth
    acfg = avatar_config_for(cfg, ds, with_emotion=True)
    acfg.audio_extractor = args.extractor
    t = np.load(ds.root / "camera.npz")["template"]
    avatar = build_avatar(acfg, t, (ds.image(0).numpy() * 255).astype(np.uint8), ds.w2c[0].numpy(),
                          ds.K.numpy()).eval()
    with torch.no_grad():
        for net in (avatar.face_net, avatar.mouth_net, avatar.emotion_net):
            net.head.output_layer.weight.normal_(0, 0.01)
    return avatar, DriveSource.from_dataset(ds, avatar), args.extractor


def pct(x, q) -> float:
    return float(np.percentile(np.asarray(x), q)) if len(x) else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("avatar", nargs="?", help="avatar folder (default: a synthetic avatar)")
    p.add_argument("--dataset")
    p.add_argument("--size", type=int, default=256, help="render size (and synthetic dataset size)")
    p.add_argument("--face", type=int, default=10000)
    p.add_argument("--mouth", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--chunk-ms", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--extractor", choices=("logmel", "whisper"), default="logmel",
                   help="audio features of the synthetic avatar (an AVATAR uses its own)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from emogs.audio.features import extract_audio_features
    from emogs.stream import LatestFrame, LiveAudioFeatures, StreamConfig, latency_bound_s, pcm_chunks
    from emogs.viewer import ViewerState, render_view

    tmp = Path(tempfile.mkdtemp(prefix="emogs_bench_stream_"))
    avatar, src, extractor = build(args, tmp)
    wav, kind = speech(args.seconds, tmp)
    fps, W = src.fps, avatar.config.audio_window
    T = int(round(len(wav) / 16000 * fps))
    wav = wav[: int(round(T / fps * 16000))]
    state = ViewerState(resolution=args.size, pose="frames", valence=0.5, arousal=0.3)
    scfg = StreamConfig(fps=fps, window=W, extractor=extractor)
    chunk = int(round(args.chunk_ms * 16))
    print(f"avatar: {len(avatar.face)} face + {len(avatar.mouth)} mouth Gaussians, {args.size}x{args.size}, "
          f"{args.threads} threads; audio: {len(wav) / 16000:.1f} s {kind}, {extractor}, {fps:g} fps, W={W}, "
          f"chunks {args.chunk_ms:g} ms")

    def render(t, win):
        return render_view(avatar, state.replace(time_s=t / fps), None, src, audio_window=win)

    # 1. offline reference
    render(0, np.repeat(src.idle_audio[None], 2 * W + 1, 0))  # warm-up
    t0 = time.perf_counter()
    feats, _ = extract_audio_features(wav, T, fps, extractor)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in range(T):
        render_view(avatar, state.replace(time_s=t / fps), feats, src)
    t_ref = (time.perf_counter() - t0 + t_feat) / T
    print(f"1. offline reference: {1e3 * t_ref:7.1f} ms/frame ({1e3 * t_feat / T:.2f} ms features) "
          f"= {1 / t_ref:5.1f} FPS")

    # 2. streaming, as fast as possible
    live = LiveAudioFeatures(scfg)
    comp, look, n = [], [], 0
    t_all = time.perf_counter()
    for c in pcm_chunks(wav, chunk / 16000):
        t0 = time.perf_counter()
        ready = live.push(c)
        tf = time.perf_counter() - t0
        for f in ready:
            t1 = time.perf_counter()
            render(f.index, f.audio)
            comp.append(time.perf_counter() - t1 + tf / max(1, len(ready)))
            look.append(f.lookahead_s)
            n += 1
    for f in live.close():
        render(f.index, f.audio)
        n += 1
    t_stream = (time.perf_counter() - t_all) / n
    bound = latency_bound_s(scfg, chunk)
    print(f"2. streaming (no pacing): {1e3 * t_stream:7.1f} ms/frame = {1 / t_stream:5.1f} FPS; ratio vs "
          f"reference {t_ref / t_stream:.2f}x; compute/frame p50 {1e3 * pct(comp, 50):.1f} ms, p95 "
          f"{1e3 * pct(comp, 95):.1f} ms")
    print(f"   look-ahead (audio after the frame's end before it can render): "
          f"p50 {1e3 * pct(look, 50):.1f} ms, "
          f"max {1e3 * max(look):.1f} ms (W frames = {1e3 * W / fps:.0f} ms; bound {1e3 * bound:.1f} ms)")

    # 3. real time
    box, stop = LatestFrame(), threading.Event()
    start = time.monotonic()
    lat, shown = [], []

    def audio():
        lv = LiveAudioFeatures(scfg)
        for c in pcm_chunks(wav, chunk / 16000, realtime=True):
            for f in lv.push(c):
                box.put(f)
        stop.set()

    th = threading.Thread(target=audio)
    th.start()
    while not (stop.is_set() and box.put_count == len(shown) + box.dropped):
        f = box.take()
        if f is None:
            time.sleep(0.002)
            continue
        render(f.index, f.audio)
        done = time.monotonic()
        lat.append(done - (start + (f.index + 1) / fps))
        shown.append(done)
    th.join()
    disp = (len(shown) - 1) / (shown[-1] - shown[0]) if len(shown) > 1 else 0.0
    print(f"3. real time: displayed {disp:5.1f} FPS ({len(shown)} shown, {box.dropped} dropped of "
          f"{box.put_count}); end-to-end latency p50 {1e3 * pct(lat, 50):.0f} ms, "
          f"p95 {1e3 * pct(lat, 95):.0f} ms, "
          f"max {1e3 * max(lat):.0f} ms (= look-ahead {1e3 * pct(look, 50):.0f} ms + wait + render)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
