"""Events, labels and subspace drift around rule deadlines.

For a jumper visit at position p with horizon r, the deadline prediction (of walk[p + r]) is made
from the window ending at t* = p + r - 1. The event is a violation when the model's most likely
next vertex is outside the target block. Lookback l (0 .. r-1) reads the drift of the window
ending at t* - l, i.e. how far the top-k subspace moved between windows ending t* - l - 1 and t* - l.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from engine.research.dcsbm.graph import DCSBM
from engine.research.dcsbm.subspace import drift, top_subspace
from engine.research.dcsbm.walks import find_events


@dataclass
class EventTable:
    violated: np.ndarray        # (E,) bool
    drift: np.ndarray           # (E, r, H) drift at lookback 0..r-1 per head
    p_target: np.ndarray        # (E,) model probability mass on the target block at the deadline


def window_drift(mats: Tensor, k: int, side: str = "left") -> Tensor:
    """(W, n_win, H, rows, cols) matrices -> (W, n_win, H) Grassmannian drift (NaN for the first window)."""
    bases = top_subspace(mats, k, side)                         # (W, n_win, H, rows, k)
    return drift(bases.transpose(1, 2)).transpose(1, 2)         # drift runs along the window axis


def event_table(graph: DCSBM, walks: np.ndarray, logits: Tensor, drifts: Tensor, n_ctx: int) -> EventTable:
    r = graph.horizon
    first = n_ctx + r          # conservative: lookback r-1 needs window t* - r + 1 and the one before it
    events = find_events(graph, walks, first=first)
    probs = torch.softmax(logits, dim=-1).numpy()
    member = np.zeros((graph.n_blocks, graph.n), dtype=bool)
    member[graph.block, np.arange(graph.n)] = True
    violated, table, mass = [], [], []
    for e in events:
        t_star = e.pos + r - 1
        win = t_star - (n_ctx - 1)
        pred = int(logits[e.walk, win].argmax())
        violated.append(graph.block[pred] != e.target_block)
        mass.append(float(probs[e.walk, win][member[e.target_block]].sum()))
        table.append(drifts[e.walk, win - np.arange(r)].numpy())
    return EventTable(np.array(violated, dtype=bool),
                      np.array(table).reshape(len(events), r, -1), np.array(mass))
