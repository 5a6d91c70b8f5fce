"""Token embeddings (phase 13): a checked lookup table, CBOW, and tools to read the geometry.

- `Embedding`: `engine.scratch.nn.Embedding` (a Tensor index, whose backward is `np.add.at` into the
  rows that were read, so a repeated id gets its gradient twice) plus what the course adds:
  the 0.02 init, an IndexError for ids outside the table, and bit-exact save/load as a
  .npy file (allow_pickle=False) with a JSON manifest.
- `CBOW`: mean of the 2k context embeddings, scored against every vocabulary entry with an
  untied output matrix and bias (full softmax). `tied=True` scores with the embedding
  table itself (h @ E^T); `check_logits` is the shape check that catches a tied head whose
  table size differs from the tokenizer's vocabulary.
- `make_cbow_pairs`, `nearest` (cosine or Euclidean), `effective_rank`, `pca_2d`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn import Embedding as _TableLookup
from engine.scratch.nn import Module, Parameter

VERSION = "1.0.0"


class Embedding(_TableLookup):
    """A (num_embeddings, embedding_dim) table: ids (B,) -> (B, d), (B, T) -> (B, T, d)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, init_scale: float = 0.02,
                 rng: np.random.Generator | None = None, dtype: Any = np.float32) -> None:
        super().__init__(num_embeddings, embedding_dim, std=init_scale, rng=rng, dtype=dtype)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim

    def forward(self, ids: Any) -> Tensor:
        arr = np.asarray(ids)
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"embedding ids must be integers, got {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.num_embeddings):
            bad = arr[(arr < 0) | (arr >= self.num_embeddings)].ravel()[0]
            raise IndexError(f"id {bad} is outside the table (0..{self.num_embeddings - 1})")
        return self.weight[arr.astype(np.int64, copy=False)]  # the table lookup; backward scatter-adds

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """`<path>.npy` (the raw table) and `<path>.json` (shape, dtype, sha256, version)."""
        base = Path(path).with_suffix("")
        npy, meta = base.with_suffix(".npy"), base.with_suffix(".json")
        np.save(npy, self.weight.data, allow_pickle=False)
        info = {"shape": list(self.weight.shape), "dtype": str(self.weight.data.dtype), "version": VERSION,
                "sha256": hashlib.sha256(np.ascontiguousarray(self.weight.data).tobytes()).hexdigest()}
        meta.write_text(json.dumps(info, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        return npy, meta

    @classmethod
    def load(cls, path: str | Path) -> Embedding:
        base = Path(path).with_suffix("")
        info = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
        table = np.load(base.with_suffix(".npy"), allow_pickle=False)
        if list(table.shape) != info["shape"] or str(table.dtype) != info["dtype"]:
            raise ValueError(f"{base}: table {table.shape} {table.dtype} does not match its manifest")
        if hashlib.sha256(np.ascontiguousarray(table).tobytes()).hexdigest() != info["sha256"]:
            raise ValueError(f"{base}: table bytes do not match the manifest's sha256")
        emb = cls(table.shape[0], table.shape[1], dtype=table.dtype)
        emb.weight.data[...] = table
        return emb


def check_logits(logits: Tensor, vocab_size: int) -> None:
    """The head must score exactly the tokenizer's vocabulary: anything else trains on the wrong classes."""
    if logits.shape[-1] != vocab_size:
        raise ValueError(f"logits have {logits.shape[-1]} classes but the tokenizer has {vocab_size}")


class CBOW(Module):
    """Continuous bag of words: logits = mean(E[context]) @ W_out^T + b_out (or @ E^T when tied)."""

    def __init__(self, vocab_size: int, embedding_dim: int, rng: np.random.Generator | None = None,
                 tied: bool = False) -> None:
        super().__init__()
        self.embed = Embedding(vocab_size, embedding_dim, rng=rng)
        self.tied = tied
        if not tied:
            r = rng if rng is not None else np.random.default_rng()
            self.w_out = Parameter(r.normal(0.0, 0.02, size=(vocab_size, embedding_dim)), dtype=np.float32)
        self.b_out = Parameter(np.zeros(vocab_size), dtype=np.float32)

    def forward(self, contexts: Any) -> Tensor:
        h = self.embed(contexts).mean(axis=1)
        w = self.embed.weight if self.tied else self.w_out
        return h @ w.transpose() + self.b_out


def make_cbow_pairs(tokens: np.ndarray | list[int], window: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(contexts (N, 2*window), centres (N,)) with N = L - 2*window: edge positions are skipped."""
    t = np.asarray(tokens, dtype=np.int64)
    n = len(t) - 2 * window
    if n <= 0:
        return np.zeros((0, 2 * window), dtype=np.int64), np.zeros(0, dtype=np.int64)
    offsets = [o for o in range(-window, window + 1) if o != 0]
    centres = np.arange(window, window + n)
    return np.stack([t[centres + o] for o in offsets], axis=1), t[centres]


def nearest(table: np.ndarray, query: np.ndarray, k: int, metric: str = "cosine",
            exclude: set[int] | None = None, candidates: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Top-k rows of `table` nearest to `query`: (row, cosine similarity) or (row, Euclidean distance)."""
    rows = np.arange(len(table)) if candidates is None else np.asarray(candidates)
    rows = np.array([r for r in rows if r not in (exclude or set())])
    sub = table[rows].astype(np.float64)
    q = np.asarray(query, dtype=np.float64)
    if metric == "cosine":
        score = sub @ q / (np.linalg.norm(sub, axis=1) * np.linalg.norm(q) + 1e-12)
        order = np.lexsort((rows, -score))
    elif metric == "euclidean":
        score = np.linalg.norm(sub - q, axis=1)
        order = np.lexsort((rows, score))
    else:
        raise ValueError(f"metric must be cosine or euclidean, got {metric!r}")
    return [(int(rows[i]), float(score[i])) for i in order[:k]]


def effective_rank(table: np.ndarray) -> float:
    """exp(entropy) of the normalised singular values: how many directions the table uses."""
    s = np.linalg.svd(np.asarray(table, dtype=np.float64), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project rows onto the top-2 principal components; returns (points (N, 2), explained variance ratio (2,))."""
    centred = np.asarray(x, dtype=np.float64) - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    vt = vt * np.sign(vt[:, :1] + 1e-300)  # fix each component's sign so results are reproducible
    var = s**2 / max((s**2).sum(), 1e-300)
    return centred @ vt[:2].T, var[:2]
