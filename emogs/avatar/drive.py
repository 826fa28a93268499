"""Driving an avatar: per-frame conditions (camera, background, audio window, AUs, V/A).

`frame_conditions` takes them from one dataset frame (training, evaluation). For new speech,
`speech_features` turns the audio into the features the avatar was trained on (the extractor
recorded in its config) and `drive_conditions` pairs them with poses from the training frames.
Head pose and torso / background come from the training frames, cycled back and forth
(ping-pong, so there is no jump) or fixed to one frame; AUs likewise come from the training
frames (blinks included) unless overridden.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from .avatar import FrameConditions

SPEECH_RATE = 16000  # Hz: the sample rate `speech_features` expects


class AudioExtractorError(ValueError):
    """The avatar's audio features cannot be computed for new speech here (its extractor is not runnable,
    or it gives features of another size)."""


def frame_conditions(sample, use_va: bool = False) -> FrameConditions:
    """The conditions of one dataset frame (a `emogs.data.PersonSample`): its camera, audio window,
    AUs, torso / background and, with `use_va`, its valence / arousal."""
    return FrameConditions(w2c=sample.w2c.float(), K=sample.K.float(), audio=sample.audio.float(),
                           aus=sample.aus.float(), va=sample.va.float() if use_va else None,
                           background=sample.torso_background.float())


def speech_features(wav: np.ndarray, fps: float, config, num_frames: int | None = None) -> np.ndarray:
    """Features of new speech for an avatar: [T, D] float32, one vector per video frame.

    wav: [N] float32 mono at 16 kHz; fps: the avatar's video rate; config: its `AvatarConfig` (the
    extractor it was trained with and `audio_dim`); num_frames: T (default: the audio's length at fps).
    Raises AudioExtractorError when the recorded extractor cannot run here (imported DeepSpeech /
    HuBERT features) or its features do not have the avatar's size.
    """
    from ..audio.features import extract_audio_features, runnable_extractor

    extractor = runnable_extractor(config.audio_extractor)
    if extractor is None:
        raise AudioExtractorError(
            f"the avatar's audio extractor {config.audio_extractor!r} cannot be run here; features for new "
            "audio need 'whisper' or 'logmel' (refit on a dataset made with one of them).")
    if num_frames is None:
        num_frames = max(1, int(round(len(wav) / SPEECH_RATE * fps)))
    feats, _info = extract_audio_features(wav, num_frames, fps, extractor)
    if feats.shape[1] != config.audio_dim:
        raise AudioExtractorError(f"audio features have {feats.shape[1]} dims, the avatar expects "
                                  f"{config.audio_dim}.")
    return feats


def silence_features(config) -> np.ndarray | None:
    """[D] features of silence for an avatar (its `AvatarConfig`): what it hears between utterances.
    None when its extractor cannot run here or gives features of another size."""
    try:
        feats = speech_features(np.zeros(SPEECH_RATE, np.float32), config.fps, config,
                                max(1, int(config.fps)))
    except AudioExtractorError:
        return None
    return feats[len(feats) // 2]


@dataclass
class DriveOptions:
    """pose: "cycle" (training frames back and forth) or "fixed" (always `fixed_frame`);
    blink: "dataset" (the training frames' AU45), "none" (eyes open) or a number (AU45 value);
    au_overrides: {"AU01": 1.5, ...} fixed AU values; start: first training frame used."""

    pose: str = "cycle"
    fixed_frame: int = 0
    blink: str | float = "dataset"
    au_overrides: dict[str, float] = field(default_factory=dict)
    start: int = 0


def pingpong(i: int, n: int) -> int:
    """0,1,..,n-1,n-2,..,1,0,1,.. for i = 0,1,2,..."""
    if n <= 1:
        return 0
    period = 2 * (n - 1)
    k = i % period
    return k if k < n else period - k


def audio_windows(features: np.ndarray, window: int) -> Iterator[torch.Tensor]:
    """[T,D] per-frame features -> per frame the [2W+1,D] window (edge-padded, as the dataset reader)."""
    T = len(features)
    for t in range(T):
        idx = np.clip(np.arange(t - window, t + window + 1), 0, T - 1)
        yield torch.from_numpy(np.asarray(features[idx], dtype=np.float32))


def drive_conditions(
    dataset,
    features: np.ndarray,
    window: int = 4,
    va: np.ndarray | None = None,
    options: DriveOptions | None = None,
) -> Iterator[FrameConditions]:
    """Conditions for each of the T frames of new audio `features` [T,D].

    dataset: the avatar's PersonDataset (train split: poses, backgrounds and AUs are taken from it).
    va: [T,2] per-frame valence/arousal, or None (no emotion edit).
    """
    opt = options or DriveOptions()
    if opt.pose not in ("cycle", "fixed"):
        raise ValueError(f"pose must be 'cycle' or 'fixed', got {opt.pose!r}")
    frames = np.asarray(dataset.frame_indices)
    if len(frames) == 0:
        raise ValueError("the dataset split has no frames to take head poses from.")
    names = [n.upper() for n in dataset.aus_names]
    blink_i = names.index("AU45") if "AU45" in names else None
    over = {}
    for k, v in opt.au_overrides.items():
        if k.upper() not in names:
            raise ValueError(f"AU override {k!r} is not one of the avatar's AUs {dataset.aus_names}")
        over[names.index(k.upper())] = float(v)
    if va is not None and len(va) != len(features):
        raise ValueError(f"va has {len(va)} frames but the audio has {len(features)}")
    for t, audio in enumerate(audio_windows(features, window)):
        if opt.pose == "fixed":
            src = int(frames[min(max(opt.fixed_frame, 0), len(frames) - 1)])
        else:
            src = int(frames[pingpong(t + opt.start, len(frames))])
        aus = torch.from_numpy(np.array(dataset.aus[src], dtype=np.float32))
        if blink_i is not None and opt.blink != "dataset":
            aus[blink_i] = 0.0 if opt.blink == "none" else float(opt.blink)
        for i, v in over.items():
            aus[i] = v
        yield FrameConditions(
            w2c=dataset.w2c[src].float(),
            K=dataset.K.float(),
            audio=audio,
            aus=aus,
            va=None if va is None else torch.as_tensor(va[t], dtype=torch.float32),
            background=dataset.torso_background(src).float(),
        )
