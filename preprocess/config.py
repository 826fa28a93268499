"""Preprocessing configuration (one dataclass; every field is a CLI flag of `python -m preprocess`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class PreprocessConfig:
    # decode
    fps: float = 25.0                 # output frame rate (constant; frames picked by timestamp)
    size: int = 512                   # side of the square face crop, pixels
    crop_margin: float = 2.8          # crop side = margin x median face-box side
    crop_smooth_s: float = 1.0        # std of the Gaussian (zero-phase) smoothing of the crop centre, seconds
    detect_width: int = 320           # width of the low-resolution first pass that finds the face track
    detect_every: int = 5             # run the first-pass face detector on every k-th output frame
    sample_rate: int = 16000
    no_audio: bool = False            # allow videos without an audio track
    min_frames: int = 25              # shorter videos are rejected
    min_face_fraction: float = 0.5    # fail when fewer frames than this have a face
    # landmarks
    landmark_backend: str = "mediapipe"   # "mediapipe" or "dlib" (dlib's 68 points; mesh still MediaPipe)
    smooth_landmarks: bool = True
    # camera
    focal_candidates: int = 9         # focal grid for the joint focal / pose search
    pose_smooth_sigma: float = 0.7    # frames; zero-phase Gaussian smoothing of the poses
    # parsing / normals / aus / audio
    parsing_backend: str = "geometry"     # "geometry" or "bisenet"
    parsing_weights: str | None = None    # BiSeNet 19-class checkpoint (79999_iter.pth) for "bisenet"
    audio_extractor: str = "whisper"      # "whisper" or "logmel"
    audio_window: int = 4
    openface_csv: str | None = None       # import AUs from an OpenFace FeatureExtraction CSV instead
    audio_features_file: str | None = None  # import user HuBERT / DeepSpeech features (.npy) instead
    va_backend: str = "fer"               # V/A of real frames: "fer" (valence_arousal.py) or "none" (zeros)
    va_stride: int = 5                    # judge every k-th frame, interpolate between (~1 ms/frame at 5)
    lipsync_judge_steps: int = 1200       # training steps of the person's own lip-sync judge (0 = none)
    occluder_grow: float = 0.15           # occluders stage: a hand's mask grown by this x its size
    val_interleaved: int = 0              # >0: also hold out this many validation blocks spread over the clip
    # speed (not part of any stage's inputs: results do not depend on it)
    workers: int = 0                  # processes for the per-frame stages (parsing, normals); 0 = auto (<= 2)
    # contact sheet
    contact_frames: int = 6

    def stage_params(self, names: tuple[str, ...]) -> dict:
        d = asdict(self)
        return {k: d[k] for k in names}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
