"""Quiet logs: MediaPipe / TensorFlow Lite / absl noise kept off the user's screen.

MediaPipe's C++ graphs print on the first inference of each process ("INFO: Created TensorFlow Lite
XNNPACK delegate", absl's "WARNING: All log messages before absl::InitializeLog()", "W0000 ...
inference_feedback_manager.cc ...") straight to file descriptor 2, past Python's logging and past
GLOG_minloglevel. `silence_native_logs()` sets what environment variables can (before the import);
`filtered_stderr()` catches fd 2 around the first inference and passes on every line that is not
such noise (real errors still show).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator

NOISE = re.compile(r"^(INFO: Created TensorFlow Lite XNNPACK delegate|WARNING: All log messages before "
                   r"absl::InitializeLog\(\)|[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\] )")


def silence_native_logs() -> None:
    """Environment and Python-side settings that quiet TensorFlow / glog / absl; call before importing
    mediapipe (user settings of the same variables win)."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")
    with contextlib.suppress(Exception):  # absl's Python logging (mediapipe imports it)
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern = NOISE) -> Iterator[None]:
    """Route file descriptor 2 to a temporary file for the block, then write back the lines that do
    not match `noise` (in order). Other threads' stderr output in the block is delayed, not lost."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured by a test runner)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            lines = tmp.read().decode(errors="replace").splitlines()
            kept = [ln for ln in lines if ln and not noise.search(ln)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def quiet_solution(make: Callable):
    """Build a MediaPipe solution with `make()` and run it once on a blank 64 px image, both inside
    `filtered_stderr()`: its graph starts its models (and logs, on its own threads) then, not later
    in the middle of a progress bar. Returns the solution."""
    import numpy as np

    with filtered_stderr():
        solution = make()
        solution.process(np.zeros((64, 64, 3), np.uint8))
    return solution


class QuietUntilFound:
    """`run(x)` inside `filtered_stderr()` until `found(result)` first holds, then plainly: a MediaPipe graph
    logs from its C++ side when it first sees what it looks for (a face, a hand), which may be frames in."""

    def __init__(self, run: Callable, found: Callable):
        self._run, self._found, self._quiet = run, found, True

    def __call__(self, x):
        if not self._quiet:
            return self._run(x)
        with filtered_stderr():
            result = self._run(x)
        self._quiet = not self._found(result)
        return result
