"""bk-scaling's peak-memory worker: each layer-sweep point's forward+backward, measured in a fresh process.

Glue only: it rebuilds a point (causal SDPA or the BK mixer at one N, width and backend, the
same shapes the timing sweep runs) and hands its step to engine.research.bk.peak_memory, which
measures the resident-set high-water mark. Run as `python -m engine.labs.bk_memory` by
`peak_memory.measure_in_fresh_process`; points arrive as JSON on stdin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from engine.lm.models.attention import SelfAttention
from engine.research.bk import peak_memory
from engine.research.bk.mixer import BKMixer


def build(point: dict[str, Any]) -> tuple[Callable[[], None], Callable[[], None]]:
    """(one forward+backward, what undoes its leftovers) for a point, as in bk_scaling's `_step`."""
    torch.set_num_threads(int(point["threads"]))
    torch.manual_seed(int(point["seed"]))
    d = int(point["d_model"])
    module: torch.nn.Module = (SelfAttention(d, int(point["heads"]), causal=True) if point["op"] == "attention"
                               else BKMixer(d, int(point["channels"]), backend=str(point["backend"])))
    x = torch.randn(int(point["batch"]), int(point["n"]), d).requires_grad_()

    def run() -> None:
        x.grad = None
        module(x).sum().backward()

    def reset() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)

    return run, reset


if __name__ == "__main__":
    peak_memory.worker_main(build)
