"""The viewer in a real headless browser (Chromium + chromedriver from the system packages, selenium
from PyPI): the page shows the avatar and its controls, the picture changes with them, and the
loaded audio plays in step with the frame clock. Skipped, saying why, where Chromium is absent
(`apt-get install chromium chromium-driver`: ~1.5 min, so not part of `make sysdeps`)."""

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("viser")
webdriver = pytest.importorskip("selenium.webdriver",
                                reason="selenium (requirements-nodeps.txt) drives Chromium")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="no Chromium / chromedriver: apt-get install chromium chromium-driver")

from emogs.viewer import DriveSource, ViewerState  # noqa: E402
from emogs.viewer.app import ViewerApp, ViewerConfig  # noqa: E402


def _until(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return True
        except Exception:  # the page is still building its elements
            pass
        time.sleep(0.1)
    return False


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _picture(drv) -> np.ndarray:
    """The page's WebGL canvas (where viser draws the streamed image) as RGB uint8."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    canvas = drv.find_element(By.TAG_NAME, "canvas")
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB"))


def test_page_shows_the_avatar_controls_and_plays_the_sound(browser, toy_ds, toy_avatar, tmp_path):
    from selenium.webdriver.common.by import By

    src = DriveSource.from_dataset(toy_ds, toy_avatar)
    feats = np.asarray(toy_ds.audio_features, np.float32)
    t = np.arange(int(len(feats) / src.fps * 16000)) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    app = ViewerApp(toy_avatar, src, feats, ViewerConfig(host="127.0.0.1", port=0, verbose=False),
                    state=ViewerState(resolution=32), audio_wav=wav)
    app.start()
    try:
        browser.get(app.url)
        assert _until(lambda: browser.find_element(By.TAG_NAME, "canvas").size["width"] > 100, 60), \
            "no canvas: the page did not load"
        labels = ("valence", "arousal", "intensity", "play / pause", "resolution")

        def text() -> str:
            return browser.find_element(By.TAG_NAME, "body").text

        assert _until(lambda: all(lb in text() for lb in labels), 30), text()[:2000]
        assert len(browser.find_elements(By.CSS_SELECTOR, "[role=slider]")) >= 5  # V, A, intensity, ...
        assert _until(lambda: _picture(browser).std() > 5, 30), "the avatar's image never arrived"
        before = _picture(browser)
        app.update(valence=0.9, arousal=0.5, pose="sliders", yaw_deg=25.0)
        assert _until(lambda: np.abs(_picture(browser).astype(int) - before).mean() > 1.0, 30), \
            "the picture did not change with the controls"
        shot = Path(os.environ.get("EMOGS_SCREENSHOT_DIR", tmp_path)) / "viewer_browser.png"
        browser.save_screenshot(str(shot))

        # the sound: one audio element with the clip; play starts it at the frame clock's time
        audio = "return document.getElementById('emogs-audio')"
        assert browser.execute_script(audio + ".src.slice(0, 22)") == "data:audio/wav;base64,"
        assert browser.execute_script(audio + ".paused")
        app.update(playing=True, time_s=0.2)
        assert _until(lambda: not browser.execute_script(audio + ".paused"), 20), \
            browser.execute_script("return window.emogsAudioError || 'no error'")
        time.sleep(0.3)
        sound_t = browser.execute_script(audio + ".currentTime")
        frame_t = app.snapshot().time_s
        assert sound_t > 0.2 and abs(sound_t - frame_t) < 0.25, (sound_t, frame_t)
        app.update(playing=False, time_s=0.1)  # pause (the clip may have ended by itself already)
        seq = app._sound_seq
        assert _until(lambda: browser.execute_script("return window.emogsAudioSeq") == seq, 20)
        assert browser.execute_script(audio + ".paused")
        assert abs(browser.execute_script(audio + ".currentTime") - 0.1) < 0.05
    finally:
        app.stop()


def test_live_audio_reaches_the_browser(browser, make_avatar, tmp_path):
    from emogs.data import PersonDataset
    from emogs.data.synthetic import write_toy_dataset
    from emogs.stream import pcm_chunks

    ds = PersonDataset(write_toy_dataset(tmp_path / "ds", num_frames=6, size=32, audio_dim=80))
    avatar = make_avatar(ds)  # 80 logmel features, as the live stream computes
    src = DriveSource.from_dataset(ds, avatar)
    t = np.arange(16000 * 2) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    started = {}

    def paced():  # real time, once the page is open
        while "go" not in started:
            time.sleep(0.02)
        yield from pcm_chunks(wav, 0.02, realtime=True)

    app = ViewerApp(avatar, src, None, ViewerConfig(host="127.0.0.1", port=0, verbose=False),
                    state=ViewerState(resolution=32), live=paced(), live_extractor="logmel")
    app.start()
    try:
        browser.get(app.url)
        assert _until(lambda: browser.execute_script("return document.readyState") == "complete", 60)
        started["go"] = True
        # every chunk is sent with the 7 before it; on a loaded machine the page may still skip
        # renders for longer than that: at least a quarter of the 2 s, and the last chunk, arrive
        samples = "return window.emogsLiveSamples || 0"
        last = "return window.emogsAudioSeq || 0"
        assert _until(lambda: browser.execute_script(last) == app._sound_seq == 20, 30), \
            (f"the live chunks did not reach the page's audio context ({app.error!r})",
             browser.execute_script("return [window.emogsAudioSeq, window.emogsLiveSamples, "
                                    "window.emogsCtx && window.emogsCtx.state]"), app._sound_seq)
        assert browser.execute_script(samples) >= 8000
        assert app.frames_rendered > 5
    finally:
        app.stop()
