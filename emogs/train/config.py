"""Training configuration: dataclasses filled from the YAML presets in `configs/`.

    cfg = load_config("quick")                 # configs/quick.yaml
    cfg = load_config("my.yaml", overrides={"stages": {"canonical": 100}})
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
STAGES = ("canonical", "networks", "fuse", "emotion")


@dataclass
class ModelConfig:
    """Sizes of the avatar (see emogs.avatar.AvatarConfig; dataset-dependent fields are filled in)."""

    sh_degree: int = 2
    num_face: int = 10_000
    num_mouth: int = 2_000
    # eyeballs behind the lids (what raised lids uncover in the emotion stage); 0: none
    num_eyes: int = 1_000
    # what the fit trains of them: "colours" (their colours, in the emotion stage only: where they stay
    # as placed and painted, opaque) or "all" (every parameter in every stage)
    eye_training: str = "colours"
    face_shell_fraction: float = 0.3
    face_hidden: int = 64
    mouth_hidden: int = 32
    emotion_hidden: int = 32
    emotion_embedding: str = "facs"  # the emotion branch reads "facs" (V/A model AU intensities) or raw "va"
    hash_log2_table_size: int = 17
    hash_levels: int = 12
    face_finest_resolution: int = 38  # TalkingGaussian: 256 * bound
    mouth_finest_resolution: int = 57  # 384 * bound
    # the emotion branch's grid: lids and the eyeball they uncover are ~1 mm features (256: 1.2 mm cells);
    # at the face's 38 (8 mm cells) the eye region's error was 12.6 grey levels vs 12.2 (docs/emotion.md)
    emotion_finest_resolution: int = 256
    with_emotion: str = "auto"  # "auto" (when the dataset has emotion/ frames) | "on" | "off"
    backend: str = "auto"  # rasterizer backend: auto | cpu | cuda | gsplat | torch (emogs.backends)
    hash_backend: str = "auto"  # hash-grid backend: auto | cpu | cuda | torch | tcnn (emogs.backends)


@dataclass
class LearningRates:
    """Adam learning rates (TalkingGaussian / 3DGS values); means decay exponentially to means_final."""

    means: float = 1.6e-4
    means_final: float = 1.6e-6
    sh0: float = 2.5e-3
    shN: float = 1.25e-4
    opacity_logit: float = 0.05
    log_scales: float = 3e-3
    quats: float = 1e-3
    delta_n: float = 1e-3
    grid: float = 5e-3
    mlp: float = 5e-4
    fuse_scale: float = 0.1  # every lr is multiplied by this in the fuse stage


@dataclass
class LossWeights:
    dssim: float = 0.2
    lpips: float = 0.0  # only used when `lpips_weights` points at a file
    normal_l1: float = 0.05
    normal_tv: float = 0.01
    delta_n: float = 1e-3
    alpha: float = 0.1  # face / mouth alpha vs their parsing masks
    mouth_region: float = 0.0  # extra L1 averaged over the lips + mouth box (stresses articulation)
    deform: float = 1e-3  # small penalty on the deformation offsets
    sync: float = 1e-3  # L_sync with SyncNet (squared embedding distance); untuned (no weights here)
    # emotion stage: L1 (per px at train_size, over the face mask) between the motion the emotion branch
    # renders and the synthetic frame's exact edit motion (emotion/flow.npy; 0 on real frames)
    emotion_flow: float = 0.0
    # emotion stage: extra L1 averaged over each eye's box (lids and the eyeball they uncover are a
    # few pixels of the frame; like mouth_region for articulation)
    eye_region: float = 0.0


@dataclass
class DensifyConfig:
    grow_grad2d: float = 0.0002
    grow_scale3d: float = 0.01
    prune_opa: float = 0.005
    prune_scale3d: float = 0.1
    refine_start: int = 500
    refine_stop: int = 15_000
    refine_every: int = 100
    reset_every: int = 3000
    max_face: int = 30_000
    max_mouth: int = 5_000


@dataclass
class GuardConfig:
    """NaN / explosion guard: a step whose loss is not finite or exceeds `explode_factor` x the
    running median is skipped and the last good state (kept every `snapshot_every` steps) restored."""

    explode_factor: float = 10.0
    warmup: int = 20
    snapshot_every: int = 50
    max_consecutive: int = 20


@dataclass
class TrainConfig:
    preset: str = "custom"
    seed: int = 0
    train_size: int = 256  # render / supervise at this resolution (the dataset's S is downsampled)
    stages: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STAGES})  # steps per stage
    emotion_real_fraction: float = 0.3  # emotion stage: share of real frames (keeps neutral behaviour)
    model: ModelConfig = field(default_factory=ModelConfig)
    lr: LearningRates = field(default_factory=LearningRates)
    loss: LossWeights = field(default_factory=LossWeights)
    densify: DensifyConfig = field(default_factory=DensifyConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    lpips_weights: str | None = None
    syncnet_weights: str | None = None  # SyncNet state dict: enables L_sync and Sync-E/C in the report
    # L_sync's judge: "syncnet" (needs syncnet_weights), "none", or "auto" (= "syncnet" with weights)
    sync_judge: str = "auto"
    sync_every: int = 4  # add L_sync (five renders + the judge) every N steps of networks / fuse / emotion
    sync_tts_fraction: float = 0.5  # share of L_sync windows on TTS speech (DATASET/tts/, when present)
    checkpoint_every: int = 500
    log_every: int = 50
    num_eval_frames: int = 0  # 0 = the whole validation split
    threads: int = 0  # torch threads (0 = leave as is)

    def to_dict(self) -> dict:
        return asdict(self)

    def total_steps(self, with_emotion: bool = True) -> int:
        return sum(v for k, v in self.stages.items() if with_emotion or k != "emotion")

    def resolved_sync_judge(self, have_syncnet: bool = False) -> str:
        """L_sync's judge: "syncnet" | "none" ("auto" = "syncnet" when SyncNet weights are set or
        `have_syncnet`, else "none")."""
        if self.sync_judge not in ("auto", "syncnet", "none"):
            raise ValueError(f"sync_judge must be auto|syncnet|none, got {self.sync_judge!r}")
        if self.sync_judge == "auto":
            return "syncnet" if (have_syncnet or self.syncnet_weights) else "none"
        return self.sync_judge


def _fill(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"config section '{where}' must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown config keys {unknown} in '{where}'; known: {sorted(known)}")
    kw = {}
    for k, v in data.items():
        default = getattr(cls(), k) if k in known else None
        if is_dataclass(default) and isinstance(v, dict):
            kw[k] = _fill(type(default), v, f"{where}.{k}")
        elif k == "stages":
            bad = sorted(set(v) - set(STAGES))
            if bad:
                raise ValueError(f"unknown stages {bad} in '{where}.stages'; stages are {STAGES}")
            kw[k] = {s: int(v.get(s, 0)) for s in STAGES}
        else:
            kw[k] = v
    return cls(**kw)


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(name_or_path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """A preset name ("quick", "paper") or a YAML path -> TrainConfig (unknown keys are errors)."""
    p = Path(name_or_path)
    if not p.suffix:
        p = CONFIG_DIR / f"{name_or_path}.yaml"
    if not p.exists():
        presets = sorted(x.stem for x in CONFIG_DIR.glob("*.yaml"))
        raise FileNotFoundError(
            f"config {name_or_path!r} not found; presets: {presets}, or pass a YAML path."
        )
    with open(p) as f:
        data = yaml.safe_load(f) or {}
    data = _merge(data, overrides or {})
    data.setdefault("preset", p.stem)
    return _fill(TrainConfig, data, p.name)


def config_from_dict(data: dict) -> TrainConfig:
    return _fill(TrainConfig, data, "dict")
