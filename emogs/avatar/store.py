"""Avatar folders: save, load and find them (safetensors weights + a JSON config, no pickles).

Avatar folder (what fit_person writes, what render / evaluate / the viewer read)::

    avatar.json           {"format": "emogs-avatar", "version": 1, "avatar": AvatarConfig, ...}
    avatar.safetensors    face.<param>, mouth.<param>, eyes.<param> (optional), face_net.*,
                          mouth_net.*, emotion_net.*

Training checkpoints (the trainer's `checkpoint` module) hold an avatar folder plus the optimiser state;
this module never needs training code.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import Tensor

from ..gaussians import PARAM_KEYS, GaussianSet
from ..io.atomic import atomic_path, save_json
from .avatar import Avatar, AvatarConfig, build_networks

AVATAR_FORMAT = "emogs-avatar"
AVATAR_VERSION = 1


def save_safetensors(path: str | Path, tensors: dict[str, Tensor]) -> None:
    """Write `tensors` to a safetensors file atomically."""
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(tmp))


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
    save_safetensors(folder / "avatar.safetensors", avatar_tensors(avatar))
    meta = {"format": AVATAR_FORMAT, "version": AVATAR_VERSION, "avatar": avatar.config.to_dict()}
    meta.update(extra or {})
    save_json(folder / "avatar.json", meta)
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
