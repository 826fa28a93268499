"""Access to the compiled kernels in `cuda_ext/` (built by setup.py as `emogs._ext_<name>`)."""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType


class ExtensionNotBuilt(ImportError):
    pass


@cache
def load_extension(name: str) -> ModuleType:
    """Import `emogs._ext_<name>`; raise a clear error naming the fix when it is missing."""
    import torch  # noqa: F401  (the extension links against torch's libraries)

    try:
        return importlib.import_module(f"emogs._ext_{name}")
    except ImportError as err:
        raise ExtensionNotBuilt(
            f"The compiled kernels 'emogs._ext_{name}' are not built ({err}). "
            "Run `make build` (or `pip install --no-build-isolation -e .`) in the emogs checkout."
        ) from err


def has_extension(name: str) -> bool:
    try:
        load_extension(name)
        return True
    except ExtensionNotBuilt:
        return False


def cuda_compiled(name: str) -> bool:
    """True when the extension was built with its CUDA kernels (EMOGS_WITH_CUDA)."""
    return has_extension(name) and bool(getattr(load_extension(name), "WITH_CUDA", False))
