"""Training configuration: dataclasses filled from the YAML presets in `configs/`.

    cfg = load_config("quick")                 # configs/quick.yaml
    cfg = load_config("my.yaml", overrides={"stages": {"canonical": 100}})

Every value is checked against its field's type (emogs.config_cli: a string where a number is
expected is an error naming the key); unknown keys are errors. The sections are the library's own
dataclasses where one exists: `densify` is emogs.gaussians.DensifyStrategy (shared by the face and
mouth sets, each capped at model.max_face / model.max_mouth), `model` extends
emogs.avatar.AvatarOptions. Configs written before (avatar.json's train.config, old YAML files) with
`densify.max_face` / `densify.max_mouth` are read as model.max_face / model.max_mouth.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..avatar import AvatarOptions
from ..config_cli import ConfigError, from_dict, load_yaml
from ..fields.encoding import TriplaneConfig
from ..gaussians import DensifyStrategy
from .stages import STAGES

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclass
class ModelConfig(AvatarOptions):
    """The avatar's options (emogs.avatar.AvatarOptions: sizes, hidden widths, embedding, backend) plus
    what training decides: the Gaussian budgets, the eyeballs' training, the hash encoders' sizes (->
    AvatarConfig's TriplaneConfigs, `encoders()`) and whether to fit the emotion branch."""

    # densification caps of the face and mouth sets (emogs.gaussians.DensifyStrategy.max_gaussians)
    max_face: int = 30_000
    max_mouth: int = 5_000
    # what the fit trains of the eyeballs: "colours" (their colours, in the emotion stage only: where they
    # stay as placed and painted, opaque) or "all" (every parameter in every stage)
    eye_training: str = "colours"
    hash_log2_table_size: int = 17
    hash_levels: int = 12
    face_finest_resolution: int = 38  # TalkingGaussian: 256 * bound
    mouth_finest_resolution: int = 57  # 384 * bound
    # the emotion branch's grid: lids and the eyeball they uncover are ~1 mm features (256: 1.2 mm cells);
    # at the face's 38 (8 mm cells) the eye region's error was 12.6 grey levels vs 12.2 (docs/emotion.md)
    emotion_finest_resolution: int = 256
    with_emotion: str = "auto"  # "auto" (when the dataset has emotion/ frames) | "on" | "off"
    hash_backend: str = "auto"  # hash-grid backend: auto | cpu | cuda | torch | tcnn (emogs.backends)

    def options(self) -> dict:
        """The AvatarOptions fields of this config (keyword arguments of AvatarConfig)."""
        return {f.name: getattr(self, f.name) for f in fields(AvatarOptions)}

    def encoders(self) -> dict[str, TriplaneConfig]:
        """AvatarConfig's face_encoder / mouth_encoder / emotion_encoder from the hash sizes."""
        lv, t, hb = self.hash_levels, self.hash_log2_table_size, self.hash_backend
        return {
            "face_encoder": TriplaneConfig(num_levels=lv, log2_table_size=t, base_resolution=16,
                                           finest_resolution=self.face_finest_resolution, backend=hb),
            "mouth_encoder": TriplaneConfig(num_levels=lv, log2_table_size=t,
                                            base_resolution=min(64, self.mouth_finest_resolution),
                                            finest_resolution=self.mouth_finest_resolution, backend=hb),
            "emotion_encoder": TriplaneConfig(num_levels=lv, log2_table_size=min(15, t), base_resolution=16,
                                              finest_resolution=self.emotion_finest_resolution, backend=hb),
        }


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
    densify: DensifyStrategy = field(default_factory=DensifyStrategy)  # max_gaussians: model.max_face/mouth
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

    def __post_init__(self):
        bad = sorted(set(self.stages) - set(STAGES))
        if bad:
            raise ConfigError(f"unknown stages {bad} in 'stages'; stages are {STAGES}")
        self.stages = {s: self.stages.get(s, 0) for s in STAGES}

    def to_dict(self) -> dict:
        """The config as plain data (`config_from_dict` reads it back); without densify.max_gaussians,
        which the trainer sets per Gaussian set from model.max_face / model.max_mouth."""
        d = asdict(self)
        del d["densify"]["max_gaussians"]
        return d

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


# keys of earlier configs -> where they live now (avatar.json keeps the config it was trained with)
_MOVED = {("densify", "max_face"): ("model", "max_face"), ("densify", "max_mouth"): ("model", "max_mouth")}


def _upgrade(data: dict, where: str) -> dict:
    """Move the keys of earlier configs (`_MOVED`) to their current place; refuse densify.max_gaussians
    (each set has its own cap)."""
    data = copy.deepcopy(data)
    for (sec, key), (new_sec, new_key) in _MOVED.items():
        if isinstance(data.get(sec), dict) and key in data[sec]:
            value = data[sec].pop(key)
            if not isinstance(data.setdefault(new_sec, {}), dict):
                break  # a malformed section: the type check names it
            data[new_sec].setdefault(new_key, value)
    if isinstance(data.get("densify"), dict) and "max_gaussians" in data["densify"]:
        raise ConfigError(f"'{where}': densify.max_gaussians is set per Gaussian set; use model.max_face "
                          "and model.max_mouth")
    return data


def _fill(data: dict, where: str) -> TrainConfig:
    """TrainConfig from `data` (read from `where`: a file name or "dict"); errors name both."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a config must be a mapping, got {type(data).__name__}")
    try:
        return from_dict(TrainConfig, _upgrade(data, where))
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


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
        data = load_yaml(f) or {}
    data = _merge(_upgrade(data, p.name), _upgrade(overrides or {}, "overrides"))
    data.setdefault("preset", p.stem)
    return _fill(data, p.name)


def config_from_dict(data: dict) -> TrainConfig:
    """TrainConfig from a mapping (e.g. avatar.json's train.config; type-checked, unknown keys are errors)."""
    return _fill(data, "dict")
