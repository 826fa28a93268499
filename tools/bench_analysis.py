"""Benchmark the preprocessing analysis algorithms (face mesh, parsing, normals, AUs, audio features).

Prints CPU milliseconds (process time, all threads) per 512x512 frame and the CPU seconds a
60 s / 25 fps clip (1500 frames) would take, on the astronaut portrait with its face scaled
to fill a 512 crop like the pipeline's.
Ratios are against reference runs in the same process (exact z-buffer rasteriser, Whisper
encoder on one 30 s window).

    OMP_NUM_THREADS=1 .venv/bin/python tools/bench_analysis.py
"""

from __future__ import annotations

import os
import time

import numpy as np


def _timeit(fn, repeat: int) -> float:
    """CPU seconds per call (process time: insensitive to other processes sharing the cores)."""
    fn()  # warm-up
    t = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - t) / repeat


def main() -> None:
    import cv2
    import skimage.data

    from emogs.audio.features import extract_audio_features, whisper_encode_window
    from emogs.face.action_units import estimate_aus
    from emogs.face.landmarks import FaceMeshDetector
    from preprocess.normals import FaceNormalRenderer
    from preprocess.parsing import FaceParser

    img = skimage.data.astronaut()
    crop = cv2.resize(img[20:260, 110:350], (512, 512), interpolation=cv2.INTER_AREA)  # face ~200 px wide
    with FaceMeshDetector(video_mode=False, max_faces=1) as det:
        pts = det(crop)[0].points
    K = np.array([[1000.0, 0, 256], [0, 1000.0, 256], [0, 0, 1]])
    frames = 1500

    with FaceMeshDetector(video_mode=True, max_faces=3) as det:  # as the landmarks stage runs it
        t_mesh = _timeit(lambda: det(crop), 20)
    parser = FaceParser()
    t_parse = _timeit(lambda: parser(crop, pts), 20)
    seg = _timeit(lambda: parser.person_probability(crop), 20)
    fast = FaceNormalRenderer(512)
    exact = FaceNormalRenderer(512, exact=True)
    t_norm = _timeit(lambda: fast(pts, K), 20)
    t_norm_exact = _timeit(lambda: exact(pts, K), 5)
    lm = np.repeat(pts[None], frames, 0) + np.random.default_rng(0).normal(0, 0.3, (frames, 478, 3)).astype(
        np.float32
    )
    t_aus = _timeit(lambda: estimate_aus(lm), 3)
    wav = np.random.default_rng(1).normal(0, 0.05, 60 * 16000).astype(np.float32)
    t_mel = _timeit(lambda: extract_audio_features(wav, frames, 25.0, "logmel"), 3)
    t_win = _timeit(lambda: whisper_encode_window(wav[: 30 * 16000]), 1)
    t_whisper = _timeit(lambda: extract_audio_features(wav, frames, 25.0, "whisper"), 1)

    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, cpus={os.cpu_count()}")
    print(f"face mesh (video)    {t_mesh * 1e3:7.1f} ms/frame  -> {t_mesh * frames:6.1f} s per 60 s clip")
    print(
        f"parsing (geometry)   {t_parse * 1e3:7.1f} ms/frame  -> {t_parse * frames:6.1f} s per 60 s clip"
        f"  (selfie segmentation alone {seg * 1e3:.1f} ms, {seg / t_parse:.0%})"
    )
    print(
        f"normals (fast)       {t_norm * 1e3:7.1f} ms/frame  -> {t_norm * frames:6.1f} s per 60 s clip"
        f"  (exact z-buffer {t_norm_exact * 1e3:.1f} ms: {t_norm_exact / t_norm:.1f}x slower)"
    )
    print(f"action units         {t_aus / frames * 1e3:7.3f} ms/frame  -> {t_aus:6.2f} s per 60 s clip")
    print(f"audio log-mel        {t_mel:7.3f} s per 60 s clip")
    print(
        f"audio whisper        {t_whisper:7.3f} s per 60 s clip ({t_whisper / t_win:.1f} x one 30 s window "
        f"= {t_win:.2f} s)"
    )
    parser.close()


if __name__ == "__main__":
    main()
