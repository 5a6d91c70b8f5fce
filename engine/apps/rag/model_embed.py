"""The dense leg of phase 29 embeds with the spine model itself: mean-pooled hidden states, plus a small head.

`ModelEmbedder` runs the frozen (tuned) Mini-GPT over a text and averages its final-normed hidden
states (`GPT.hidden`) over the text's tokens. A text longer than the context is cut into windows
of `context_len` tokens and every token of every window counts once. Padding sits at the end of
a row, and attention is causal, so pad positions never change the real ones; they are left out
of the mean. Mean pools of a causal LM share one large common direction, which makes every
cosine close to 1; `fit(chunks)` therefore records the mean pooled vector of the knowledge
base and `embed` subtracts it before normalising. The vector is L2-normalised, so a dot product
is the cosine.

`ContrastiveHead` is a d x d linear map on top, initialised to the identity (so it starts as the
plain mean pool) and trained with the symmetric InfoNCE loss on pairs that belong together:
a chunk's title with its body, an English example with its Spanish translation. Each pair's
other rows in the batch are its negatives. Only the head trains (d^2 parameters); pooled
features are computed once. The 30 evaluation queries are never used for training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ModelEmbedder:
    """embed(texts) -> (N, d) float32 unit vectors; the same interface as HashingEmbedder."""

    def __init__(self, model: nn.Module, encode: Callable[[str], list[int]], pad_id: int,
                 head: ContrastiveHead | None = None, batch: int = 64) -> None:
        self.model, self.encode, self.pad_id, self.head, self.batch = model.eval(), encode, pad_id, head, batch
        self.context_len = int(model.cfg.context_len)  # type: ignore[union-attr]
        self.center: Tensor | None = None

    def fit(self, texts: Sequence[str]) -> ModelEmbedder:
        """Record the mean pooled vector of the indexed texts (the common direction to remove)."""
        self.center = self.pooled(texts).mean(0)
        return self

    def _windows(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        rows, owner = [], []
        for i, t in enumerate(texts):
            ids = self.encode(t) or [self.pad_id]
            for s in range(0, len(ids), self.context_len):
                rows.append(ids[s: s + self.context_len])
                owner.append(i)
        return rows, owner

    @torch.no_grad()
    def pooled(self, texts: Sequence[str]) -> Tensor:
        """Mean of the hidden states over each text's tokens (float32, not normalised, before the head)."""
        rows, owner = self._windows(texts)
        d = int(self.model.cfg.d_model)  # type: ignore[union-attr]
        sums = torch.zeros(len(texts), d, dtype=torch.float64)
        counts = torch.zeros(len(texts), dtype=torch.float64)
        order = sorted(range(len(rows)), key=lambda j: len(rows[j]))  # similar lengths share a batch
        for s in range(0, len(order), self.batch):
            idx = order[s: s + self.batch]
            n = max(len(rows[j]) for j in idx)
            x = torch.full((len(idx), n), self.pad_id, dtype=torch.long)
            keep = torch.zeros(len(idx), n, dtype=torch.float64)
            for r, j in enumerate(idx):
                x[r, : len(rows[j])] = torch.tensor(rows[j])
                keep[r, : len(rows[j])] = 1.0
            h = self.model.hidden(x).double()  # type: ignore[operator]
            part = (h * keep[..., None]).sum(1)
            for r, j in enumerate(idx):
                sums[owner[j]] += part[r]
                counts[owner[j]] += keep[r].sum()
        return (sums / counts[:, None]).float()

    def features(self, texts: Sequence[str]) -> Tensor:
        """Pooled and centred: what the contrastive head is trained on."""
        z = self.pooled(texts)
        return z if self.center is None else z - self.center

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        z = self.features(texts)
        if self.head is not None:
            with torch.no_grad():
                z = self.head(z)
        return F.normalize(z, dim=-1).numpy().astype(np.float32)


class ContrastiveHead(nn.Module):
    """z -> W z with W starting at the identity."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.eye(d))

    def forward(self, z: Tensor) -> Tensor:
        return z @ self.W.T


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric cross-entropy of the cosine-similarity matrix: row i should pick column i, both ways."""
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(a.shape[0])
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_head(pooled_a: Tensor, pooled_b: Tensor, *, steps: int, lr: float, batch: int, temperature: float,
               seed: int, on_step: Callable[[int, float], None] | None = None) -> ContrastiveHead:
    """Fit a ContrastiveHead on paired pooled features (rows of a and b that belong together)."""
    gen = torch.Generator().manual_seed(seed)
    head = ContrastiveHead(pooled_a.shape[1])
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.0)
    for step in range(steps):
        idx = torch.randperm(pooled_a.shape[0], generator=gen)[:batch]
        loss = info_nce(head(pooled_a[idx]), head(pooled_b[idx]), temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step, float(loss.detach()))
    return head.eval()


def kb_pairs(chunks: Sequence) -> tuple[list[str], list[str]]:  # noqa: ANN001  (Chunk, kept import-free)
    """Texts that belong together, from the KB only: each title with its body, each English example with its Spanish."""
    a = [c.title for c in chunks] + [e["en"] for c in chunks for e in c.examples if "en" in e and "es" in e]
    b = [c.body for c in chunks] + [e["es"] for c in chunks for e in c.examples if "en" in e and "es" in e]
    return a, b
