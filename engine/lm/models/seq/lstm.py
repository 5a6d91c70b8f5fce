"""A small LSTM language model on engine's Tensor autograd (phase 14's break).

c_t = f * c_{t-1} + i * g and h_t = o * tanh(c_t), with i, f, o = sigmoid(.) and g = tanh(.).
`gate_sigmoid=False` (fault no_gate_sigmoid) uses i, f and o raw: nothing bounds f, so the
cell state can grow geometrically along the sequence once training pushes |f| past 1.
One fused (4d, e + d) weight per step; forward returns next-token logits for every step and
keeps the largest |c_t| and the gate ranges of the last call in `stats`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor, cat
from engine.scratch.nn.module import Module, Parameter


class LSTM(Module):
    def __init__(self, vocab_size: int, d_embed: int = 16, d_hidden: int = 32, seed: int = 42,
                 init_std: float = 0.1, gate_sigmoid: bool = True, dtype: Any = np.float32) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.d_hidden, self.gate_sigmoid = d_hidden, gate_sigmoid
        self.E = Parameter(rng.normal(0.0, init_std, (vocab_size, d_embed)), dtype=dtype)
        self.W = Parameter(rng.normal(0.0, init_std, (d_embed + d_hidden, 4 * d_hidden)), dtype=dtype)
        self.b = Parameter(np.zeros(4 * d_hidden), dtype=dtype)
        self.W_hy = Parameter(rng.normal(0.0, init_std, (d_hidden, vocab_size)), dtype=dtype)
        self.b_y = Parameter(np.zeros(vocab_size), dtype=dtype)
        self.stats: dict[str, Any] = {}

    def forward(self, token_ids: Any) -> Tensor:
        d = self.d_hidden
        xs = self.E[np.asarray(token_ids, dtype=np.int64)]
        h = Tensor(np.zeros((1, d), dtype=self.W.dtype))
        c = Tensor(np.zeros((1, d), dtype=self.W.dtype))
        outs, cell_max, f_range = [], [], [np.inf, -np.inf]
        for t in range(len(token_ids)):
            pre = cat([xs[t:t + 1], h], axis=1) @ self.W + self.b
            i, f, o, g = pre[:, :d], pre[:, d:2 * d], pre[:, 2 * d:3 * d], pre[:, 3 * d:].tanh()
            if self.gate_sigmoid:
                i, f, o = i.sigmoid(), f.sigmoid(), o.sigmoid()
            c = f * c + i * g
            h = o * c.tanh()
            outs.append(h)
            with np.errstate(invalid="ignore"):
                cell_max.append(float(np.abs(c.data).max()))
                f_range = [min(f_range[0], float(f.data.min())), max(f_range[1], float(f.data.max()))]
        self.stats = {"cell_max": cell_max, "forget_min": f_range[0], "forget_max": f_range[1]}
        return cat(outs, axis=0) @ self.W_hy + self.b_y
