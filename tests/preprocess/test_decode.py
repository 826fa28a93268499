"""Decoding: frame picking by timestamp (any fps, VFR), audio, face-track crop, bad inputs."""

import numpy as np
import pytest

from preprocess import decode as dec
from preprocess.config import PreprocessConfig
from preprocess.errors import NoAudioError, NoFaceError, UnreadableVideoError, VideoTooShortError
from preprocess.pipeline import run_pipeline
from preprocess.testclips import make_clip

SMALL = dict(size=96, audio_extractor="logmel", detect_width=160)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    return {
        "moving": make_clip(d / "moving.mp4", seconds=2.0, width=320, height=240, motion=2.0),
        "vfr": make_clip(d / "vfr.mkv", seconds=2.0, width=160, height=128, vfr=True, audio="silence"),
        "noaudio": make_clip(d / "noaudio.mp4", seconds=1.2, width=160, height=128, audio="none"),
        "dir": d,
    }


def test_constant_fps_from_other_rates(tmp_path):
    # a 30 fps clip whose frame index is written in the pixels: check which source frame each output shows
    import av

    path = tmp_path / "count.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        for i in range(45):  # 1.5 s
            img = np.full((64, 64, 3), i * 5, np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
    frames = list(dec.iter_frames(path, 25.0))
    assert [i for i, _ in frames] == list(range(38))  # output times i/25 in [0, 1.5 s)
    src = np.array([round(f.mean() / 5) for _, f in frames])
    expected = np.floor(np.arange(38) / 25 * 30 + 1e-6).astype(int)  # last source frame shown at i/25
    assert np.abs(src - expected).max() <= 1 and (src == expected).mean() > 0.9 and len(src) == 38


def test_variable_frame_rate(clips):
    info = dec.probe(clips["vfr"])
    idx = [i for i, _ in dec.iter_frames(clips["vfr"], 25.0)]
    assert idx == list(range(len(idx)))
    assert abs(len(idx) - 50) <= 2, len(idx)
    assert info.width == 160 and info.height == 128


def test_crop_follows_moving_face_smoothly(clips):
    info = dec.probe(clips["moving"])
    track = dec.detect_face_track(clips["moving"], info, 25.0, detect_width=160, every=2)
    crops = dec.crop_track(track, info, 25.0, margin=2.8, smooth_s=0.3, detect_every=2)
    assert crops.shape == (50, 3) and np.ptp(crops[:, 2]) == 0  # constant side
    assert (crops[:, 0] >= 0).all() and (crops[:, 0] + crops[:, 2] <= 320 + 1e-6).all()
    # the face moves (x amplitude 4% of 320 px): the crop moves with it, without jitter
    assert np.ptp(crops[:, 0]) > 3
    jerk = np.abs(np.diff(crops[:, 0], 2))
    assert jerk.max() < 1.0, jerk.max()
    # the face stays in the middle of the crop
    centre = track.centers[track.detected]
    rel = (centre[:, 0] - crops[track.detected, 0]) / crops[track.detected, 2]
    assert np.abs(rel - 0.5).max() < 0.1


def test_audio_is_16k_mono_and_aligned(clips):
    wav = dec.decode_audio(clips["moving"], 16000)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) - 2.0 * 16000) < 800
    assert np.abs(wav).max() > 0.05  # speech
    assert dec.decode_audio(clips["noaudio"]) is None


def test_unreadable_inputs(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(UnreadableVideoError, match="not a readable video") as e:
        dec.probe(bad)
    assert "fix:" in str(e.value)
    with pytest.raises(UnreadableVideoError, match="does not exist"):
        dec.probe(tmp_path / "missing.mp4")
    import wave

    with wave.open(str(tmp_path / "a.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(16000, np.int16).tobytes())
    with pytest.raises(UnreadableVideoError, match="no video stream"):
        dec.probe(tmp_path / "a.wav")
    # nothing computed is lost: the output folder holds no manifest afterwards
    with pytest.raises(UnreadableVideoError):
        run_pipeline(bad, tmp_path / "ds", progress=False, log=lambda s: None)
    assert not (tmp_path / "ds" / "manifest.json").exists()


def test_no_audio(clips, tmp_path):
    with pytest.raises(NoAudioError, match="(?s)no audio track.*--no-audio"):
        run_pipeline(
            clips["noaudio"],
            tmp_path / "a",
            PreprocessConfig(**SMALL),
            stages=["decode"],
            progress=False,
            log=lambda s: None,
        )
    m = run_pipeline(
        clips["noaudio"],
        tmp_path / "b",
        PreprocessConfig(**SMALL, no_audio=True),
        stages=["decode", "audio_features"],
        progress=False,
        log=lambda s: None,
    )
    assert m["has_audio"] is False and not (tmp_path / "b" / "audio.wav").exists()
    feats = np.load(tmp_path / "b" / "audio_features.npy")
    assert feats.shape == (m["num_frames"], 80) and not feats.any()
    assert m["audio_features"]["extractor"] == "none"


def test_too_short(clips, tmp_path):
    short = make_clip(tmp_path / "short.mp4", seconds=0.6, width=128, height=128)
    with pytest.raises(VideoTooShortError, match="only 15 frames"):
        run_pipeline(
            short,
            tmp_path / "ds",
            PreprocessConfig(**SMALL),
            stages=["decode"],
            progress=False,
            log=lambda s: None,
        )


def test_no_face_in_most_frames_names_time_ranges(tmp_path):
    clip = make_clip(
        tmp_path / "away.mp4",
        seconds=2.0,
        width=160,
        height=128,
        face_visible=lambda t: t < 0.6,
        audio="silence",
    )
    with pytest.raises(NoFaceError, match=r"no face at 0\.[56]\d-2\.00 s") as e:
        run_pipeline(
            clip,
            tmp_path / "ds",
            PreprocessConfig(**SMALL, no_audio=True),  # a silent track
            stages=["decode"],
            progress=False,
            log=lambda s: None,
        )
    assert "fix:" in str(e.value)
    blank = make_clip(
        tmp_path / "blank.mp4",
        seconds=1.2,
        width=160,
        height=128,
        face_visible=lambda t: False,
        audio="silence",
    )
    with pytest.raises(NoFaceError, match="no face found"):
        run_pipeline(
            blank,
            tmp_path / "ds2",
            PreprocessConfig(**SMALL, no_audio=True),  # a silent track
            stages=["decode"],
            progress=False,
            log=lambda s: None,
        )


def test_several_faces_follow_largest_and_say_so(tmp_path):
    clip = make_clip(tmp_path / "two.mp4", seconds=1.2, width=320, height=240, second_face=True, motion=0.5)
    logs = []
    m = run_pipeline(
        clip, tmp_path / "ds", PreprocessConfig(**SMALL), stages=["decode"], progress=False, log=logs.append
    )
    rec = m["stages"]["decode"]
    assert rec["faces_max"] >= 2 and any("largest consistent" in w for w in rec["warnings"])
    crops = np.load(tmp_path / "ds" / "crops.npy")
    # the crop is on the big face (centre of the frame), not the small one at the top right
    assert (crops[:, 0] + crops[:, 2] / 2 < 0.7 * 320).all()


def test_extreme_aspect_ratio(tmp_path):
    tall = make_clip(tmp_path / "tall.mp4", seconds=1.2, width=96, height=320, audio="silence")
    m = run_pipeline(
        tall,
        tmp_path / "ds",
        PreprocessConfig(**SMALL, no_audio=True),  # a silent track
        stages=["decode"],
        progress=False,
        log=lambda s: None,
    )
    crops = np.load(tmp_path / "ds" / "crops.npy")
    assert (crops[:, 2] <= 96 + 1e-6).all() and (crops[:, 1] >= 0).all()
    assert np.load(tmp_path / "ds" / "frames.npy", mmap_mode="r").shape == (m["num_frames"], 96, 96, 3)


def test_cli_reports_problem_and_fix(tmp_path, capsys):
    from preprocess.__main__ import main

    bad = tmp_path / "x.mov"
    bad.write_bytes(b"\x00" * 100)
    assert main([str(bad), str(tmp_path / "ds"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not a readable video" in err and "fix:" in err


def test_prefetch_map_keeps_order_bounds_the_look_ahead_and_raises_in_order():
    produced = []

    def items():
        for i in range(40):
            produced.append(i)
            yield i

    seen = []
    for k, y in enumerate(dec.prefetch_map(lambda x: x * x, items(), ahead=3)):
        seen.append(y)
        assert len(produced) <= k + 1 + 3 + 1  # never more than `ahead` items in flight
    assert seen == [i * i for i in range(40)]

    def boom(x):
        if x == 5:
            raise ValueError("item 5")
        return x

    got = []
    with pytest.raises(ValueError, match="item 5"):
        for y in dec.prefetch_map(boom, range(20), ahead=4):
            got.append(y)
    assert got == [0, 1, 2, 3, 4]


def test_frame_writer_writes_frames_and_rows_in_place(tmp_path):
    from preprocess.io_utils import MemmapWriter, NpyFrameWriter

    w = MemmapWriter(tmp_path / "x.npy", np.uint8, (4, 6, 5, 3))
    with w, NpyFrameWriter(w.tmp) as out:
        out.write(2, np.full((6, 5, 3), 7, np.uint8))
        out.write_rows(3, 4, np.full((2, 5, 3), 9, np.uint8))
        with pytest.raises(ValueError, match="does not fit"):
            out.write(4, np.zeros((6, 5, 3), np.uint8))
        with pytest.raises(ValueError, match="do not fit"):
            out.write_rows(0, 5, np.zeros((2, 5, 3), np.uint8))
    x = np.load(tmp_path / "x.npy")
    expect = np.zeros((4, 6, 5, 3), np.uint8)
    expect[2] = 7
    expect[3, 4:] = 9
    np.testing.assert_array_equal(x, expect)
    assert not (tmp_path / "x.npy.tmp").exists()
