"""Which device a run computes on, decided once and honestly.

`resolve("cuda")` on a machine without a usable CUDA device raises NoDevice (the CLI turns it
into exit 2) instead of quietly running on the CPU; `resolve("auto")` picks CUDA when torch
can use it and the CPU otherwise. `synchronizer(device)` is what timers call so that a GPU's
queued work is inside the timing. What the GPU is: engine.systems.hardware.gpu (device_query for all of
it through torch, smi_record for the manifest's summary without torch).
"""

from __future__ import annotations

from collections.abc import Callable

CHOICES = ("cpu", "cuda", "auto")


class NoDevice(RuntimeError):
    """The requested device cannot be used here; the message is one line starting 'no CUDA device:'."""


def cuda_unavailable_reason() -> str | None:
    """None when torch can run on a CUDA device, else why not (one clause)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build (no CUDA runtime)"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no usable GPU (driver missing or no device visible)"
    return None


def resolve(requested: str) -> str:
    """'cpu' | 'cuda' | 'auto' -> 'cpu' or 'cuda'. Raises ValueError for other names, NoDevice for cuda without one."""
    if requested not in CHOICES:
        raise ValueError(f"--device {requested!r}: expected one of {', '.join(CHOICES)}")
    if requested == "cpu":
        return "cpu"
    reason = cuda_unavailable_reason()
    if reason is None:
        return "cuda"
    if requested == "auto":
        return "cpu"
    raise NoDevice(f"no CUDA device: {reason}; run with --device cpu (or auto)")


def synchronizer(device: str) -> Callable[[], None]:
    """A no-op on the CPU; torch.cuda.synchronize on CUDA, so a timer sees the kernels finish."""
    if device != "cuda":
        return lambda: None
    import torch

    return torch.cuda.synchronize


def synced(fn: Callable[[], object], device: str) -> Callable[[], None]:
    """`fn` followed by a device synchronisation: pass this to engine.systems.hardware.timing.time_call."""
    sync = synchronizer(device)

    def run() -> None:
        fn()
        sync()

    return run
