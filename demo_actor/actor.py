"""The digital actor: a portrait photo animated by speech, blinks, head motion and emotion.

``make_clip(speech, out_dir, name, config)`` streams ``NAME.mp4`` (H.264 + AAC) frame by frame and
writes ``NAME_truth.npz`` / ``NAME_truth.json`` (see :mod:`.truth`).

Pipeline per frame k (frame centre t_k = (k + 0.5) / fps):
  phones -> co-articulated mouth (open, width, round, press) -> face rig (neutral rest, blink, brow,
  cheek, smile) -> deformed mesh -> piecewise-affine warp of the portrait -> inside of the mouth
  drawn (the *frontal* frame) -> 3-D head pose: the frontal frame as a texture on the closed,
  posed mesh, rendered far-to-near (:class:`.warp.PosedMeshWarp`). The truth landmarks are the
  posed mesh (exact, not a detection).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from emogs.audio.tts import Speech, write_wav

from .face_rig import Expression, FaceRig
from .life import (
    EmotionSegment,
    blink_track,
    emotion_tracks,
    expression_from_va,
    frame_times,
    head_pose_tracks,
)
from .mouth import draw_mouth
from .pose import HeadPoser, Pose, rotvec, shading_ratio
from .truth import write_truth
from .video import ClipWriter
from .visemes import VISEMES, mouth_tracks
from .warp import PiecewiseAffineWarp, PosedMeshWarp, remap

AAC_FRAME = 1024  # samples per AAC frame


@dataclass
class ActorConfig:
    size: int = 512  # output frames are size x size
    fps: int = 25
    seed: int = 0  # blinks and head motion
    face_scale: float = 2.0  # crop side / face-mesh bounding-box size
    blink_mean_interval: float = 3.5  # s
    yaw_max_deg: float = 14.0  # largest head turn (the drift's peak)
    pitch_max_deg: float = 7.0  # largest nod / tilt up or down
    head_roll_deg: float = 2.0  # std of the roll
    head_shift_px: float = 4.0  # std of the translation (at 512 px)
    head_scale: float = 0.01  # std of the scale change
    anticipation: float = 0.02  # s the mouth leads the sound
    crf: int = 23  # x264 quality (lower = better, bigger)
    emotions: list[EmotionSegment] = field(default_factory=list)


@dataclass
class Portrait:
    """The neutral, square, face-centred portrait and its detected mesh."""

    image: np.ndarray  # uint8 [S, S, 3] RGB
    mesh: np.ndarray  # float32 [478, 3] pixels
    crop: tuple[float, float, float]  # (x0, y0, side) in the source photo
    source: str


def _detect(detector, rgb: np.ndarray, what: str) -> np.ndarray:
    faces = detector(rgb)
    if not faces:
        raise ValueError(f"no face found in {what}; pass a frontal portrait photo "
                         "(face at least ~100 px wide).")
    return faces[0].points


# Real portraits that installed packages ship under clear terms (assets/demo/README.md):
# name -> (loader, source and licence)
def _astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def _hopper() -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        data = np.frombuffer(f.read(), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


PORTRAITS = {
    "astronaut": (_astronaut, "skimage.data.astronaut(): NASA portrait of Eileen Collins, public domain"),
    "hopper": (_hopper, "matplotlib sample_data grace_hopper.jpg: US Navy portrait of Grace Hopper, "
                        "public domain"),
}


def load_portrait(photo: str | np.ndarray | None = None, size: int = 512,
                  face_scale: float = 2.0) -> Portrait:
    """Read ``photo`` (path, RGB array, a name in ``PORTRAITS``, or None = "astronaut"), crop a
    face-centred square of side ``face_scale`` x face size, resize to ``size``, and detect the
    neutral mesh on it."""
    from emogs.face.landmarks import FaceMeshDetector

    if photo is None or (isinstance(photo, str) and photo in PORTRAITS):
        loader, source = PORTRAITS[photo or "astronaut"]
        rgb = loader()
    elif isinstance(photo, str):
        bgr = cv2.imread(photo, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read the photo {photo!r}; pass a JPEG/PNG portrait.")
        rgb, source = bgr[:, :, ::-1].copy(), photo
    else:
        rgb, source = np.asarray(photo), "array"
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"photo must be RGB uint8 [H, W, 3], got {rgb.dtype} {rgb.shape}.")
    with FaceMeshDetector(video_mode=False, max_faces=1) as det:
        pts = _detect(det, rgb, f"the photo ({source})")
        x0, y0 = pts[:, :2].min(0)
        x1, y1 = pts[:, :2].max(0)
        side = float(face_scale * max(x1 - x0, y1 - y0))
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        cx0, cy0 = cx - side / 2, cy - side / 2
        # crop by an affine map (reflecting the border where the square leaves the photo)
        s = size / side
        m = np.array([[s, 0, -cx0 * s + 0.5 * s - 0.5], [0, s, -cy0 * s + 0.5 * s - 0.5]])
        interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
        img = cv2.warpAffine(rgb, m, (size, size), flags=interp, borderMode=cv2.BORDER_REFLECT_101)
        mesh = _detect(det, img, "the cropped portrait")
    return Portrait(img, mesh.astype(np.float32), (float(cx0), float(cy0), side), source)


class DemoActor:
    """Renders frames of one portrait for given expressions and head poses."""

    def __init__(self, portrait: Portrait):
        self.portrait = portrait
        h, w = portrait.image.shape[:2]
        self.rig = FaceRig(portrait.mesh, (h, w))
        self.warp = PiecewiseAffineWarp(portrait.mesh, self.rig.support, (h, w))
        self.warp.verts0[:468, 1] += self.rig.lip_texture_offsets()[:468]  # lips sample lip, not teeth
        self.poser = HeadPoser(portrait.mesh, self.rig.support)
        self.posed_warp = PosedMeshWarp(self.warp)

    def frontal(self, expr: Expression) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> (frontal rgb uint8 [H, W, 3], mesh [478, 3], support [S, 2]) before the head pose."""
        mesh, sup = self.rig.deform(expr)
        mx, my, _ = self.warp.maps(mesh, sup)
        img = remap(self.portrait.image, mx, my)
        r = self.rig
        img = draw_mouth(img, mesh, r._line, float(r.mouth_centre[0]), r.hw, r.gap_max)
        return img, mesh, sup

    def render(self, expr: Expression, pose: Pose | None = None) -> tuple[np.ndarray, np.ndarray]:
        """-> (rgb uint8 [H, W, 3], landmarks float32 [478, 3]) for one frame (pose None = frontal)."""
        img, mesh, sup = self.frontal(expr)
        if pose is None or pose == Pose():
            return img, mesh.astype(np.float32)
        shade = shading_ratio(mesh, pose.matrix(), img.shape[:2])
        img = np.clip(img * shade[..., None], 0, 255).astype(np.uint8)
        verts = self.poser.frontal(mesh, sup)
        posed = self.poser.pose(verts, pose)
        mx, my = self.posed_warp.maps(verts[:, :2], posed)
        return soften_seams(remap(img, mx, my), mx, my), posed[:478].astype(np.float32)


def mouth_gap(landmarks: np.ndarray, pose: Pose) -> float:
    """Inner-lip gap (px) in the frame: vertex 13 -> 14 along the head's own down axis (its image
    projection), so a sideways offset of the two vertices does not count; < 0 = the lips overlap."""
    down = pose.matrix()[:2, 1]
    down = down / max(float(np.linalg.norm(down)), 1e-9)
    return float((landmarks[14, :2] - landmarks[13, :2]) @ down)


def soften_seams(img: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, jump_px: float = 1.5) -> np.ndarray:
    """Anti-alias occlusion edges: where the backward map jumps by more than ``jump_px`` between
    neighbouring pixels (a silhouette, e.g. the nose over the far cheek), use a 3x3 box blur."""
    jx = np.zeros(map_x.shape, bool)
    dx = np.hypot(np.diff(map_x, axis=1), np.diff(map_y, axis=1)) > jump_px
    dy = np.hypot(np.diff(map_x, axis=0), np.diff(map_y, axis=0)) > jump_px
    jx[:, 1:] |= dx
    jx[:, :-1] |= dx
    jx[1:] |= dy
    jx[:-1] |= dy
    if not jx.any():
        return img
    out = img.copy()
    out[jx] = cv2.blur(img, (3, 3))[jx]
    return out


@dataclass
class Performance:
    """Everything that drives a clip, per frame (T frames)."""

    expressions: list[Expression]
    poses: list[Pose]
    euler_deg: np.ndarray  # [T, 3] (pitch, yaw, roll)
    translation: np.ndarray  # [T, 2]
    scale: np.ndarray
    viseme: np.ndarray
    blink: np.ndarray
    va: np.ndarray
    brow: np.ndarray
    cheek: np.ndarray
    audio: np.ndarray  # padded to T * samples-per-frame
    audio_range: np.ndarray  # [T, 2]
    mouth: object


def plan(speech: Speech, actor: DemoActor, config: ActorConfig) -> Performance:
    """Derive all per-frame tracks (deterministic given ``config.seed``)."""
    fps, sr = config.fps, speech.sample_rate
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}.")
    t_frames = int(np.ceil(speech.duration * fps - 1e-9))
    if t_frames < 1:
        raise ValueError("speech is shorter than one frame.")
    spf = sr / fps
    if spf == int(spf):  # pad with silence so the audio fills whole AAC frames: audio length == video length
        while (t_frames * int(spf)) % AAC_FRAME:
            t_frames += 1
    bounds = np.round(np.arange(t_frames + 1) * sr / fps).astype(np.int64)
    audio = np.zeros(bounds[-1], np.float32)
    audio[: len(speech.audio)] = speech.audio[: bounds[-1]]
    audio_range = np.stack([bounds[:-1], bounds[1:]], 1)
    times = frame_times(t_frames, fps)
    mouth = mouth_tracks(speech.phones, times, speech.alphabet, config.anticipation)
    rng = np.random.default_rng(config.seed)
    blink, _ = blink_track(t_frames, fps, rng, mean_interval=config.blink_mean_interval)
    energy = np.array([np.sqrt(np.mean(audio[a:b] ** 2)) for a, b in audio_range])
    energy = energy / max(float(energy.max()), 1e-8)
    scale_px = config.size / 512.0
    hp = head_pose_tracks(t_frames, fps, rng, config.yaw_max_deg, config.pitch_max_deg, config.head_roll_deg,
                          config.head_shift_px * scale_px, config.head_scale, speech_energy=energy)
    va = emotion_tracks(list(config.emotions), times)
    brow, cheek = expression_from_va(va)
    smile = np.clip(1.2 * np.maximum(va[:, 0], 0), 0, 1)
    exprs = [Expression(float(mouth.open[k]), float(mouth.width[k]), float(mouth.round[k]), float(blink[k]),
                        float(blink[k]), float(brow[k]), float(cheek[k]), float(smile[k]),
                        float(mouth.press[k]))
             for k in range(t_frames)]
    poses = [Pose(float(hp.pitch[k]), float(hp.yaw[k]), float(hp.roll[k]), float(hp.tx[k]), float(hp.ty[k]),
                  float(hp.scale[k])) for k in range(t_frames)]
    euler = np.stack([hp.pitch, hp.yaw, hp.roll], 1)
    return Performance(exprs, poses, euler, np.stack([hp.tx, hp.ty], 1), hp.scale, mouth.viseme, blink, va,
                       brow, cheek, audio, audio_range, mouth)


def iter_frames(actor: DemoActor, perf: Performance) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (rgb, landmarks) frame by frame."""
    for k, e in enumerate(perf.expressions):
        yield actor.render(e, perf.poses[k])


def make_clip(speech: Speech, out_dir: str, name: str = "demo", config: ActorConfig | None = None,
              portrait: Portrait | None = None, write_audio_wav: bool = False,
              progress: bool = False) -> dict:
    """Render the clip: ``out_dir/NAME.mp4`` + ``NAME_truth.npz`` + ``NAME_truth.json`` (+ ``NAME.wav``).

    Returns the JSON summary.
    """
    config = config or ActorConfig()
    if portrait is None:
        portrait = load_portrait(None, config.size, config.face_scale)
    if portrait.image.shape[:2] != (config.size, config.size):
        raise ValueError(f"portrait is {portrait.image.shape[:2]}, config.size is {config.size}.")
    os.makedirs(out_dir, exist_ok=True)
    actor = DemoActor(portrait)
    perf = plan(speech, actor, config)
    t_frames = len(perf.expressions)
    landmarks = np.zeros((t_frames, 478, 3), np.float32)
    gaps = np.zeros(t_frames, np.float32)
    mp4 = os.path.join(out_dir, f"{name}.mp4")
    tmp = mp4 + ".tmp.mp4"
    it = iter_frames(actor, perf)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=t_frames, desc=name)
    with ClipWriter(tmp, (config.size, config.size), config.fps, speech.sample_rate, crf=config.crf) as wr:
        for k, (rgb, lm) in enumerate(it):
            a, b = perf.audio_range[k]
            wr.add_frame(rgb, perf.audio[a:b])
            landmarks[k] = lm
            gaps[k] = mouth_gap(lm, perf.poses[k])
    os.replace(tmp, mp4)
    if write_audio_wav:
        write_wav(os.path.join(out_dir, f"{name}.wav"), perf.audio, speech.sample_rate)
    rotvecs = np.stack([rotvec(p.matrix()) for p in perf.poses])
    arrays = {
        # x, y quantised to 1/32 px, z to 1/8 px (max error 0.016 / 0.06 px): the bundle stays < 10 MB
        "landmarks": np.concatenate([np.round(landmarks[..., :2] * 32) / 32,
                                     np.round(landmarks[..., 2:] * 8) / 8], -1).astype(np.float32),
        "neutral_landmarks": portrait.mesh.astype(np.float32),
        "viseme": perf.viseme.astype(np.int64),
        "viseme_names": np.array(VISEMES),
        "mouth_open": perf.mouth.open, "mouth_width": perf.mouth.width, "mouth_round": perf.mouth.round,
        "mouth_gap_px": gaps,
        "au45": (5.0 * perf.blink).astype(np.float32),
        "head_rotvec": rotvecs.astype(np.float32),
        "head_euler_deg": perf.euler_deg.astype(np.float32),
        "head_translation": np.concatenate([perf.translation, np.zeros((t_frames, 1))], 1).astype(np.float32),
        "head_scale": perf.scale.astype(np.float32),
        "head_pivot": actor.poser.pivot.astype(np.float32),
        "mouth_press": perf.mouth.press.astype(np.float32),
        "smile": np.array([e.smile for e in perf.expressions], np.float32),
        "valence_arousal": perf.va.astype(np.float32),
        "brow": perf.brow, "cheek": perf.cheek,
        "audio_range": perf.audio_range.astype(np.int64),
        "fps": np.float64(config.fps), "sample_rate": np.int64(speech.sample_rate),
        "phone_names": np.array([p.name for p in speech.phones]),
        "phone_start": np.array([p.start for p in speech.phones], np.float64),
        "phone_end": np.array([p.end for p in speech.phones], np.float64),
        "phone_alphabet": np.array(speech.alphabet),
    }
    n_blinks = int(np.sum(np.diff((perf.blink > 0.5).astype(np.int8)) == 1) + (perf.blink[0] > 0.5))
    cfg = asdict(config)
    summary = {
        "video": os.path.basename(mp4), "num_frames": t_frames, "fps": config.fps, "size": config.size,
        "duration_s": t_frames / config.fps, "sample_rate": speech.sample_rate,
        "speech": speech.source, "text": speech.meta.get("text") or [p.get("text") for p in
                                                                     speech.meta.get("parts", [])],
        "photo": portrait.source, "crop_in_photo": {"x0": portrait.crop[0], "y0": portrait.crop[1],
                                                   "side": portrait.crop[2]},
        "config": cfg, "num_blinks": n_blinks, "num_phones": len(speech.phones),
        "mouth_gap_px": {"min": float(gaps.min()), "max": float(gaps.max()), "mean": float(gaps.mean())},
        "head_pose": "3-D: head_rotvec (rad, camera frame x right / y down / z forward; x = pitch, "
                     "y = yaw, z = roll) about head_pivot, then translation (tx, ty, 0) px and scale; "
                     "orthographic projection",
        "head_euler_deg": {k: [float(perf.euler_deg[:, i].min()), float(perf.euler_deg[:, i].max())]
                           for i, k in enumerate(("pitch", "yaw", "roll"))},
        "valence_arousal": "commanded; (0, 0) = the neutral rest (lips closed, no smile)",
    }
    write_truth(os.path.join(out_dir, f"{name}_truth.npz"), arrays, summary)
    return summary
