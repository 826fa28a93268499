"""Reading user-supplied weights files safely: one place for every optional network's loader.

emogs never unpickles code: `.safetensors` files are read with safetensors, anything else with
`torch.load(weights_only=True)`, and the result must be a flat state dict of tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch


class WeightsFileError(ValueError):
    """A weights file that cannot be read as a plain tensor state dict."""


def find_model_file(explicit, env_var: str, package: str, relpath: str, extra=()) -> tuple[Path | None, list]:
    """(the first existing file, every place looked) of: `explicit`, $`env_var`, `extra` paths, and
    `relpath` inside the installed `package` (found with importlib, never imported: some of these
    packages import heavy frameworks or declare dependencies we do not install)."""
    import importlib.util

    cands = [Path(explicit)] if explicit is not None else []
    if os.environ.get(env_var):
        cands.append(Path(os.environ[env_var]))
    cands += [Path(x) for x in extra]
    spec = importlib.util.find_spec(package)
    if spec is not None and spec.submodule_search_locations:
        cands += [Path(loc) / relpath for loc in spec.submodule_search_locations]
    return next((c for c in cands if c.is_file()), None), cands


def read_state_dict(
    path: str | os.PathLike, what: str, nested_keys: tuple[str, ...] = ("state_dict",)
) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, as `{name: tensor}` with any `module.` prefix removed.

    `what` names the network in error messages ("BiSeNet", "EmoNet", ...). A checkpoint that
    wraps its state dict under one of `nested_keys` (e.g. `{"state_dict": {...}}`,
    `{"g_ema": {...}}`) is unwrapped.
    Raises FileNotFoundError for a missing file and WeightsFileError for anything that is not
    a state dict of tensors (including pickles that hold code or objects).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} weights {path} do not exist; check the path you configured.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - any parse failure is a bad file
            raise WeightsFileError(f"{path} cannot be loaded as a safetensors file ({err}).") from err
    else:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - report any unpickling refusal clearly
            first = (str(err).splitlines() or [""])[0][:200]
            raise WeightsFileError(
                f"{path} cannot be loaded as a plain state dict with torch.load(weights_only=True) "
                f"({type(err).__name__}: {first}); save it with torch.save(model.state_dict(), path) or as "
                "safetensors - emogs never unpickles code"
            ) from err
    for key in nested_keys:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFileError(f"{path} holds a {type(state).__name__} that is not a state dict of tensors.")
    return {k.removeprefix("module."): v for k, v in state.items()}
