"""Tensor parallelism simulated on one device: each "rank" holds a shard of a weight, computes
its partial result, and a gather or sum stands in for the collective.

Column-parallel splits the output features (gather the pieces), row-parallel splits the input
features (sum the partial products: an all-reduce), and the Megatron MLP pattern chains the two
so only one all-reduce is needed. A vocabulary-sharded embedding looks up only its own rows and
the sum of the zero-masked pieces is the full lookup.
"""

from __future__ import annotations

import numpy as np


def column_parallel(x: np.ndarray, w: np.ndarray, b: np.ndarray, world: int) -> np.ndarray:
    """y = x @ w + b with w (d_in, d_out) split by columns; the all-gather is a concatenate."""
    parts = [x @ ws + bs for ws, bs in zip(np.split(w, world, axis=1), np.split(b, world), strict=True)]
    return np.concatenate(parts, axis=-1)


def row_parallel(x: np.ndarray, w: np.ndarray, b: np.ndarray, world: int) -> np.ndarray:
    """y = x @ w + b with w split by rows and x by its last axis; the all-reduce is a sum.
    The bias is added once, after the reduction, not once per rank."""
    partial = [xs @ ws for xs, ws in zip(np.split(x, world, axis=-1), np.split(w, world, axis=0), strict=True)]
    return np.sum(partial, axis=0) + b


def mlp_tp(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, world: int) -> np.ndarray:
    """Column-parallel up, GELU on each rank's own shard (no communication), row-parallel down."""
    hidden = [gelu(x @ ws + bs) for ws, bs in zip(np.split(w1, world, axis=1), np.split(b1, world), strict=True)]
    partial = [h @ ws for h, ws in zip(hidden, np.split(w2, world, axis=0), strict=True)]
    return np.sum(partial, axis=0) + b2


def sharded_embedding(ids: np.ndarray, table: np.ndarray, world: int) -> np.ndarray:
    """Each rank owns a contiguous vocabulary range; ids outside it give zeros; sum = lookup."""
    vocab = table.shape[0]
    per = -(-vocab // world)
    out = np.zeros((*ids.shape, table.shape[1]), dtype=table.dtype)
    for r in range(world):
        lo, hi = r * per, min((r + 1) * per, vocab)
        mine = (ids >= lo) & (ids < hi)
        local = np.where(mine, ids - lo, 0)
        out += np.where(mine[..., None], table[lo:hi][local], 0.0)
    return out


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def per_token_latency_ms(d_model: int, world: int, n_layers: int = 12, hbm_gbps: float = 2000.0,
                         flops: float = 200e12, link_gbps: float = 300.0, step_latency_us: float = 5.0) -> float:
    """Decode-time model of one token (batch 1, fp16). Each layer holds 12 d^2 weights; a rank
    streams its 1/world share from memory or computes it, whichever is slower (roofline).
    TP adds two ring all-reduces of d_model fp16 values per layer, each with 2(world-1)
    latency-bound steps, so small models only pay communication by splitting."""
    weights = 12.0 * d_model**2 / world
    per_layer = max(2.0 * weights / (hbm_gbps * 1e9), 2.0 * weights / flops)
    comm = 0.0
    if world > 1:
        step = 2 * (world - 1) * step_latency_us * 1e-6
        comm = 2 * (step + ring_allreduce_bytes(2.0 * d_model, world) / (link_gbps * 1e9))
    return n_layers * (per_layer + comm) * 1e3


def ring_allreduce_bytes(size_bytes: float, world: int) -> float:
    """Bytes each worker sends in a ring all-reduce: reduce-scatter then all-gather."""
    return 2.0 * (world - 1) / world * size_bytes
