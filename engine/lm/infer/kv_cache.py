"""A dense, pre-allocated KV cache (phase 22): one (B, H, S_max, d_head) buffer each for K and V per layer.

`append(layer, k, v)` writes the new rows at that layer's cursor (no concatenation, O(new rows)),
`read(layer)` returns views of the filled rows, and `bytes_allocated()` equals the formula
2·L·H·d_head·S_max·B·bytes exactly. Each layer keeps its own cursor: append is called once per
layer per step, so one shared cursor could not advance "once per append".

`off_by_one=True` is the phase-22 break: append writes at cursor + 1, so reads see a never
written zero row at slot 0 and miss the newest row.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class CacheFullError(RuntimeError):
    """Raised when an append would run past max_seq."""


def cache_bytes(layers: int, heads: int, head_dim: int, seq: int, batch: int = 1, bytes_per_value: float = 4) -> float:
    """2 (K and V) · L · H · d_head · S · B · bytes; for grouped-query attention pass the KV heads."""
    return 2 * layers * heads * head_dim * seq * batch * bytes_per_value


def max_context(budget_bytes: float, layers: int, heads: int, head_dim: int, batch: int = 1,
                bytes_per_value: float = 4) -> int:
    """The longest context whose cache fits in `budget_bytes` (the formula inverted)."""
    return int(budget_bytes // cache_bytes(layers, heads, head_dim, 1, batch, bytes_per_value))


class KVCache:
    def __init__(self, k: list[np.ndarray], v: list[np.ndarray], off_by_one: bool = False) -> None:
        self.k, self.v = k, v
        self.cursor = [0] * len(k)
        self.off_by_one = off_by_one

    @classmethod
    def allocate(cls, *, layers: int, heads: int, head_dim: int, max_seq: int, batch: int = 1,
                 dtype: Any = np.float32, off_by_one: bool = False) -> KVCache:
        shape = (batch, heads, max_seq, head_dim)
        return cls([np.zeros(shape, dtype=dtype) for _ in range(layers)],
                   [np.zeros(shape, dtype=dtype) for _ in range(layers)], off_by_one)

    @property
    def max_seq(self) -> int:
        return self.k[0].shape[2]

    def append(self, layer: int, k_new: np.ndarray, v_new: np.ndarray) -> None:
        """Write (B, H, t, d_head) rows at the layer's cursor and advance it by t."""
        t = k_new.shape[2]
        pos = self.cursor[layer] + (1 if self.off_by_one else 0)
        if pos + t > self.max_seq:
            raise CacheFullError(f"layer {layer}: {pos + t} rows exceed max_seq {self.max_seq}")
        self.k[layer][:, :, pos:pos + t] = k_new
        self.v[layer][:, :, pos:pos + t] = v_new
        self.cursor[layer] += t

    def read(self, layer: int) -> tuple[np.ndarray, np.ndarray]:
        """Views (not copies) of the filled rows: (B, H, cursor, d_head) each."""
        n = self.cursor[layer]
        return self.k[layer][:, :, :n], self.v[layer][:, :, :n]

    def current_length(self, layer: int = 0) -> int:
        return self.cursor[layer]

    def reset(self) -> None:
        self.cursor = [0] * len(self.k)

    def bytes_allocated(self) -> int:
        return sum(a.nbytes for a in self.k) + sum(a.nbytes for a in self.v)

    def bytes_used(self) -> int:
        """Bytes of the rows written so far (what the formula gives for S = cursor)."""
        per_row = [a.nbytes // a.shape[2] for a in self.k]
        return 2 * sum(r * c for r, c in zip(per_row, self.cursor, strict=True))
