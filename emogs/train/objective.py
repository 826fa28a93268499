"""The training objective of one rendered frame: the loss terms a stage adds up (emogs.train.stages),
weighted by TrainConfig.loss. L_sync (five renders and a judge) is added by the trainer
(emogs.train.sync_term).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import losses
from .config import LossWeights
from .stages import StageSpec
from .targets import Target


def flow_target(spec: StageSpec, w: LossWeights, tgt: Target, synthetic: bool, size: int) -> Tensor | None:
    """The emotion branch's motion target [size,size,2] (px): the synthetic frame's edit motion, zero
    on a real frame; None when the stage has no "emotion_flow" term (or its weight is 0)."""
    if "emotion_flow" not in spec.losses or w.emotion_flow <= 0:
        return None
    return tgt.emotion_flow if synthetic else torch.zeros(size, size, 2, device=tgt.image.device)


def frame_objective(spec: StageSpec, out: dict, tgt: Target, w: LossWeights, delta_n: Tensor,
                    lpips_model=None, flow_tgt: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """(loss, parts) of one render `out` (Avatar.render) against `tgt`.

    delta_n [N,3]: the face's normal residuals (penalised with the normals); lpips_model: used when the
    stage has "lpips"; flow_tgt: from `flow_target` (needs out["emotion_flow"]). parts: "rgb", "normal",
    "flow_px", "alpha" (the terms present) and "psnr" of the clamped render, as floats.
    """
    # occluders (a hand over the face) are left out: no loss, no gradient, never learned into the face
    rgb, image = losses.leave_out(out["rgb"], tgt.image, tgt.occluded)
    lp = lpips_model if "lpips" in spec.losses else None
    l_rgb = losses.rgb_loss(rgb, image, w.dssim, lp, w.lpips)
    if w.mouth_region > 0 and "mouth_region" in spec.losses:
        l_rgb = l_rgb + w.mouth_region * losses.region_l1(rgb, image, tgt.mouth_box)
    if w.eye_region > 0 and "eye_region" in spec.losses and tgt.eye_boxes:
        l_rgb = l_rgb + w.eye_region * sum(
            losses.region_l1(rgb, image, b) for b in tgt.eye_boxes) / len(tgt.eye_boxes)
    loss = l_rgb
    parts = {"rgb": float(l_rgb.detach())}
    if "normal" in spec.losses:
        l_norm = losses.normal_loss(out["normal"], tgt.normals, tgt.normal_valid, delta_n, w.normal_l1,
                                    w.normal_tv, w.delta_n)
        loss = loss + l_norm
        parts["normal"] = float(l_norm.detach())
    if flow_tgt is not None:
        l_flow = losses.flow_l1(out["emotion_flow"], flow_tgt, out["face_alpha"], tgt.face_mask)
        loss = loss + w.emotion_flow * l_flow
        parts["flow_px"] = float(l_flow.detach())
    if "alpha" in spec.losses:
        face_a, face_m = losses.leave_out(out["face_alpha"], tgt.face_mask, tgt.occluded)
        vis_mouth = (1 - out["face_alpha"]) * out["mouth_alpha"]
        vis_mouth, mouth_m = losses.leave_out(vis_mouth, tgt.mouth_mask, tgt.occluded)
        l_a = losses.alpha_mask_loss(face_a, face_m) + losses.alpha_mask_loss(vis_mouth, mouth_m)
        loss = loss + w.alpha * l_a
        parts["alpha"] = float(l_a.detach())
    offs = [v for d in out["offsets"].values() for v in d.values()]
    if offs and "deform" in spec.losses:
        loss = loss + losses.deformation_reg(*offs, weight=w.deform)
    with torch.no_grad():
        mse = float(((rgb.clamp(0, 1) - image) ** 2).mean())
    parts["psnr"] = -10 * math.log10(max(mse, 1e-10))
    return loss, parts
