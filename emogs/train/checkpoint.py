"""Training checkpoints: safetensors weights + JSON, no pickles (avatar folders: emogs.avatar.store).

Training checkpoint ``checkpoints/step_XXXXXXX/``: the avatar files plus ``optim.safetensors``
(Adam moments, densification accumulators, RNG) and ``state.json`` (step, stage, train config).
``checkpoints/latest`` names the newest complete checkpoint (written last, atomically).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from ..avatar import Avatar
from ..avatar.store import save_avatar, save_safetensors
from ..io.atomic import save_json, save_text


# ------------------------------------------------------------------------- optimizer state
def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, Tensor]:
    """Adam/AdamW moments -> flat tensors `{prefix}.{group}.{param}.{key}`."""
    out = {}
    for gi, group in enumerate(opt.param_groups):
        for pi, p in enumerate(group["params"]):
            for k, v in opt.state.get(p, {}).items():
                if isinstance(v, Tensor):
                    out[f"{prefix}.{gi}.{pi}.{k}"] = v
    return out


def load_optimizer_tensors(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, Tensor]) -> None:
    for gi, group in enumerate(opt.param_groups):
        for pi, p in enumerate(group["params"]):
            key = f"{prefix}.{gi}.{pi}."
            st = {k[len(key):]: v.clone() for k, v in tensors.items() if k.startswith(key)}
            if st:
                for k, v in st.items():
                    if v.dim() > 0 and v.shape != p.shape:
                        raise ValueError(f"optimizer state {key}{k} has shape {tuple(v.shape)}, parameter "
                                         f"{tuple(p.shape)}: the checkpoint does not match the model.")
                opt.state[p] = st


def write_checkpoint(root: str | Path, step: int, avatar: Avatar, extra_tensors: dict[str, Tensor],
                     state: dict, keep: int = 2) -> Path:
    """Write checkpoint `step` under `root` (checkpoints/), update `latest`, keep the newest `keep`."""
    root = Path(root)
    folder = root / f"step_{step:07d}"
    tmp = root / f".tmp_step_{step:07d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    save_avatar(avatar, tmp, {"checkpoint_step": step})
    save_safetensors(tmp / "optim.safetensors", extra_tensors)
    save_json(tmp / "state.json", state)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    save_text(root / "latest", folder.name)
    olds = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in olds[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_checkpoint(root: str | Path) -> Path | None:
    root = Path(root)
    latest = root / "latest"
    if not latest.exists():
        return None
    folder = root / latest.read_text().strip()
    return folder if (folder / "state.json").exists() else None


def read_checkpoint(folder: str | Path) -> tuple[dict[str, Tensor], dict[str, Tensor], dict]:
    """(avatar tensors, optimizer/extra tensors, state dict) of a checkpoint folder."""
    folder = Path(folder)
    return (load_file(str(folder / "avatar.safetensors")), load_file(str(folder / "optim.safetensors")),
            json.loads((folder / "state.json").read_text()))
