"""Retrieval without downloads: a hashing TF-IDF embedder, a flat cosine index, BM25 and RRF fusion.

The course's dense model (a multilingual MiniLM) needs a download, so the dense side here is
the course's own offline control: a 256-dimensional hashing embedder over words and character
3-5-grams with TF-IDF weights, L2-normalised. Character n-grams let "trabajó" meet "trabajé"
and "studies" meet "study", which exact-word BM25 cannot; BM25 in turn rewards rare exact
words ("eaten", "tener"). Reciprocal rank fusion adds 1 / (k_rrf + rank) from each list.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from engine.apps.rag.chunk import Chunk

_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens, accents kept, no stemming or stop words (the lab's BM25 tokenizer)."""
    return _WORD.findall(text.lower())


def _features(text: str, ngram: tuple[int, int]) -> list[str]:
    feats = []
    for w in tokenize(text):
        feats.append("w:" + w)
        padded = f"<{w}>"
        for n in range(ngram[0], ngram[1] + 1):
            feats += ["c:" + padded[i: i + n] for i in range(max(len(padded) - n + 1, 0))]
    return feats


def _bucket(feat: str, dim: int) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


@dataclass
class HashingEmbedder:
    """TF-IDF over hashed word and character n-gram features; fit() learns the IDF from the chunks."""
    dim: int = 256
    ngram: tuple[int, int] = (3, 5)
    idf: dict[str, float] = field(default_factory=dict)

    def fit(self, texts: Sequence[str]) -> HashingEmbedder:
        df = Counter(f for t in texts for f in set(_features(t, self.ngram)))
        n = len(texts)
        self.idf = {f: math.log((1 + n) / (1 + c)) + 1.0 for f, c in df.items()}
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        default = math.log(1 + len(self.idf) or 1) + 1.0
        for i, t in enumerate(texts):
            for f, c in Counter(_features(t, self.ngram)).items():
                j, sign = _bucket(f, self.dim)
                out[i, j] += sign * (1 + math.log(c)) * self.idf.get(f, default)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class FlatIndex:
    """Brute-force cosine search over unit vectors."""

    def __init__(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        self.embeddings, self.ids = embeddings, list(ids)

    def search(self, query_emb: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        scores = self.embeddings @ query_emb
        top = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids[i], float(scores[i])) for i in top]


class Embedder(Protocol):
    """What a dense retriever needs: fit on the indexed texts, then embed to unit rows."""

    def fit(self, texts: Sequence[str]) -> Embedder: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class DenseRetriever:
    """Any Embedder (HashingEmbedder, the baseline; engine.apps.rag.model_embed.ModelEmbedder) over a FlatIndex."""

    def __init__(self, chunks: Sequence[Chunk], embedder: Embedder | None = None) -> None:
        texts = [c.text for c in chunks]
        self.embedder = (embedder or HashingEmbedder()).fit(texts)
        self.index = FlatIndex(self.embedder.embed(texts), [c.chunk_id for c in chunks])

    def search(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        return self.index.search(self.embedder.embed([query])[0], k)


@dataclass
class BM25:
    chunk_ids: list[str]
    tokens_per_doc: list[list[str]]
    k1: float = 1.5
    b: float = 0.75
    df: Counter = field(default_factory=Counter)

    @classmethod
    def from_chunks(cls, chunks: Sequence[Chunk], k1: float = 1.5, b: float = 0.75) -> BM25:
        toks = [tokenize(c.text) for c in chunks]
        return cls([c.chunk_id for c in chunks], toks, k1, b, Counter(t for d in toks for t in set(d)))

    @property
    def avgdl(self) -> float:
        return sum(map(len, self.tokens_per_doc)) / len(self.tokens_per_doc)

    def idf(self, term: str) -> float:
        n, df = len(self.chunk_ids), self.df.get(term, 0)
        return math.log((n - df + 0.5) / (df + 0.5) + 1.0)

    def score(self, query: str) -> np.ndarray:
        avgdl = self.avgdl
        out = np.zeros(len(self.chunk_ids))
        for term in tokenize(query):
            idf = self.idf(term)
            for i, doc in enumerate(self.tokens_per_doc):
                tf = doc.count(term)
                if tf:
                    out[i] += idf * tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * len(doc) / avgdl))
        return out

    def search(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        s = self.score(query)
        top = np.argsort(-s, kind="stable")[:k]
        return [(self.chunk_ids[i], float(s[i])) for i in top]


def reciprocal_rank_fusion(*rankings: Sequence[tuple[str, float]], k_rrf: int = 60,
                           top_k: int = 5) -> list[tuple[str, float]]:
    """Sum of 1 / (k_rrf + rank) over the lists (rank from 1); scores of the inputs are ignored."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, (cid, _) in enumerate(ranking, start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (k_rrf + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]


class HybridRetriever:
    def __init__(self, dense: DenseRetriever, bm25: BM25, k_rrf: int = 60, candidates: int = 20) -> None:
        self.dense, self.bm25, self.k_rrf, self.candidates = dense, bm25, k_rrf, candidates

    def search(self, query: str, k: int = 5) -> list[tuple[str, float]]:
        n = max(k, self.candidates)
        return reciprocal_rank_fusion(self.dense.search(query, n), self.bm25.search(query, n),
                                      k_rrf=self.k_rrf, top_k=k)


def hit_rate_at_k(ranked: Sequence[str], expected: Sequence[str], k: int) -> float:
    return 1.0 if set(ranked[:k]) & set(expected) else 0.0


def reciprocal_rank(ranked: Sequence[str], expected: Sequence[str]) -> float:
    for i, cid in enumerate(ranked, start=1):
        if cid in expected:
            return 1.0 / i
    return 0.0


def evaluate(search, queries, k_values: Sequence[int] = (1, 3, 5)) -> tuple[dict[str, float], list[dict]]:  # noqa: ANN001
    """Aggregate hit@k and MRR (over the top max(k) results), plus one row per query."""
    kmax = max(k_values)
    rows = []
    for q in queries:
        ranked = [cid for cid, _ in search(q.query, kmax)]
        row = {"query_id": q.query_id, "language": q.language, "kind": q.kind,
               "rr": reciprocal_rank(ranked, q.expected_chunks)}
        row.update({f"hit@{k}": hit_rate_at_k(ranked, q.expected_chunks, k) for k in k_values})
        rows.append(row)
    agg = {f"hit@{k}": float(np.mean([r[f"hit@{k}"] for r in rows])) for k in k_values}
    agg["mrr"] = float(np.mean([r["rr"] for r in rows]))
    return agg, rows
