"""The training stages as data: what each stage trains, which losses it adds up and which
deformations its renders use. The trainer reads these; it has no per-stage branches.

    STAGE_SPECS["networks"].trains   # frozenset({"gaussians", "nets"})

Parameter groups (`StageSpec.trains`): "gaussians" (the face and mouth sets), "nets" (the face and
mouth manipulation networks), "emotion" (the emotion branch), "eyes" (every eyeball parameter; added to
every stage by model.eye_training "all") and "eye_colours" (the eyeballs' SH colours).
Loss terms (`StageSpec.losses`, weighted by TrainConfig.loss; see emogs.train.objective): "rgb" (L1 +
D-SSIM, always), "lpips", "mouth_region", "eye_region", "normal", "emotion_flow", "alpha", "deform"
(offset penalty) and "sync" (L_sync, when a judge is configured).
"""

from __future__ import annotations

from dataclasses import dataclass

PARAM_GROUPS = ("gaussians", "nets", "emotion", "eyes", "eye_colours")
LOSS_TERMS = ("rgb", "lpips", "mouth_region", "eye_region", "normal", "emotion_flow", "alpha", "deform",
              "sync")


@dataclass(frozen=True)
class StageSpec:
    """One training stage.

    trains: parameter groups that receive gradients and optimiser steps (PARAM_GROUPS).
    losses: loss terms added up (LOSS_TERMS; "rgb" is required); weights come from TrainConfig.loss.
    deform: the audio / AU networks deform the face and mouth (else the canonical Gaussians render).
    emotion: the emotion branch deforms the face at the sample's V/A, and emotional frames are mixed in
        (share 1 - emotion_real_fraction); the stage runs only when the dataset has them.
    densify: grow / prune the face and mouth sets (TrainConfig.densify).
    lr_scale: a TrainConfig.lr field every learning rate is multiplied by (None: 1).
    means_decay: the means' learning rate decays (lr.means -> lr.means_final) over the steps of the
        stages that set this, and stays at lr.means_final after them.
    """

    trains: frozenset[str]
    losses: frozenset[str]
    deform: bool = True
    emotion: bool = False
    densify: bool = False
    lr_scale: str | None = None
    means_decay: bool = False

    def __post_init__(self):
        bad = sorted(set(self.trains) - set(PARAM_GROUPS)) + sorted(set(self.losses) - set(LOSS_TERMS))
        if bad:
            raise ValueError(f"unknown parameter groups / loss terms {bad}; groups: {PARAM_GROUPS}, "
                             f"terms: {LOSS_TERMS}")
        if "rgb" not in self.losses:
            raise ValueError("a stage's losses must include 'rgb'")


_COMMON = frozenset({"rgb", "normal", "deform"})

STAGE_SPECS: dict[str, StageSpec] = {
    # Gaussians only, no deformation, alpha-mask terms, densification
    "canonical": StageSpec(trains=frozenset({"gaussians"}), losses=_COMMON | {"alpha"}, deform=False,
                           densify=True, means_decay=True),
    # the audio / AU networks join
    "networks": StageSpec(trains=frozenset({"gaussians", "nets"}),
                          losses=_COMMON | {"alpha", "mouth_region", "sync"}, densify=True, means_decay=True),
    # everything fine-tuned at lr.fuse_scale x the learning rates; LPIPS when weights exist
    "fuse": StageSpec(trains=frozenset({"gaussians", "nets"}),
                      losses=_COMMON | {"alpha", "mouth_region", "sync", "lpips"}, lr_scale="fuse_scale"),
    # the emotion branch and the eyeballs' colours (what raised lids uncover is only seen here)
    "emotion": StageSpec(trains=frozenset({"emotion", "eye_colours"}),
                         losses=_COMMON | {"mouth_region", "eye_region", "emotion_flow", "sync"},
                         emotion=True),
}
STAGES = tuple(STAGE_SPECS)  # in training order
