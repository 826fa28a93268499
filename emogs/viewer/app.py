"""The web viewer: viser GUI controls -> ViewerState -> render_view -> JPEG background image.

    app = ViewerApp(avatar, source, audio_features=feats, config=ViewerConfig(port=8080))
    app.start()          # serves http://127.0.0.1:8080, renders in a background thread
    app.wait(max_seconds=None)   # until Ctrl-C (or the bound)
    app.stop()

One render thread owns the avatar. While playing it follows the wall clock through a
FramePacer (frames are dropped, never queued, when rendering is slower than the audio);
when paused it re-renders only after a control changed. With live audio (`live=` an iterator
of PCM chunks), an audio thread turns chunks into frames (emogs.stream) and leaves only the
newest in a one-slot mailbox for the render thread.

Sound (`sound.py`): the loaded clip (`audio_wav=`) plays in the browser from the frame clock's time
on every play / seek; live PCM is forwarded in ~100 ms chunks, delayed by the stream's look-ahead.
A V/A trajectory (`va_trajectory=`) sets valence / arousal from the time while it is followed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .loop import FramePacer
from .render import render_view
from .source import DriveSource
from .state import POSE_SOURCES, RESOLUTIONS, ViewerState, preset_names, with_preset

POSE_LABELS = {"frames": "training frames", "fixed": "fixed frame", "sliders": "yaw / pitch sliders"}


@dataclass
class ViewerConfig:
    """host / port of the web server (port 0: any free port); fps: display rate while playing
    (default: the source's; the audio frame shown is the one at the display time); jpeg_quality of
    the streamed images; verbose: viser's banner."""

    host: str = "127.0.0.1"
    port: int = 8080
    fps: float | None = None
    jpeg_quality: int = 85
    verbose: bool = True
    sound: bool = True  # play the audio in the browser
    sound_delay_s: float = 0.0  # extra delay of the sound (the picture's latency: encode + network)


def letterbox(img: np.ndarray, aspect: float, color: int = 24) -> np.ndarray:
    """Pad uint8 [H,W,3] to width / height = `aspect` (the browser viewport) so it is not stretched."""
    h, w = img.shape[:2]
    if not (aspect > 0 and np.isfinite(aspect)):
        return img
    tw, th = max(w, int(round(h * aspect))), max(h, int(round(w / aspect)))
    if (tw, th) == (w, h):
        return img
    out = np.full((th, tw, 3), color, np.uint8)
    y, x = (th - h) // 2, (tw - w) // 2
    out[y : y + h, x : x + w] = img
    return out


def _aspect_of(client) -> float | None:
    """The browser viewport's width / height, None until the client reported its camera."""
    try:
        return float(client.camera.aspect)
    except (AssertionError, ZeroDivisionError, AttributeError):
        return None


class ViewerApp:
    """The interactive viewer (see the module docstring)."""

    def __init__(self, avatar, source: DriveSource, audio_features: np.ndarray | None = None,
                 config: ViewerConfig | None = None, state: ViewerState | None = None,
                 live: Iterable[np.ndarray] | None = None, live_extractor: str = "logmel",
                 audio_wav: np.ndarray | None = None, va_trajectory=None):
        self.avatar = avatar
        self.source = source
        self.features = audio_features
        self.config = config or ViewerConfig()
        self.state = (state or ViewerState(resolution=min(256, source.size))).validate()
        self.fps = float(self.config.fps or source.fps)
        self.duration_s = (len(audio_features) / source.fps) if audio_features is not None else 0.0
        self._live_iter = live
        self._live_box = None
        if live is not None:
            from ..stream import LatestFrame

            self._live_box = LatestFrame()
        self._live_extractor = live_extractor
        self.audio_wav = audio_wav if self.config.sound else None  # 16 kHz mono of `audio_features`
        # an emogs.emotion.VATrajectory (--va-trajectory keyframes, or --emotion-from clip.mp4): followed in
        # the audio's time until a V/A slider is moved
        self.va_trajectory = va_trajectory
        self.follow_trajectory = va_trajectory is not None
        self._sound_seq = 0
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.pacer = FramePacer(self.fps)
        self.server = None
        self.gui: dict = {}
        self.last_image: np.ndarray | None = None
        self.frames_rendered = 0
        self.error: BaseException | None = None
        self._aspect = 16 / 9

    # ------------------------------------------------------------------------------ state
    def update(self, **changes) -> ViewerState:
        """Apply UI changes (validated) and schedule a re-render; a time change re-anchors playback."""
        with self._lock:
            self.state = self.state.replace(**changes)
            if "time_s" in changes:
                self._apply_trajectory(self.state.time_s)
            if "time_s" in changes or "playing" in changes:
                self.pacer.restart(int(np.floor(self.state.time_s * self.fps + 1e-9)))
                self._sound_command(self.state)  # the sound starts / stops with the frame clock
            st = self.state
        self._dirty.set()
        return st

    def _sound_command(self, st: ViewerState) -> None:
        if self.audio_wav is None or "sound_cmd" not in self.gui:
            return
        from .sound import command_html

        self._sound_seq += 1
        self.gui["sound_cmd"].content = command_html(st.playing, st.time_s, self._sound_seq,
                                                     self.config.sound_delay_s)

    def _apply_trajectory(self, time_s: float) -> None:
        """V/A from the trajectory at `time_s` (while it is followed); call with the lock held."""
        if self.va_trajectory is None or not self.follow_trajectory:
            return
        v, a = (float(x) for x in np.clip(self.va_trajectory.at([time_s])[0], -1, 1))
        self.state = dataclasses.replace(self.state, valence=v, arousal=a, preset="custom")

    def snapshot(self) -> ViewerState:
        with self._lock:
            return dataclasses.replace(self.state)

    # ------------------------------------------------------------------------------ server
    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("the viewer is not started; call start() first.")
        return f"http://{self.server.get_host()}:{self.server.get_port()}"

    def start(self) -> ViewerApp:
        """Start the web server, the GUI and the render thread (and the live-audio thread)."""
        try:
            import viser
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the viewer needs viser: `pip install viser==1.1.1` "
                              "(see requirements.txt).") from err
        self.server = viser.ViserServer(host=self.config.host, port=self.config.port, label="emogs",
                                        verbose=self.config.verbose)
        self._build_gui()
        # a new browser: re-send the image once its viewport size is known (letterboxed to it)
        self.server.on_client_connect(self._on_client)
        self._spawn(self._render_loop, "emogs-viewer-render")
        if self._live_iter is not None:
            self._spawn(self._live_loop, "emogs-viewer-audio")
        self._dirty.set()
        return self

    def _spawn(self, fn, name: str) -> None:
        th = threading.Thread(target=self._guard(fn), name=name, daemon=True)
        th.start()
        self._threads.append(th)

    def _guard(self, fn):
        def run():
            try:
                fn()
            except BaseException as err:  # surfaced to the caller by wait()
                self.error = err
                self._stop.set()
        return run

    def wait(self, max_seconds: float | None = None) -> None:
        """Block until stop() / Ctrl-C / `max_seconds`; re-raise a render-thread error."""
        end = None if max_seconds is None else time.monotonic() + max_seconds
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                self._stop.wait(0.2)
        except KeyboardInterrupt:
            pass
        if self.error is not None:
            raise RuntimeError(f"the viewer's render thread failed: {self.error!r}") from self.error

    def stop(self) -> None:
        """Stop the threads and the web server (idempotent)."""
        self._stop.set()
        self._dirty.set()
        for th in self._threads:
            th.join(timeout=10)
        self._threads.clear()
        if self.server is not None:
            self.server.stop()

    # ------------------------------------------------------------------------------ GUI
    def _build_gui(self) -> None:
        gui, st, g = self.server.gui, self.state, self.gui
        has_emotion = self.avatar.emotion_net is not None
        g["stats"] = gui.add_markdown("starting...")
        with gui.add_folder("Emotion"):
            g["emotion"] = gui.add_checkbox("emotion on", st.emotion, disabled=not has_emotion,
                                            hint=None if has_emotion else "this avatar has no emotion branch")
            g["valence"] = gui.add_slider("valence", -1.0, 1.0, 0.01, st.valence, disabled=not has_emotion)
            g["arousal"] = gui.add_slider("arousal", -1.0, 1.0, 0.01, st.arousal, disabled=not has_emotion)
            g["preset"] = gui.add_dropdown("preset", preset_names(), initial_value=st.preset,
                                           disabled=not has_emotion)
            g["intensity"] = gui.add_slider("intensity", 0.0, 1.0, 0.05, st.intensity,
                                            disabled=not has_emotion)
            if self.va_trajectory is not None:
                g["trajectory"] = gui.add_checkbox("follow V/A trajectory", True, disabled=not has_emotion,
                                                   hint="valence / arousal from the keyframes at the "
                                                        "current time; moving a slider stops following")
        with gui.add_folder("Eyes"):
            g["blink_auto"] = gui.add_checkbox("blinks from training frames", st.blink is None)
            g["blink"] = gui.add_slider("blink (AU45)", 0.0, 5.0, 0.05, st.blink or 0.0,
                                        disabled=st.blink is None)
        with gui.add_folder("Head pose"):
            g["pose"] = gui.add_dropdown("source", [POSE_LABELS[p] for p in POSE_SOURCES],
                                         initial_value=POSE_LABELS[st.pose])
            g["fixed_frame"] = gui.add_slider("frame", 0, max(1, len(self.source) - 1), 1,
                                              min(st.fixed_frame, len(self.source) - 1))
            g["yaw"] = gui.add_slider("yaw (deg)", -45.0, 45.0, 1.0, st.yaw_deg)
            g["pitch"] = gui.add_slider("pitch (deg)", -30.0, 30.0, 1.0, st.pitch_deg)
        with gui.add_folder("Audio"):
            live = self._live_iter is not None
            label = "live audio stream" if live else ("no audio loaded" if self.features is None else
                                                     f"{self.duration_s:.1f} s loaded")
            g["audio_info"] = gui.add_markdown(label)
            g["play"] = gui.add_button("play / pause", disabled=self.features is None or live)
            g["time"] = gui.add_slider("time (s)", 0.0, max(self.duration_s, 0.04), 0.04, st.time_s,
                                       disabled=self.features is None or live)
            if self.audio_wav is not None or (live and self.config.sound):
                from .sound import player_html

                g["sound_info"] = gui.add_markdown("sound plays in the browser once the page was clicked "
                                                   "(browser rule): press play / pause")
                g["sound_player"] = gui.add_html(player_html(self.audio_wav) if self.audio_wav is not None
                                                 else "")
                g["sound_cmd"] = gui.add_html("")
        with gui.add_folder("Image"):
            res = [str(r) for r in RESOLUTIONS if r <= 4 * self.source.size] or [str(st.resolution)]
            if str(st.resolution) not in res:
                res.append(str(st.resolution))
            g["resolution"] = gui.add_dropdown("resolution", res, initial_value=str(st.resolution))
            g["snapshot"] = gui.add_button("save snapshot (PNG)")

        def on(name, fn):
            g[name].on_update(lambda ev: self._from_ui(ev, fn))

        on("emotion", lambda v: self.update(emotion=bool(v)))
        on("valence", lambda v: self._manual_va(valence=float(v)))
        on("arousal", lambda v: self._manual_va(arousal=float(v)))
        if "trajectory" in g:
            on("trajectory", self._follow)
        on("preset", lambda v: self._apply_preset(v, g["intensity"].value))
        on("intensity", lambda v: self._apply_preset(g["preset"].value, v))
        on("blink_auto", self._blink_auto)
        on("blink", lambda v: self.update(blink=float(v)) if not g["blink_auto"].value else None)
        on("pose", lambda v: self.update(pose={lab: p for p, lab in POSE_LABELS.items()}[v]))
        on("fixed_frame", lambda v: self.update(fixed_frame=int(v)))
        on("yaw", lambda v: self.update(yaw_deg=float(v), pose="sliders"))
        on("pitch", lambda v: self.update(pitch_deg=float(v), pose="sliders"))
        on("time", lambda v: self.update(time_s=float(v)))
        on("resolution", lambda v: self.update(resolution=int(v)))
        g["play"].on_click(lambda _: self._toggle_play())
        g["snapshot"].on_click(lambda _: self._snapshot_png())

    def _on_client(self, client) -> None:
        def on_camera(cam) -> None:  # viewport resized: re-send with the new letterbox
            aspect = _aspect_of(client)
            if aspect is not None and abs(aspect - self._aspect) > 1e-3:
                self._dirty.set()

        client.camera.on_update(on_camera)
        # the first camera message may have come before the callback above: wait for it (bounded)
        end = time.monotonic() + 5.0
        while _aspect_of(client) is None and time.monotonic() < end and not self._stop.is_set():
            time.sleep(0.05)
        self._dirty.set()
        with self._lock:  # a page opened while playing: its sound joins at the current time
            self._sound_command(self.state)

    def _viewport_aspect(self) -> float:
        for client in self.server.get_clients().values():
            aspect = _aspect_of(client)
            if aspect is not None:
                return aspect
        return 16 / 9

    def _from_ui(self, ev, fn) -> None:
        if ev.client is None:  # our own programmatic update (e.g. the time slider while playing)
            return
        fn(ev.target.value)

    def _manual_va(self, **va) -> None:
        if self.follow_trajectory:
            self.follow_trajectory = False
            self._set_gui(trajectory=False)
        self.update(preset="custom", **va)

    def _follow(self, on: bool) -> None:
        self.follow_trajectory = bool(on)
        with self._lock:
            self._apply_trajectory(self.state.time_s)
            st = self.state
        self._set_gui(valence=st.valence, arousal=st.arousal)
        self._dirty.set()

    def _apply_preset(self, name: str, intensity: float) -> None:
        if name == "custom":
            return
        with self._lock:
            st = with_preset(self.state, name, float(intensity))
            self.state = st
        self._dirty.set()
        self._set_gui(valence=st.valence, arousal=st.arousal)

    def _blink_auto(self, auto: bool) -> None:
        self.gui["blink"].disabled = bool(auto)
        self.update(blink=None if auto else float(self.gui["blink"].value))

    def _toggle_play(self) -> None:
        st = self.snapshot()
        t = st.time_s if st.time_s < self.duration_s - 1.0 / self.source.fps else 0.0
        self.update(playing=not st.playing, time_s=t)

    def _snapshot_png(self) -> None:
        import cv2

        if self.last_image is not None:
            path = f"/tmp/emogs_viewer_{int(time.time())}.png"
            cv2.imwrite(path, self.last_image[..., ::-1])
            self.server.add_notification("snapshot saved", path, auto_close_seconds=4.0)

    def _set_gui(self, **values) -> None:
        for name, v in values.items():
            h = self.gui.get(name)
            if h is not None and h.value != v:
                h.value = v

    # ------------------------------------------------------------------------------ threads
    def render_current(self, audio_window: np.ndarray | None = None) -> np.ndarray:
        """Render the current state (uint8 [R,R,3]) and send it to the browsers."""
        st = self.snapshot()
        t0 = time.perf_counter()
        img = render_view(self.avatar, st, self.features, self.source, audio_window=audio_window)
        dt = time.perf_counter() - t0
        self.last_image = img
        self.frames_rendered += 1
        self.pacer.stats.record(time.monotonic() - dt, time.monotonic())
        if self.server is not None:
            self._aspect = aspect = self._viewport_aspect()
            self.server.scene.set_background_image(letterbox(img, aspect), format="jpeg",
                                                   jpeg_quality=self.config.jpeg_quality)
            s = self.pacer.stats
            mode = "live" if self._live_iter is not None else ("playing" if st.playing else "paused")
            self.gui["stats"].content = (
                f"**{s.fps:.1f} FPS** ({mode}) · render {1000 * dt:.0f} ms · dropped {s.dropped}  \n"
                f"{img.shape[1]}x{img.shape[0]} · t = {st.time_s:.2f} s · V/A = "
                f"({st.valence:+.2f}, {st.arousal:+.2f})"
            )
        return img

    def _render_loop(self) -> None:
        live_box = self._live_box
        while not self._stop.is_set():
            st = self.snapshot()
            if live_box is not None:
                frame = live_box.take()
                if frame is None:
                    self._stop.wait(0.005)
                    continue
                with self._lock:
                    self.state = dataclasses.replace(self.state, time_s=frame.index / self.source.fps)
                    self._apply_trajectory(self.state.time_s)
                self.render_current(frame.audio)
                self.pacer.stats.dropped = live_box.dropped
            elif st.playing and self.features is not None:
                t = self.pacer.take()
                if t is None:
                    self._stop.wait(min(self.pacer.time_to_next(), 0.05))
                    continue
                now_s = t / self.fps  # display tick -> audio time (render_view picks the audio frame)
                if now_s >= self.duration_s:
                    self.update(playing=False, time_s=max(0.0, self.duration_s - 1.0 / self.source.fps))
                    continue
                with self._lock:
                    self.state = dataclasses.replace(self.state, time_s=now_s)
                    self._apply_trajectory(now_s)
                    st = self.state
                self.render_current()
                self._set_gui(time=round(now_s, 2))
                if self.follow_trajectory:
                    self._set_gui(valence=round(st.valence, 2), arousal=round(st.arousal, 2))
            else:
                if not self._dirty.wait(0.1):
                    continue
                self._dirty.clear()
                if not self._stop.is_set():
                    self.render_current()

    def _live_loop(self) -> None:
        from collections import deque

        from ..stream import LiveAudioFeatures, StreamConfig
        from ..stream.live import latency_bound_s
        from .sound import LiveSoundBatcher, chunk_html

        box = self._live_box
        cfg = StreamConfig(fps=self.source.fps, window=self.avatar.config.audio_window,
                           extractor=self._live_extractor, device=str(self.avatar.device))
        live = LiveAudioFeatures(cfg)
        sound = LiveSoundBatcher() if "sound_player" in self.gui else None
        # the picture of time t is rendered once the audio up to t + W / fps (and the extractor's
        # look-ahead) has arrived: the sound waits as long, plus about one render
        delay = latency_bound_s(cfg) + 0.06 + self.config.sound_delay_s

        recent: deque = deque(maxlen=8)  # re-sent with each update: the page may skip renders (0.8 s)

        def send(batches) -> None:
            for pcm, t in batches:
                self._sound_seq += 1
                recent.append((self._sound_seq, t, pcm))
                self.gui["sound_player"].content = chunk_html(list(recent), delay)

        for chunk in self._live_iter:
            if self._stop.is_set():
                return
            if sound is not None:
                send(sound.push(chunk))
            for f in live.push(chunk):
                box.put(f)
        if sound is not None:
            send(sound.flush())
        for f in live.close():
            box.put(f)
