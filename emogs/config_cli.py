"""Typed dataclass configs: filled from mappings (YAML presets) and from nested command-line flags.

    cfg = from_dict(TrainConfig, yaml_data)                # checks every value against its field type
    add_dataclass_arguments(parser, TrainConfig, "train")  # --train.lr.means 1e-4, --train.stages ...
    overrides = dataclass_overrides(parser.parse_args(), "train")  # {"lr": {"means": 1e-4}}: given flags

Values must have their field's type: an int is accepted where a float is expected (and converted), a
string never is (PyYAML 1.1 reads `1e-3` as the string "1e-3": `load_yaml` reads YAML 1.2 numbers).
Unknown keys are errors. Supported field types: bool, int, float, str, None, unions of them (`X | None`),
Literal[...], list[X], tuple[X, ...], dict[K, V] and nested dataclasses.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Literal, Union

import yaml


class ConfigError(ValueError):
    """A config value has the wrong type, or a key is unknown."""


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader that reads YAML 1.2 floats: `1e-3`, `5E4` and `.5` are numbers, not strings."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def load_yaml(text_or_stream) -> Any:
    """YAML -> Python objects, numbers read as YAML 1.2 does (`1e-3` is a float)."""
    return yaml.load(text_or_stream, Loader=_Yaml12Loader)


def _type_name(tp) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def check_value(value: Any, tp, where: str) -> Any:
    """`value` converted to type `tp` (int -> float, mapping -> dataclass), or ConfigError naming `where`,
    the value and the expected type."""
    if is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return from_dict(tp, value, where)
    elif _is_union(tp):
        for arg in typing.get_args(tp):
            try:
                return check_value(value, arg, where)
            except ConfigError:
                continue
    elif tp is Any:
        return value
    elif tp is type(None) or tp is None:
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(tp) is Literal:
        if value in typing.get_args(tp):
            return value
    elif typing.get_origin(tp) in (list, tuple):
        args = typing.get_args(tp)
        if isinstance(value, (list, tuple)):
            if typing.get_origin(tp) is tuple and not (len(args) == 2 and args[1] is Ellipsis):
                if len(args) != len(value):
                    raise ConfigError(f"config key '{where}': {value!r} has {len(value)} items, expected "
                                      f"{_type_name(tp)}")
                return tuple(check_value(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
            item = args[0] if args else Any
            out = [check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
            return tuple(out) if typing.get_origin(tp) is tuple else out
    elif typing.get_origin(tp) is dict:
        kt, vt = typing.get_args(tp) or (Any, Any)
        if isinstance(value, dict):
            return {check_value(k, kt, f"{where} key"): check_value(v, vt, _join(where, k))
                    for k, v in value.items()}
    else:
        raise TypeError(f"config field '{where}' has type {_type_name(tp)}, which emogs.config_cli does not "
                        "check; use bool/int/float/str, X | None, Literal, list, tuple, dict or a dataclass")
    hint = ""
    if isinstance(value, str) and tp is not str:
        hint = " (quoted in the YAML?)"
    raise ConfigError(f"config key '{where}': {value!r} ({type(value).__name__}) is not a "
                      f"{_type_name(tp)}{hint}")


def from_dict(cls, data: dict, where: str = ""):
    """Dataclass `cls` from a (nested) mapping; fields not given keep their defaults (a nested section
    given in part is merged over its default). Raises ConfigError on unknown keys and on values of the
    wrong type (see `check_value`)."""
    return cls(**_checked_kw(cls, data, where, {}))


def _checked_kw(cls, data: dict, where: str, kw: dict) -> dict:
    """`kw` (constructor arguments of `cls`) updated by the type-checked keys of `data`."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section '{where or '.'}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config keys {unknown} in '{where or '.'}'; known: {sorted(known)}")
    kw = dict(kw)
    for k, v in data.items():
        base = kw[k] if k in kw else _default(cls, k)
        if is_dataclass(hints[k]) and isinstance(v, dict) and is_dataclass(base):
            sub = type(base)
            kw[k] = sub(**_checked_kw(sub, v, _join(where, k), _init_kw(base)))
        else:
            kw[k] = check_value(v, hints[k], _join(where, k))
    return kw


def _join(where: str, key) -> str:
    return f"{where}.{key}" if where else str(key)


def _init_kw(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj) if f.init}


def _default(cls, name: str):
    f = next(f for f in fields(cls) if f.name == name)
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


# ------------------------------------------------------------------------------------------ command line
_SCALARS = (bool, int, float, str)


def _scalar(tp):
    """The scalar type a flag of type `tp` parses (X | None -> X), or None when it is not a scalar."""
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _scalar(args[0]) if len(args) == 1 else None
    if typing.get_origin(tp) is Literal:
        return tp
    return tp if tp in _SCALARS else None


def _parse_bool(text: str) -> bool:
    t = text.lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _parser_for(tp, optional: bool):
    """argparse `type=` callable for a field of type `tp` (`none` -> None when `optional`)."""
    scalar = _scalar(tp)

    def parse(text: str):
        if optional and text.lower() in ("none", "null"):
            return None
        if scalar is bool:
            return _parse_bool(text)
        if scalar in (int, float, str):
            return scalar(text)
        return load_yaml(text)  # Literal / list / dict: a YAML value, type-checked when applied

    parse.__name__ = _type_name(scalar or tp)
    return parse


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls, prefix: str, doc: str | None = None,
                            exclude: tuple[str, ...] = ()) -> None:
    """One flag `--PREFIX.a.b` per (nested) field of dataclass `cls` (but the dotted names in `exclude`),
    in an argument group.

    Flags default to "not given" (argparse.SUPPRESS), so `dataclass_overrides` returns only what the
    user set; lists / dicts / Literals take a YAML value (`--train.stages "{canonical: 100}"`).
    """
    group = parser.add_argument_group(f"{prefix} options", doc or (cls.__doc__ or "").split("\n")[0])
    _add_fields(group, cls, prefix, {f"{prefix}.{x}" for x in exclude})


def _add_fields(group, cls, prefix: str, exclude: set[str]) -> None:
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp, name = hints[f.name], f"{prefix}.{f.name}"
        if not f.init or name in exclude:
            continue
        if is_dataclass(tp):
            _add_fields(group, tp, name, exclude)
            continue
        optional = _is_union(tp) and type(None) in typing.get_args(tp)
        default = _default(cls, f.name)
        choices = list(typing.get_args(tp)) if typing.get_origin(tp) is Literal else None
        group.add_argument(f"--{name}", dest=name, type=_parser_for(tp, optional), choices=choices,
                           default=argparse.SUPPRESS,
                           metavar=None if choices else _type_name(_scalar(tp) or tp).upper(),
                           help=f"field default: {default!r}")


def dataclass_overrides(args: argparse.Namespace, prefix: str) -> dict:
    """The flags of `add_dataclass_arguments(..., prefix)` the user gave, as a nested mapping for
    `from_dict` / a preset's overrides: --train.lr.means 1e-4 -> {"lr": {"means": 1e-4}}."""
    out: dict = {}
    for key, value in vars(args).items():
        if not key.startswith(prefix + "."):
            continue
        *path, leaf = key[len(prefix) + 1:].split(".")
        node = out
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out
