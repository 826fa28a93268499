import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("viser")

from emogs.stream import pcm_chunks  # noqa: E402
from emogs.viewer import DriveSource, ViewerState  # noqa: E402
from emogs.viewer.app import ViewerApp, ViewerConfig, letterbox  # noqa: E402


def _until(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_server_serves_page_renders_on_change_plays_and_stops(toy_ds, toy_avatar):
    src = DriveSource.from_dataset(toy_ds, toy_avatar)
    feats = np.asarray(toy_ds.audio_features, np.float32)
    app = ViewerApp(toy_avatar, src, feats, ViewerConfig(host="127.0.0.1", port=0, verbose=False),
                    state=ViewerState(resolution=32))
    app.start()
    try:
        url = app.url
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        with urllib.request.urlopen(url + "/", timeout=10) as r:
            body = r.read().decode("utf-8", "replace")
        assert r.status == 200 and "<html" in body.lower()
        assert _until(lambda: app.frames_rendered >= 1), "first frame not rendered"
        first = app.last_image.copy()
        assert first.shape == (32, 32, 3)
        # a control change re-renders; paused, nothing else is rendered
        n = app.frames_rendered
        app.update(valence=0.9, pose="sliders", yaw_deg=20.0)
        assert _until(lambda: app.frames_rendered > n)
        assert np.abs(app.last_image.astype(int) - first).mean() > 0.5
        time.sleep(0.3)
        n_idle = app.frames_rendered
        time.sleep(0.3)
        assert app.frames_rendered == n_idle
        # play: time advances with the clock and stops at the end of the audio by itself
        app.update(playing=True, time_s=0.0)
        assert _until(lambda: not app.snapshot().playing, timeout=30)
        assert app.snapshot().time_s > 0.3 and app.frames_rendered > n_idle + 2
        assert "FPS" in app.gui["stats"].content
    finally:
        app.stop()
    assert not app._threads
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/", timeout=2)


def test_live_audio_drives_the_render_thread(tmp_path, make_avatar):
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset

    ds = PersonDataset(write_toy_dataset(tmp_path / "ds80", num_frames=6, size=32, audio_dim=80))
    av = make_avatar(ds)
    src = DriveSource.from_dataset(ds, av)
    t = np.arange(16000) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.5)).astype(np.float32)  # 0.5 s silence, 0.5 s tone
    app = ViewerApp(av, src, None, ViewerConfig(port=0, verbose=False), state=ViewerState(resolution=32),
                    live=pcm_chunks(wav, 0.02, realtime=True), live_extractor="logmel")
    app.start()
    try:
        # 25 frames arrive over ~1 s; the render thread shows the newest, drops the rest
        box = app._live_box
        assert _until(lambda: app.frames_rendered + box.dropped == 25, timeout=20)
        assert app.error is None and box.put_count == 25 and app.frames_rendered >= 5
        assert abs(app.snapshot().time_s - 24 / 25) < 1e-6  # the last frame was shown
    finally:
        app.stop()


def test_live_audio_of_the_wrong_size_fails_clearly(toy_avatar, toy_ds):
    src = DriveSource.from_dataset(toy_ds, toy_avatar)
    t = np.arange(16000 // 2) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    # this toy avatar has 8-d audio; the live path must produce the avatar's size -> error surfaces
    app = ViewerApp(toy_avatar, src, None, ViewerConfig(port=0, verbose=False),
                    state=ViewerState(resolution=32), live=pcm_chunks(wav, 0.02), live_extractor="logmel")
    app.start()
    try:
        assert _until(lambda: app.error is not None, timeout=20)
        with pytest.raises(RuntimeError, match="expects"):
            app.wait(0.1)
    finally:
        app.stop()


def test_letterbox():
    img = np.full((10, 10, 3), 200, np.uint8)
    out = letterbox(img, 2.0)
    assert out.shape == (10, 20, 3) and (out[:, 5:15] == 200).all() and (out[:, :5] == 24).all()
    assert letterbox(img, 0.5).shape == (20, 10, 3)
    assert letterbox(img, 1.0) is img


def _user_sets(handle, value=None):
    """What a browser edit does: the handle's value changes, then its callbacks run with a client."""
    from viser._gui_handles import GuiEvent

    if value is not None:
        handle._impl.value = value
    for cb in list(handle._impl.update_cb):
        cb(GuiEvent(client=object(), client_id=1, target=handle))


def test_gui_controls_edit_the_state(toy_ds, toy_avatar):
    src = DriveSource.from_dataset(toy_ds, toy_avatar)
    feats = np.asarray(toy_ds.audio_features, np.float32)
    app = ViewerApp(toy_avatar, src, feats, ViewerConfig(port=0, verbose=False),
                    state=ViewerState(resolution=32))
    app.start()
    try:
        g = app.gui
        _user_sets(g["preset"], "happy")
        st = app.snapshot()
        assert st.preset == "happy" and st.valence > 0.3 and g["valence"].value == pytest.approx(st.valence)
        _user_sets(g["intensity"], 0.2)
        assert abs(app.snapshot().valence) < st.valence
        _user_sets(g["arousal"], -0.4)
        assert app.snapshot().arousal == pytest.approx(-0.4) and app.snapshot().preset == "custom"
        _user_sets(g["blink_auto"], False)
        assert app.snapshot().blink == 0.0 and not g["blink"].disabled
        _user_sets(g["blink"], 3.5)
        assert app.snapshot().blink == 3.5
        _user_sets(g["blink_auto"], True)
        assert app.snapshot().blink is None and g["blink"].disabled
        _user_sets(g["pose"], "fixed frame")
        _user_sets(g["fixed_frame"], 3)
        assert app.snapshot().pose == "fixed" and app.snapshot().fixed_frame == 3
        _user_sets(g["yaw"], 20.0)
        assert app.snapshot().pose == "sliders" and app.snapshot().yaw_deg == 20.0
        _user_sets(g["resolution"], "128")
        assert app.snapshot().resolution == 128
        _user_sets(g["time"], 0.2)
        assert app.snapshot().time_s == pytest.approx(0.2)
        _user_sets(g["play"])
        assert app.snapshot().playing
        _user_sets(g["play"])
        assert not app.snapshot().playing
        assert _until(lambda: app.last_image is not None and app.last_image.shape == (128, 128, 3))
    finally:
        app.stop()


def test_display_rate_is_independent_of_the_audio_frame_rate(toy_ds, toy_avatar):
    src = DriveSource.from_dataset(toy_ds, toy_avatar)
    feats = np.asarray(toy_ds.audio_features, np.float32)  # 12 frames at 25 fps = 0.48 s
    app = ViewerApp(toy_avatar, src, feats, ViewerConfig(port=0, fps=10.0, verbose=False),
                    state=ViewerState(resolution=32))
    app.start()
    try:
        assert _until(lambda: app.frames_rendered >= 1)
        n0 = app.frames_rendered
        app.update(playing=True, time_s=0.0)
        assert _until(lambda: not app.snapshot().playing, timeout=30)
        # 0.48 s at 10 FPS: ticks 0..4 (+ the final paused frame); never more than the display rate
        assert app.frames_rendered - n0 <= 7
        assert app.snapshot().time_s == pytest.approx(0.48 - 0.04)
    finally:
        app.stop()


def test_a_va_trajectory_drives_the_emotion_while_playing(toy_ds, toy_avatar):
    """--emotion-from clip.mp4: the clip's V/A trajectory sets valence / arousal as the audio plays."""
    from emogs.emotion.trajectory import VATrajectory

    src = DriveSource.from_dataset(toy_ds, toy_avatar)
    feats = np.asarray(toy_ds.audio_features, np.float32)  # 0.48 s
    traj = VATrajectory(np.array([0.0, 0.2, 0.5]), np.array([[-0.8, -0.2], [0.0, 0.5], [0.6, 0.3]]))
    app = ViewerApp(toy_avatar, src, feats, ViewerConfig(port=0, fps=10.0, verbose=False),
                    state=ViewerState(resolution=32), va_trajectory=traj)
    app.start()
    try:
        assert _until(lambda: app.frames_rendered >= 1)
        assert app.snapshot().valence == 0.0  # paused: the trajectory waits for playback
        app.update(playing=True, time_s=0.0)
        assert _until(lambda: not app.snapshot().playing, timeout=30)
        st = app.snapshot()
        # the trajectory's value at the time where playback stopped, not the sliders' start
        assert np.abs(traj.at([st.time_s])[0] - [st.valence, st.arousal]).max() < 1e-6
        assert st.preset == "custom" and st.valence > 0.0
    finally:
        app.stop()
