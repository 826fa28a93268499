"""Browser sound snippets (emogs.viewer.sound), the start-up resolution choice, V/A trajectories."""

import base64
import html
import io
import re
import time
import wave

import numpy as np
import pytest

from emogs.viewer.sound import LiveSoundBatcher, chunk_html, command_html, player_html, wav_data_uri


def test_wav_data_uri_round_trips():
    wav = (0.5 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    uri = wav_data_uri(wav)
    assert uri.startswith("data:audio/wav;base64,")
    with wave.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (16000, 1, 1600)
        back = np.frombuffer(w.readframes(1600), "<i2") / 32767
    np.testing.assert_allclose(back, wav, atol=1e-4)
    assert 'id="emogs-audio"' in player_html(wav)


def test_snippets_run_on_render_and_carry_their_arguments():
    cmd = command_html(True, 1.25, seq=7, delay_s=0.1, sent_at=1000.0)
    m = re.fullmatch(r'<img alt="" src="data:," style="display:none" onerror="([^"]*)">', cmd)
    assert m, cmd
    js = html.unescape(m.group(1))
    assert "[true, 1.25, 1000.0, 0.1, 7]" in js and "emogs-audio" in js and "&&" in js
    live = chunk_html([(3, 0.5, np.array([0, 16384, -32768], np.int16)), (4, 0.6, np.zeros(2))], delay_s=0.2)
    js = html.unescape(re.search(r'onerror="([^"]*)"', live).group(1))
    b64 = base64.b64encode(np.array([0, 16384, -32768], "<i2").tobytes()).decode()
    assert f"[['{b64}', 0.5, 3], ['AAAAAA==', 0.6, 4]], 0.2, 16000]" in js


def test_live_batches_cover_every_sample_with_their_media_time():
    b = LiveSoundBatcher(min_s=0.1)
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal(n).astype(np.float32) for n in rng.integers(1, 700, 40)]
    out = [x for c in chunks for x in b.push(c)] + list(b.flush())
    np.testing.assert_array_equal(np.concatenate([p for p, _ in out]), np.concatenate(chunks))
    starts = np.cumsum([0] + [len(p) for p, _ in out[:-1]]) / 16000
    np.testing.assert_allclose([t for _, t in out], starts)
    assert all(len(p) >= 1600 for p, _ in out[:-1])


def test_pick_resolution_measures_and_falls_back(toy_ds, toy_avatar):
    from emogs.viewer import DriveSource
    from emogs.viewer.render import pick_resolution

    src = DriveSource.from_dataset(toy_ds, toy_avatar)  # a 32 px dataset: 512 is capped to 32
    size, fps = pick_resolution(toy_avatar, src, min_fps=0.0, sizes=(512, 16), frames=1)
    assert size == 32 and list(fps) == [32] and fps[32] > 0  # fast enough: the largest, measured
    size, fps = pick_resolution(toy_avatar, src, min_fps=1e9, sizes=(32, 16), frames=1)
    assert size == 16 and list(fps) == [32]  # nothing that fast: the smallest (not measured)


def test_trajectory_sets_va_while_playing_until_a_slider_moves(toy_ds, toy_avatar):
    pytest.importorskip("viser")
    from emogs.emotion import VATrajectory
    from emogs.viewer import DriveSource, ViewerState
    from emogs.viewer.app import ViewerApp, ViewerConfig

    src = DriveSource.from_dataset(toy_ds, toy_avatar)
    feats = np.asarray(toy_ds.audio_features, np.float32)
    traj = VATrajectory([0.0, 0.4], [[-0.8, 0.0], [0.8, 0.6]])
    app = ViewerApp(toy_avatar, src, feats, ViewerConfig(port=0, verbose=False),
                    state=ViewerState(resolution=32), va_trajectory=traj)
    app.start()
    try:
        assert app.gui["trajectory"].value is True
        app.update(playing=True, time_s=0.0)
        end = time.monotonic() + 20
        while app.snapshot().playing and time.monotonic() < end:
            time.sleep(0.02)
        st = app.snapshot()
        np.testing.assert_allclose([st.valence, st.arousal], traj.at([st.time_s])[0], atol=0.02)
        app._manual_va(valence=0.1)  # what moving the valence slider does
        assert not app.follow_trajectory and app.gui["trajectory"].value is False
        app.update(playing=True, time_s=0.0)
        time.sleep(0.2)
        assert app.snapshot().valence == pytest.approx(0.1)
    finally:
        app.stop()
