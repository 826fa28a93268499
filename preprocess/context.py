"""What a preprocessing stage is (`Stage`) and what it gets to work with (`StageContext`).

Kept apart from the runner (`pipeline.py`) so the stage definitions (`stages.py`) and the runner
import this module, not each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import PreprocessConfig
from .errors import StageError


@dataclass(frozen=True)
class Stage:
    """name; run(ctx) -> record dict (e.g. backend, weights; key "manifest" = top-level manifest
    updates); outputs: files it writes (relative to the dataset); depends: upstream stage names;
    params: PreprocessConfig fields it uses; version: bump to force reruns after a code change;
    optional: not part of a default run (run with --stages NAME)."""

    name: str
    run: Callable[[StageContext], dict]
    outputs: tuple[str, ...]
    depends: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    version: int = 1
    needs_video: bool = False
    optional: bool = False  # run only when named in `stages` (e.g. the slow emotional frames)


@dataclass
class StageContext:
    out: Path
    cfg: PreprocessConfig
    manifest: dict
    video: Path | None = None
    progress: bool = True
    log: Callable[[str], None] = print
    warnings: list = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.out / name

    def load(self, name: str) -> np.ndarray:
        """Memory-map an .npy output of an earlier stage (clear error if it is missing)."""
        p = self.out / name
        if not p.exists():
            raise StageError(f"{p} is missing",
                             f"run the stage that writes it first (python -m preprocess VIDEO {self.out})")
        return np.load(p, mmap_mode="r")

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)
        self.log(f"warning: {msg}")

    @property
    def num_frames(self) -> int:
        return int(self.manifest["num_frames"])

    @property
    def size(self) -> int:
        return int(self.manifest["size"])

    @property
    def fps(self) -> float:
        return float(self.manifest["fps"])
