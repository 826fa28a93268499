"""The avatar's Gaussians at one frame's conditions, as plain arrays (for a PLY export, or a viewer).

The face (with the eyeballs, which do not deform) and the inside-mouth sets are deformed exactly as
`Avatar.render` deforms them (audio / AU offsets, then the emotion branch's at `cond.va`), in the
avatar's canonical head space (the camera of `cond.w2c` is not applied).
"""

from __future__ import annotations

import numpy as np
import torch

from .avatar import Avatar, FrameConditions


@torch.no_grad()
def deformed_gaussians(avatar: Avatar, cond: FrameConditions) -> dict[str, np.ndarray]:
    """-> {"means" [N,3], "quats" [N,4] (wxyz, unit), "log_scales" [N,3], "opacity_logit" [N],
    "sh0" [N,1,3], "shN" [N,K-1,3], "part" [N] (0 face, 1 eyes, 2 mouth)} float32 (part uint8),
    N = face + eyes + mouth Gaussians."""
    va = cond.va.float() if cond.va is not None else None
    sets = [(avatar.face, avatar.face_net, (cond.audio.float(), cond.aus.float()), va),
            (avatar.eyes, None, (), None),
            (avatar.mouth, avatar.mouth_net, (cond.audio.float(),), None)]
    keys = ("means", "quats", "log_scales", "opacity_logit", "sh0", "shN", "part")
    out: dict[str, list] = {k: [] for k in keys}
    k_rest = max(g.params["shN"].shape[1] for g, *_ in sets if g is not None)
    for part, (g, net, args, v) in enumerate(sets):
        if g is None:
            continue
        means, quats, scales, _ = avatar._deformed(g, net, args, v)
        shN = g.params["shN"]
        if shN.shape[1] < k_rest:  # a lower SH degree: the higher bands are zero
            shN = torch.cat([shN, shN.new_zeros(len(shN), k_rest - shN.shape[1], 3)], 1)
        for key, val in (("means", means), ("quats", quats), ("log_scales", scales.log()),
                         ("opacity_logit", g.params["opacity_logit"].reshape(-1)),
                         ("sh0", g.params["sh0"].reshape(-1, 1, 3)), ("shN", shN)):
            out[key].append(val.detach().float().cpu().numpy())
        out["part"].append(np.full(len(means), part, np.uint8))
    return {k: np.concatenate(v) for k, v in out.items()}
