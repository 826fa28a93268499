"""Which rasterizer and hash-grid backends a model gets on a device, checked before any work.

    check_backends("auto", "auto", torch.device("cuda", 0))   # {"raster": "cuda", "hashgrid": "cuda"}
    check_backends("gsplat", "auto", torch.device("cpu"))     # BackendUnavailable: ... needs CUDA ...

"auto" picks the fastest backend for the device (rasterizer: cuda > gsplat on CUDA, cpu > torch on
the CPU; hash grid: the compiled kernels of the device, else the torch reference). A named backend
that cannot run raises `BackendUnavailable` naming why and the fix; tools report it as
`error: ...` with exit code 2 (`require_backends`). The config fields: `model.backend` (rasterizer)
and `model.hash_backend` (hash grid) of a training config; an avatar records both
(`AvatarConfig.backend`, `AvatarConfig.face_encoder.backend`).

tinycudann ("tcnn") is never chosen by "auto": its tables have their own layout and vertex
conventions, so an avatar fitted with it renders only where tinycudann is installed (with a GPU).
"""

from __future__ import annotations

import importlib.util
import sys

import torch

from .render.api import BackendUnavailable, resolve_backend


def resolve_hash_backend(backend: str, device: torch.device | str) -> str:
    """The concrete hash-grid backend ("cpu" | "cuda" | "torch" | "tcnn") of `backend` on `device`."""
    from ._ext import ExtensionNotBuilt
    from .fields.hashgrid import BACKENDS
    from .fields.hashgrid import resolve_backend as resolve_grid

    device = torch.device(device)
    if backend not in BACKENDS:
        raise ValueError(f"unknown hash-grid backend {backend!r}; choose one of {BACKENDS}")
    if backend == "tcnn":
        if device.type != "cuda":
            raise BackendUnavailable(f"hash-grid backend 'tcnn' (tinycudann) needs a CUDA device, got "
                                     f"{device}; use hash_backend 'auto'")
        if importlib.util.find_spec("tinycudann") is None:
            raise BackendUnavailable(
                "hash-grid backend 'tcnn' needs tinycudann, which is not installed (not on PyPI: build "
                "https://github.com/NVlabs/tiny-cuda-nn's torch bindings with a CUDA GPU); or use 'auto'")
        return "tcnn"
    try:
        return resolve_grid(backend, device)
    except (ExtensionNotBuilt, RuntimeError, ValueError) as err:
        raise BackendUnavailable(f"hash-grid backend {backend!r} is not available on {device}: "
                                 f"{err}") from err


def check_backends(raster: str, hashgrid: str, device: torch.device | str,
                   dtype: torch.dtype = torch.float32) -> dict[str, str]:
    """{"raster": ..., "hashgrid": ...}: the concrete backends of a model on `device`.
    Raises BackendUnavailable (or ValueError for an unknown name) before any work is done."""
    return {"raster": resolve_backend(raster, device, dtype),
            "hashgrid": resolve_hash_backend(hashgrid, device)}


def require_backends(raster: str, hashgrid: str, device: torch.device | str) -> dict[str, str]:
    """`check_backends` for a command-line tool: prints `error: ...` and exits 2 when one is absent."""
    try:
        return check_backends(raster, hashgrid, device)
    except (BackendUnavailable, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
