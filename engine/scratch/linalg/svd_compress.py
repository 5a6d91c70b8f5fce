"""Rank-k compression of the conjugation-count matrix, and the Eckart-Young theorem checked.

C (20 verbs x 15 person-tense cells) holds synthetic counts: verb frequency Zipf(1.2), tense
and person frequencies from the course, Poisson noise, and irregular verbs perturbed so the
matrix is not rank 1. The truncated SVD C_k = U_k S_k V_k^T is the best rank-k approximation
in both the Frobenius and the operator norm, with errors sqrt(sum_{i>k} s_i^2) and s_{k+1}.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # the shared section-A13 corpus, when another part of the engine provides it
    from engine.lm.text.verbs import IRREGULAR, PERSONS, TENSES, VERBS
except ImportError:  # pragma: no cover - fallback keeps this module standalone
    VERBS = ("work", "play", "walk", "talk", "listen", "watch", "study", "finish", "start", "look", "want", "like",
             "be", "have", "do", "go", "come", "see", "eat", "write")
    IRREGULAR = ("be", "have", "do", "go", "come", "see", "eat", "write")
    TENSES = ("infinitive", "present", "past", "past_participle", "future")
    PERSONS = ("first", "second", "third")

TENSE_FREQ = np.array([0.05, 0.45, 0.20, 0.05, 0.25])
PERSON_FREQ = np.array([0.35, 0.25, 0.40])


def conjugation_counts(seed: int = 42, n_sentences: int = 10_000, zipf_s: float = 1.2,
                       irregular_noise: float = 0.5) -> tuple[np.ndarray, list[str], list[str]]:
    """(C float32 of shape (20, 15), verb order, cell order tense-major)."""
    rng = np.random.default_rng(seed)
    f = 1.0 / np.arange(1, len(VERBS) + 1) ** zipf_s
    f /= f.sum()
    cells = np.outer(TENSE_FREQ, PERSON_FREQ).reshape(-1)  # tense-major: (tense, person)
    expected = n_sentences * np.outer(f, cells)
    irregular = np.array([v in IRREGULAR for v in VERBS])
    expected[irregular] *= np.exp(rng.normal(0.0, irregular_noise, (int(irregular.sum()), cells.size)))
    c = rng.poisson(expected).astype(np.float32)
    cell_names = [f"{t}/{p}" for t in TENSES for p in PERSONS]
    return c, list(VERBS), cell_names


def truncate(u: np.ndarray, s: np.ndarray, vt: np.ndarray, k: int) -> np.ndarray:
    return (u[:, :k] * s[:k]) @ vt[:k]


def compression_table(c: np.ndarray, ks: list[int]) -> dict[str, Any]:
    u, s, vt = np.linalg.svd(c, full_matrices=False)
    total = float(np.linalg.norm(c))
    rows = []
    for k in ks:
        ck = truncate(u, s, vt, k)
        fro = float(np.linalg.norm(c - ck))
        rows.append({
            "k": k, "frobenius_error": fro, "relative_error": fro / total,
            "eckart_young_fro": float(np.sqrt(np.sum(s[k:].astype(np.float64) ** 2))),
            "op_norm_error": float(np.linalg.norm(c - ck, 2)) if k < len(s) else 0.0,
            "sigma_next": float(s[k]) if k < len(s) else 0.0,
            "captured_energy": float(np.sum(s[:k] ** 2) / np.sum(s**2)),
            "storage": k * (c.shape[0] + c.shape[1] + 1),
        })
    return {"singular_values": s.tolist(), "rows": rows}


def random_rank_k_error(c: np.ndarray, k: int, rng: np.random.Generator) -> float:
    """Error of the best approximation within a random k-dim column space (never beats SVD)."""
    q, _ = np.linalg.qr(rng.standard_normal((c.shape[0], k)))
    return float(np.linalg.norm(c - q @ (q.T @ c)))
