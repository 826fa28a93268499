"""Avatar folders and training checkpoints: safetensors weights + a JSON config (no pickles).

Avatar folder (what fit_person writes, what render / evaluate read)::

    avatar.json           {"format": "emogs-avatar", "version": 1, "avatar": AvatarConfig, ...}
    avatar.safetensors    face.<param>, mouth.<param>, eyes.<param> (optional), face_net.*,
                          mouth_net.*, emotion_net.*

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
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..avatar import Avatar, AvatarConfig, build_networks
from ..gaussians import PARAM_KEYS, GaussianSet

AVATAR_FORMAT = "emogs-avatar"
AVATAR_VERSION = 1


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def _atomic_safetensors(path: Path, tensors: dict[str, Tensor]) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


def avatar_tensors(avatar: Avatar) -> dict[str, Tensor]:
    out = {}
    for region in ("face", "mouth", "eyes"):
        g: GaussianSet | None = getattr(avatar, region)
        if g is None:
            continue
        for k in PARAM_KEYS:
            out[f"{region}.{k}"] = g.params[k].detach()
    for net in ("face_net", "mouth_net", "emotion_net"):
        m = getattr(avatar, net)
        if m is not None:
            for k, v in m.state_dict().items():
                out[f"{net}.{k}"] = v.detach()
    return out


def avatar_from_tensors(cfg: AvatarConfig, tensors: dict[str, Tensor]) -> Avatar:
    """Rebuild an Avatar (Gaussian counts from the tensors, networks from `cfg`; eyeballs when the
    tensors have them: avatars fitted before emogs had eyeballs have none)."""
    sets = {}
    for region in ("face", "mouth", "eyes"):
        missing = [k for k in PARAM_KEYS if f"{region}.{k}" not in tensors]
        if region == "eyes" and len(missing) == len(PARAM_KEYS):
            sets[region] = None
            continue
        if missing:
            raise ValueError(f"avatar weights lack {region} parameters {missing}; the file is incomplete.")
        sets[region] = GaussianSet({k: tensors[f"{region}.{k}"] for k in PARAM_KEYS}, cfg.sh_degree)
    face_net, mouth_net, emotion_net = build_networks(cfg)
    for name, m in (("face_net", face_net), ("mouth_net", mouth_net), ("emotion_net", emotion_net)):
        if m is None:
            continue
        sd = {k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")}
        try:
            m.load_state_dict(sd)
        except RuntimeError as err:
            raise ValueError(f"avatar weights for {name} do not match its config ({err}).") from err
    return Avatar(cfg, sets["face"], sets["mouth"], face_net, mouth_net, emotion_net, eyes=sets["eyes"])


def save_avatar(avatar: Avatar, folder: str | Path, extra: dict | None = None) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_safetensors(folder / "avatar.safetensors", avatar_tensors(avatar))
    meta = {"format": AVATAR_FORMAT, "version": AVATAR_VERSION, "avatar": avatar.config.to_dict()}
    meta.update(extra or {})
    _atomic_json(folder / "avatar.json", meta)
    return folder


def resolve_avatar_folder(folder: str | Path) -> Path:
    """An avatar folder, or the output folder of `tools/fit_person.py` (which holds it as `avatar/`)."""
    folder = Path(folder)
    if not (folder / "avatar.json").exists() and (folder / "avatar" / "avatar.json").exists():
        return folder / "avatar"
    return folder


def read_avatar_meta(folder: str | Path) -> dict:
    folder = resolve_avatar_folder(folder)
    path = folder / "avatar.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: {folder} is not an emogs avatar folder (fit one with tools/fit_person.py)."
        )
    meta = json.loads(path.read_text())
    if meta.get("format") != AVATAR_FORMAT or meta.get("version") != AVATAR_VERSION:
        raise ValueError(f"{path}: not an emogs avatar of version {AVATAR_VERSION} ({meta.get('format')!r}, "
                         f"{meta.get('version')!r}); refit it with this emogs version.")
    return meta


def load_avatar(folder: str | Path) -> tuple[Avatar, dict]:
    """(Avatar in eval mode, its metadata) from an avatar folder or a checkpoint folder."""
    folder = resolve_avatar_folder(folder)
    meta = read_avatar_meta(folder)
    weights = folder / "avatar.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"{weights} is missing; the avatar folder is incomplete (refit or resume).")
    avatar = avatar_from_tensors(AvatarConfig.from_dict(meta["avatar"]), load_file(str(weights)))
    return avatar.eval(), meta


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
            # moments on the parameter's device; Adam's scalar `step` stays where torch keeps it (cpu)
            st = {k[len(key):]: v.to(p.device, copy=True) if v.dim() > 0 else v.clone()
                  for k, v in tensors.items() if k.startswith(key)}
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
    _atomic_safetensors(tmp / "optim.safetensors", extra_tensors)
    _atomic_json(tmp / "state.json", state)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    latest = root / "latest"
    latest_tmp = root / "latest.tmp"
    latest_tmp.write_text(folder.name)
    os.replace(latest_tmp, latest)
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
