"""Next-vertex training on random windows of walks, and sliding-window evaluation.

Training crops a window of n_ctx + 1 vertices from a random walk and predicts each next vertex.
Evaluation slides the same n_ctx window along a held-out walk one step at a time, as a model
generating with a fixed context would see it: at window end t the context is walk[t-n_ctx+1..t]
and the prediction is for walk[t+1].
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.research.dcsbm.model import WalkTransformer


def train_walk_model(walks: np.ndarray, vocab: int, n_ctx: int, steps: int, rng: np.random.Generator,
                     device: str = "cpu", batch: int = 64, lr: float = 3e-3, d_model: int = 32,
                     n_layers: int = 2, n_heads: int = 1,
                     on_step: Callable[[int, float], None] | None = None,
                     on_snapshot: Callable[[int, WalkTransformer], None] | None = None,
                     snapshot_every: int = 0) -> WalkTransformer:
    """on_snapshot(step, model) runs before step 0, every snapshot_every steps and after the last step."""
    with torch.random.fork_rng(devices=[]):          # initial weights from `rng`, not from global torch state
        torch.manual_seed(int(rng.integers(2**62)))
        model = WalkTransformer(vocab, n_ctx, d_model, n_layers, n_heads).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    data = torch.as_tensor(walks, device=device)
    n_walks, length = walks.shape
    offsets = torch.arange(n_ctx + 1, device=device)
    for step in range(steps):
        if on_snapshot is not None and snapshot_every > 0 and step % snapshot_every == 0:
            on_snapshot(step, model)
        rows = torch.as_tensor(rng.integers(0, n_walks, batch), device=device)
        starts = torch.as_tensor(rng.integers(0, length - n_ctx, batch), device=device)
        chunk = data[rows[:, None], starts[:, None] + offsets]
        logits, _ = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), chunk[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step, float(loss.detach()))
    if on_snapshot is not None and snapshot_every > 0:
        on_snapshot(steps, model)
    return model.eval()


def windows(walks: np.ndarray, n_ctx: int) -> np.ndarray:
    """(n_walks, n_windows, n_ctx): window i ends at position n_ctx - 1 + i."""
    return np.lib.stride_tricks.sliding_window_view(walks, n_ctx, axis=1)


@torch.no_grad()
def sliding_eval(model: WalkTransformer, walks: np.ndarray, layer: int, target: str, device: str = "cpu",
                 chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """For every window: the last position's next-vertex logits and the chosen matrix of each head.

    Returns logits (n_walks, n_windows, vocab) and mats (n_walks, n_windows, H, rows, cols) where the
    matrix is the masked scaled QK^T (n_ctx x n_ctx) or AVW_O (n_ctx x d_model) of `layer`.
    """
    win = windows(walks, model.n_ctx)
    flat = torch.as_tensor(np.ascontiguousarray(win.reshape(-1, model.n_ctx)), device=device)
    logits, mats = [], []
    for i in range(0, len(flat), chunk):
        out, layers = model(flat[i:i + chunk], internals=True)
        logits.append(out[:, -1].cpu())
        mats.append(layers[layer][target].cpu())
    n_walks, n_win = win.shape[:2]
    lg, mt = torch.cat(logits), torch.cat(mats)
    return lg.view(n_walks, n_win, -1), mt.view(n_walks, n_win, *mt.shape[1:])
