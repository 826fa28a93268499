"""emogs.config_cli: type-checked dataclass configs from mappings and from nested command-line flags."""

import argparse
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Literal

import pytest

from emogs.config_cli import (
    ConfigError,
    add_dataclass_arguments,
    dataclass_overrides,
    from_dict,
    load_yaml,
)


@dataclass
class Rates:
    means: float = 1e-4
    steps: int = 10


@dataclass
class Inner:
    rates: Rates = field(default_factory=Rates)
    mode: Literal["a", "b"] = "a"
    weights: str | None = None


@dataclass
class Outer:
    name: str = "x"
    flag: bool = False
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    stages: dict[str, int] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def _argv(obj, prefix: str) -> list[str]:
    """Every leaf field of `obj` as a flag (YAML text for lists / dicts / None)."""
    out = []
    for f in fields(obj):
        v = getattr(obj, f.name)
        if is_dataclass(v):
            out += _argv(v, f"{prefix}.{f.name}")
        else:
            text = "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            out += [f"--{prefix}.{f.name}", text]
    return out


def _parser():
    p = argparse.ArgumentParser()
    add_dataclass_arguments(p, Outer, "train")
    return p


def test_nested_flags_round_trip():
    want = Outer(name="y", flag=True, sizes=[3], stages={"canonical": 5},
                 inner=Inner(rates=Rates(means=2.5e-3, steps=7), mode="b", weights="w.pt"))
    args = _parser().parse_args(_argv(want, "train"))
    assert from_dict(Outer, dataclass_overrides(args, "train")) == want
    args = _parser().parse_args(["--train.inner.weights", "none"])  # an optional field back to None
    assert dataclass_overrides(args, "train") == {"inner": {"weights": None}}


def test_only_given_flags_override_and_bad_values_exit():
    args = _parser().parse_args(["--train.inner.rates.means", "1e-3"])
    over = dataclass_overrides(args, "train")
    assert over == {"inner": {"rates": {"means": 1e-3}}}
    cfg = from_dict(Outer, over)
    assert cfg.inner.rates == Rates(means=1e-3) and cfg.inner.mode == "a"  # the rest keeps its defaults
    with pytest.raises(SystemExit):
        _parser().parse_args(["--train.inner.rates.steps", "1.5"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["--train.inner.mode", "c"])
    with pytest.raises(ConfigError, match=r"sizes\[0\]': 'x' \(str\) is not a int"):
        from_dict(Outer, dataclass_overrides(_parser().parse_args(["--train.sizes", "[x]"]), "train"))


def test_from_dict_rejects_wrong_types_and_unknown_keys():
    with pytest.raises(ConfigError, match=r"config key 'inner.rates.means': '1e-3' \(str\) is not a float"):
        from_dict(Outer, {"inner": {"rates": {"means": "1e-3"}}})
    with pytest.raises(ConfigError, match=r"'flag': 1 \(int\) is not a bool"):
        from_dict(Outer, {"flag": 1})
    with pytest.raises(ConfigError, match=r"unknown config keys \['mean'\] in 'inner.rates'"):
        from_dict(Outer, {"inner": {"rates": {"mean": 1.0}}})
    cfg = from_dict(Outer, {"inner": {"rates": {"means": 3}}})
    assert isinstance(cfg.inner.rates.means, float)  # an int is a float


def test_yaml_numbers_are_yaml_1_2():
    assert load_yaml("a: 1e-3\nb: 5E4\nc: .5\nd: 1.0\ne: '1e-3'\nf: 12\ng: x1e3") == {
        "a": 1e-3, "b": 5e4, "c": 0.5, "d": 1.0, "e": "1e-3", "f": 12, "g": "x1e3"}
