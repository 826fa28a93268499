"""One device choice for fitting, rendering, evaluation and the viewer: `--device auto|cpu|cuda[:N]`.

    device = resolve_device("auto")        # torch.device("cuda", 0) on a GPU machine, else cpu
    avatar.to(device)                      # networks, Gaussians; the rasterizer / hash-grid backends
                                           # follow the tensors' device ("auto" backends)

`resolve_device` validates the request and raises `DeviceError` naming the problem and the fix
(a CPU build of torch, no visible GPU, an index past the last GPU); the command-line tools turn it
into `error: ...` and exit code 2 (`device_from_args`). On the CPU nothing changes: "cpu" and "auto"
without a GPU give `torch.device("cpu")`, and every `.to(cpu)` on a CPU tensor is a no-op.
"""

from __future__ import annotations

import argparse
import re
import sys

import torch

DEVICE_HELP = "auto (CUDA when available, else cpu) | cpu | cuda | cuda:N"
_SPEC = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


class DeviceError(ValueError):
    """A device request that cannot be met on this machine (the message names why and the fix)."""


def parse_device(spec: str) -> tuple[str, int | None]:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> (kind, index or None). Only checks the syntax."""
    m = _SPEC.match(str(spec).strip().lower())
    if m is None or (m.group(2) is not None and m.group(1) != "cuda"):
        raise DeviceError(f"unknown device {spec!r}; use {DEVICE_HELP}")
    return m.group(1), (int(m.group(2)) if m.group(2) is not None else None)


def _cuda_unavailable_reason() -> str:
    if torch.version.cuda is None:
        return (f"this torch ({torch.__version__}) is a CPU build; install a CUDA build of torch "
                "(README, 'GPU install') or use --device cpu")
    return ("torch was built with CUDA but sees no GPU (check `nvidia-smi`, the driver and "
            "CUDA_VISIBLE_DEVICES), or use --device cpu")


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """The torch.device that `spec` means here: "auto" -> cuda:0 when a GPU is visible, else cpu.

    Raises DeviceError when CUDA is requested but unusable, or the index is past the last GPU.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    kind, index = parse_device(spec)
    if kind == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if kind == "auto":
        return torch.device("cuda", 0) if available else torch.device("cpu")
    if not available:
        raise DeviceError(f"--device {spec} was requested but CUDA is unavailable: "
                          f"{_cuda_unavailable_reason()}")
    count = torch.cuda.device_count()
    index = 0 if index is None else index
    if index >= count:
        raise DeviceError(f"--device {spec}: this machine has {count} CUDA device(s) "
                          f"(cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def describe_device(device: torch.device) -> str:
    """'cpu' or 'cuda:0 (NVIDIA H100 80GB HBM3)' for logs and reports."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def use_device(device: torch.device) -> None:
    """Make `device` the current CUDA device (tensors created with device='cuda' land there)."""
    if device.type == "cuda":
        torch.cuda.set_device(device)


def synchronize(device: torch.device | str | None) -> None:
    """Wait for the kernels queued on a CUDA `device` (timings); nothing on the CPU or for None."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """The tools' `--device` option (default auto)."""
    parser.add_argument("--device", default="auto", help=f"where to compute: {DEVICE_HELP}")


def device_from_args(args: argparse.Namespace) -> torch.device:
    """Resolve `args.device` for a command-line tool: prints `error: ...` and exits 2 when it cannot."""
    try:
        device = resolve_device(args.device)
    except DeviceError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    use_device(device)
    return device


def ctranslate2_device(device: torch.device | str) -> tuple[str, int]:
    """(device, device_index) for a CTranslate2 model following `device`: CUDA only when the torch
    device is CUDA and CTranslate2 itself sees a GPU (its wheel needs the CUDA 12 runtime), else cpu."""
    device = torch.device(device)
    if device.type != "cuda":
        return "cpu", 0
    try:
        import ctranslate2
    except ImportError:
        return "cpu", 0
    if ctranslate2.get_cuda_device_count() <= (device.index or 0):
        return "cpu", 0
    return "cuda", device.index or 0
