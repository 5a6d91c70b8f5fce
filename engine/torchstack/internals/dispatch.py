"""See which ATen operators the dispatcher actually runs for a Python call.

A TorchDispatchMode sits below autograd, so it sees the primitives a composite op (linear)
decomposes into (t, addmm), not the composite itself; the profiler, which hooks the dispatcher
earlier, does see aten::linear. Both views are exposed here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class OpTrace(TorchDispatchMode):
    """Record the name of every ATen op dispatched while the mode is active, in call order."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def trace_ops(fn: Callable[[], Any]) -> tuple[list[str], Any]:
    """Run fn() under an OpTrace; return (op names, fn's result)."""
    with OpTrace() as mode:
        out = fn()
    return mode.ops, out


def dispatch_keys(t: torch.Tensor) -> list[str]:
    """The dispatch key set of a tensor, as names (e.g. CPU, AutogradCPU, AutocastCPU)."""
    text = str(torch._C._dispatch_keys(t))  # 'DispatchKeySet(CPU, ADInplaceOrView, ...)'
    return [k.strip() for k in text[text.index("(") + 1 : text.rindex(")")].split(",") if k.strip()]


def profiled_ops(fn: Callable[[], Any]) -> tuple[list[str], str]:
    """Profile fn() on the CPU with shapes; return (distinct aten op names seen, the text table)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        fn()
    names = sorted({e.name for e in prof.events() if e.name.startswith("aten::")})
    table = prof.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total", row_limit=25)
    return names, table
