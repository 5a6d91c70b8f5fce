"""Training-state bytes per parameter under mixed-precision Adam, and how ZeRO stages divide
them across data-parallel workers.

fp16 weights (2) + fp16 gradients (2) + fp32 master weights, momentum and variance (12) = 16
bytes a parameter. ZeRO-1 shards the 12 optimizer bytes, ZeRO-2 also the gradients, ZeRO-3
(full FSDP) also the weights.
"""

from __future__ import annotations

WEIGHTS, GRADS, OPTIMIZER = 2.0, 2.0, 12.0


def bytes_per_param(stage: int, world: int) -> float:
    """Per-worker bytes for one parameter at ZeRO `stage` (0 = plain data parallel)."""
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"ZeRO stage must be 0..3, got {stage}")
    opt = OPTIMIZER / world if stage >= 1 else OPTIMIZER
    grads = GRADS / world if stage >= 2 else GRADS
    weights = WEIGHTS / world if stage >= 3 else WEIGHTS
    return weights + grads + opt


def training_state_gb(n_params: float, stage: int = 0, world: int = 1) -> float:
    return n_params * bytes_per_param(stage, world) / 1e9
