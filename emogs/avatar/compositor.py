"""Compositing: face over inside-mouth over the video's torso / background (TalkingGaussian order).

All layers are premultiplied: `rgb` is the accumulated colour sum_i w_i c_i of a Gaussian set
rendered over nothing, `alpha` its accumulated opacity. Shapes: rgb [H,W,C], alpha [H,W,1],
background [H,W,C].
"""

from __future__ import annotations

import torch
from torch import Tensor


def background_at(background: Tensor | None, height: int, width: int,
                  device: torch.device | str | None = None) -> Tensor:
    """The backdrop [H,W,3] for a render of height x width: black without one (on `device`, default
    cpu), area-resized when its size differs (e.g. the dataset's torso plate under a smaller render)."""
    if background is None:
        return torch.zeros(height, width, 3, device=device)
    if background.shape[:2] != (height, width):
        return torch.nn.functional.interpolate(
            background.permute(2, 0, 1)[None].float(), size=(height, width), mode="area"
        )[0].permute(1, 2, 0)
    return background


def over(front_rgb: Tensor, front_alpha: Tensor, back: Tensor) -> Tensor:
    """Premultiplied `front` over an opaque `back`: front_rgb + (1 - front_alpha) back."""
    return front_rgb + (1.0 - front_alpha) * back


def composite(
    face_rgb: Tensor, face_alpha: Tensor, mouth_rgb: Tensor, mouth_alpha: Tensor, background: Tensor
) -> Tensor:
    """face + (1 - a_face) (mouth + (1 - a_mouth) background) -> [H,W,C]."""
    if not (face_rgb.shape[:2] == mouth_rgb.shape[:2] == background.shape[:2]):
        raise ValueError(
            f"compositor layers differ in size: face {tuple(face_rgb.shape)}, "
            f"mouth {tuple(mouth_rgb.shape)}, "
            f"background {tuple(background.shape)}; render all layers at the background's size."
        )
    return over(face_rgb, face_alpha, over(mouth_rgb, mouth_alpha, background))


def composite_alpha(face_alpha: Tensor, mouth_alpha: Tensor) -> Tensor:
    """Total coverage of the two Gaussian layers [H,W,1]."""
    return face_alpha + (1.0 - face_alpha) * mouth_alpha
