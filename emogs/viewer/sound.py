"""Sound in the browser, in step with the picture (viser has no audio element: small HTML snippets do it).

viser renders GUI HTML with `innerHTML`, where `<script>` does not run but an `<img onerror>` handler
does, once per (re)render. So:

* file audio: one hidden `<audio id="emogs-audio">` holding the whole clip (a WAV data URI, sent once),
  and a second HTML element, re-sent on every play / pause / seek, whose handler sets the audio's
  position to the frame clock's (plus the message's travel time, when both clocks agree) and plays or
  pauses it. While playing, the picture follows the server's wall clock and the sound the browser's;
  both run at real speed, so they stay together between commands.
* live audio: each chunk of PCM (>= 100 ms) is sent as base64 int16 with the media time of its first
  sample; the handler schedules it on a Web Audio context at `start + media time + delay`, where
  `delay` covers the stream's look-ahead (the picture of time t can only be rendered once the audio
  up to t + W / fps has arrived) plus one render.

Browsers play sound only after a click in the page (autoplay policy): the play button is that click;
for a live stream, any click in the page enables the sound.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
import wave

import numpy as np

AUDIO_ID = "emogs-audio"
SAMPLE_RATE = 16000


def wav_data_uri(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """float [N] in [-1, 1] -> 'data:audio/wav;base64,...' (16-bit PCM mono)."""
    pcm = (np.clip(np.asarray(wav, np.float32), -1, 1) * 32767).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _on_render(js: str) -> str:
    """HTML that runs `js` (no double quotes) when viser (re)renders it."""
    if '"' in js:
        raise ValueError("the snippet must not contain double quotes (it sits in an HTML attribute)")
    return f'<img alt="" src="data:," style="display:none" onerror="{html.escape(js, quote=False)}">'


def player_html(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """The hidden audio element holding the whole clip (sent once)."""
    return f'<audio id="{AUDIO_ID}" preload="auto" src="{wav_data_uri(wav, sample_rate)}"></audio>'


def command_html(playing: bool, media_time_s: float, seq: int, delay_s: float = 0.0,
                 sent_at: float | None = None) -> str:
    """Play the clip from `media_time_s` (or pause there); `seq` makes each command a new render.
    `delay_s`: how much later than the frame clock the sound should be (the picture's latency)."""
    sent_at = time.time() if sent_at is None else sent_at
    args = json.dumps([bool(playing), float(media_time_s), float(sent_at), float(delay_s), int(seq)])
    js = ("(function(c){var a=document.getElementById('" + AUDIO_ID + "');window.emogsAudioSeq=c[4];"
          "if(!a)return;var lag=Date.now()/1000-c[2];if(!(lag>=0&&lag<2))lag=0;"
          "var t=Math.max(0,c[1]+lag-c[3]);"
          "if(c[0]){a.currentTime=t;var p=a.play();if(p&&p.catch)p.catch(function(e){"
          "window.emogsAudioError=String(e);});}else{a.pause();a.currentTime=c[1];}})(" + args + ")")
    return _on_render(js.replace('"', "'"))


def chunk_html(recent: list[tuple[int, float, np.ndarray]], delay_s: float,
               sample_rate: int = SAMPLE_RATE) -> str:
    """The latest chunks of a live stream: (seq, media time of the first sample, float [N] in [-1, 1]
    or int16 PCM), oldest first. viser (and React) may skip a render when updates come faster than
    it draws, so each snippet repeats the last few chunks and the page schedules those with a `seq`
    it has not scheduled yet (in order, none twice)."""
    items = []
    for seq, t, pcm in recent:
        a = np.asarray(pcm)
        if a.dtype != np.int16:
            a = (np.clip(a.astype(np.float32), -1, 1) * 32767).round().astype(np.int16)
        items.append([base64.b64encode(a.astype("<i2").tobytes()).decode("ascii"), float(t), int(seq)])
    args = json.dumps([items, float(delay_s), int(sample_rate)])
    js = ("(function(c){var C=window.AudioContext||window.webkitAudioContext;if(!C)return;"
          "var x=window.emogsCtx||(window.emogsCtx=new C());if(x.state==='suspended')x.resume();"
          "c[0].forEach(function(k){if(k[2]<=(window.emogsAudioSeq||0))return;window.emogsAudioSeq=k[2];"
          "var s=atob(k[0]),n=s.length>>1,b=x.createBuffer(1,Math.max(n,1),c[2]),d=b.getChannelData(0);"
          "for(var i=0;i<n;i++){var v=s.charCodeAt(2*i)|(s.charCodeAt(2*i+1)<<8);"
          "d[i]=(v>32767?v-65536:v)/32768;}"
          "if(window.emogsStart===undefined||k[1]===0)window.emogsStart=x.currentTime-k[1]+c[1];"
          "var at=window.emogsStart+k[1];if(at<x.currentTime){window.emogsStart+=x.currentTime-at;"
          "at=x.currentTime;}var src=x.createBufferSource();src.buffer=b;src.connect(x.destination);"
          "src.start(at);window.emogsLiveSamples=(window.emogsLiveSamples||0)+n;});})(" + args + ")")
    return _on_render(js.replace('"', "'"))


class LiveSoundBatcher:
    """Collects live PCM chunks (any size) and yields (samples, media time of the first) every
    `min_s` seconds of audio, so the browser gets ~10 messages a second, not one per 20 ms chunk."""

    def __init__(self, min_s: float = 0.1, sample_rate: int = SAMPLE_RATE):
        self.min_n = max(1, int(min_s * sample_rate))
        self.sample_rate = sample_rate
        self._parts: list[np.ndarray] = []
        self._n = 0
        self.samples_sent = 0

    def push(self, chunk: np.ndarray):
        a = np.asarray(chunk).reshape(-1)
        if a.size:
            self._parts.append(a)
            self._n += a.size
        if self._n >= self.min_n:
            yield self._take()

    def flush(self):
        if self._n:
            yield self._take()

    def _take(self) -> tuple[np.ndarray, float]:
        out = np.concatenate(self._parts)
        t = self.samples_sent / self.sample_rate
        self.samples_sent += out.size
        self._parts, self._n = [], 0
        return out, t
