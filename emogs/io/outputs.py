"""Check a tool's output paths before it works (not after minutes of work, as an IsADirectoryError)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError


class OutputPathError(UserError):
    """An output path that cannot be written."""


def _writable_parent(p: Path, what: str) -> None:
    parent = p.parent if str(p.parent) else Path(".")
    probe = parent
    while not probe.exists():  # the first existing ancestor must be a writable folder
        probe = probe.parent
    if not probe.is_dir():
        raise OutputPathError(f"the {what} {p} is inside {probe}, which is a file, not a folder",
                              "choose a path inside a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"the {what} {p} cannot be written: {probe} is not writable",
                              "choose a folder you can write to")


def check_output_file(path, suffixes: tuple[str, ...] = (), what: str = "output file",
                      example: str | None = None) -> Path:
    """`path` must name a file (not an existing folder) with one of `suffixes` (when given) in a
    writable folder (created later). Returns it as a Path; OutputPathError names the fix."""
    p = Path(path)
    name = example or f"out{suffixes[0] if suffixes else ''}"
    if p.is_dir():
        raise OutputPathError(f"the {what} {p} is an existing folder", f"give a file name, e.g. {p / name}")
    if suffixes and p.suffix.lower() not in suffixes:
        raise OutputPathError(f"the {what} {p} should end with {' or '.join(suffixes)}",
                              f"give e.g. {p.with_suffix(suffixes[0])}")
    _writable_parent(p, what)
    return p


def check_output_dir(path, what: str = "output folder") -> Path:
    """`path` must be a folder or not exist yet (it is created later) in a writable place."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"the {what} {p} is an existing file", "give a folder path (it is created)")
    if not p.exists():
        _writable_parent(p, what)
    elif not os.access(p, os.W_OK | os.X_OK):
        raise OutputPathError(f"the {what} {p} is not writable", "choose a folder you can write to")
    return p
