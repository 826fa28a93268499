"""Evaluation protocols and metrics of an avatar.

  reconstruction  evaluate_avatar: validation-split PSNR / SSIM / LPIPS / LMD / AUE / FPS, Sync-E/C and
                  the person judge's sync on the renders and the real frames, side-by-side video
  heldout         heldout_eval: the avatar speaks audio it never heard (lip sync, mouth LMD vs truth)
  emotion         emotion_metrics: the 12-target judge protocol, lip preservation, motion fidelity
The per-image metrics themselves are `emogs.metrics` (PSNR, SSIM, LMD, AUE) and
`emogs.emotion.metrics`; lip-sync scores are `emogs.lipsync.scores`.
"""

from .emotion import emotion_metrics
from .heldout import heldout_eval
from .reconstruction import evaluate_avatar

__all__ = ["emotion_metrics", "evaluate_avatar", "heldout_eval"]
