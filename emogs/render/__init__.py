"""Gaussian splatting: `rasterize(...)` with cpu / cuda / gsplat / torch backends (docs/rasterizer.md)."""

from .api import BackendUnavailable, RenderOutput, available_backends, rasterize, resolve_backend
from .sh import eval_sh

__all__ = ["rasterize", "RenderOutput", "eval_sh", "available_backends", "resolve_backend",
           "BackendUnavailable"]
