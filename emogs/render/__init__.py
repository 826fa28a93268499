"""Gaussian splatting: `rasterize(...)` with cpu / cuda / gsplat / torch backends (docs/rasterizer.md)."""

from .api import RenderOutput, available_backends, rasterize
from .sh import eval_sh

__all__ = ["rasterize", "RenderOutput", "eval_sh", "available_backends"]
