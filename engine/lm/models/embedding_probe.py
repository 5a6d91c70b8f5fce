"""What phase 13 measures on an embedding table: the lookup's contract, its cost against a one-hot
matmul, and the geometry CBOW learns on the verb corpus (neighbours, form vectors, a tense probe).

The lab entries call these and log the numbers; each check here has a plain reference (the
one-hot matmul, a sort over per-row scores, the covariance eigenvalues, a float64 forward).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from engine.core.threads import blas_threads
from engine.lm.models.embeddings import CBOW, Embedding
from engine.lm.text import verbs as V
from engine.lm.text.bpe import BPETokenizer
from engine.lm.text.corpus import TENSE_SURFACES, english_form
from engine.lm.text.spanish import spanish_form
from engine.scratch.autograd.tensor import Tensor, no_grad


def _raises(fn: Callable[[], Any], err: type[Exception]) -> bool:
    try:
        fn()
    except err:
        return True
    return False


def _error_text(fn: Callable[[], Any], err: type[Exception]) -> str:
    """The message of the `err` that fn raises ('' if it raises none): which check refused the input."""
    try:
        fn()
    except err as e:
        return str(e)
    return ""


def lookup_contract(emb: Embedding, rng: np.random.Generator) -> dict[str, Any]:
    """The lookup's contract on `emb` (its gradient must be unset): a repeated id's gradient counts twice,
    untouched rows get none, shapes, value and gradient equal a one-hot matmul, bad ids raise."""
    v, d = emb.num_embeddings, emb.embedding_dim
    emb(np.array([3, 3])).sum().backward()
    grad = emb.weight.grad
    assert grad is not None
    batch = rng.integers(0, v, size=(4, 5))
    one_hot = np.eye(v, dtype=np.float32)[batch.ravel()]
    emb.weight.grad = None
    up = rng.normal(size=(batch.size, d)).astype(np.float32)
    (emb(batch.ravel()) * Tensor(up)).sum().backward()
    grad2 = emb.weight.grad
    assert grad2 is not None
    bad_ids = (np.array([v]), np.array([-1]), np.array([[0, v + 5]]))
    ends = emb(np.array([0, v - 1])).data
    return {
        "duplicate_id_row_grad": float(grad[3].max()), "duplicate_id_row_grad_min": float(grad[3].min()),
        "untouched_rows_grad_abs_max": float(np.abs(np.delete(grad, 3, axis=0)).max()),
        "shapes_ok": bool(emb(batch).shape == (4, 5, d) and emb(batch[0]).shape == (5, d)),
        "lookup_equals_onehot_matmul": bool(np.array_equal(emb(batch.ravel()).data, one_hot @ emb.weight.data)),
        "grad_equals_onehot_matmul_grad": bool(np.allclose(grad2, one_hot.T @ up, atol=1e-5)),
        "out_of_range_raises": all(_raises(lambda b=bad: emb(b), IndexError) for bad in bad_ids),
        "out_of_range_refused_by_range_check": all("outside the table" in _error_text(lambda b=bad: emb(b), IndexError)
                                                   for bad in bad_ids),
        "first_and_last_id_lookup_ok": bool(np.array_equal(ends, emb.weight.data[[0, v - 1]])),
        "float_ids_raise_type_error": _raises(lambda: emb(np.array([1.0, 2.0])), TypeError),
    }


def lookup_timing(table: np.ndarray, ids: np.ndarray, iters: int,
                  log: Callable[..., None] | None = None) -> dict[str, Any]:
    """Best-of-`iters` seconds of `table[ids]` and of `one_hot(ids) @ table`, single-threaded (per core);
    `rows`: (iteration, lookup_s, matmul_s) about 20 times; `same`: the two results are equal."""
    eye = np.eye(len(table), dtype=table.dtype)
    best_lookup, best_matmul = math.inf, math.inf
    rows = []
    with blas_threads(1):
        for rep in range(iters):
            t0 = time.perf_counter()
            a = table[ids]
            t1 = time.perf_counter()
            b = eye[ids] @ table
            t2 = time.perf_counter()
            best_lookup, best_matmul = min(best_lookup, t1 - t0), min(best_matmul, t2 - t1)
            if rep % max(iters // 20, 1) == 0:
                rows.append((rep, t1 - t0, t2 - t1))
                if log is not None:
                    log(rep, stage="timing", lookup_us=1e6 * (t1 - t0), onehot_matmul_us=1e6 * (t2 - t1))
    return {"best_lookup_s": best_lookup, "best_matmul_s": best_matmul, "rows": rows,
            "same": bool(np.array_equal(a, b))}


def token_id(tok: BPETokenizer, word: str) -> int | None:
    """The id of the token whose text is exactly `word`, or None."""
    ids = tok.encode(word)
    return ids[0] if len(ids) == 1 else None


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (ties broken by position)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@lru_cache(maxsize=1)
def _verb_forms() -> tuple[frozenset[str], frozenset[str]]:
    forms = {english_form(v, tn, p).split()[-1] for v in V.VERBS for tn in TENSE_SURFACES for p in range(3)}
    spanish = {spanish_form(v, tn, p).split()[-1] for v in V.VERBS for tn in TENSE_SURFACES for p in range(3)}
    return frozenset(forms), frozenset(spanish)


def is_verb_piece(token: str) -> bool:
    """A token that carries a verb: an English form or lemma, or a Spanish lemma/form piece of length >= 3."""
    t = token.strip()
    words = t.split()
    forms, spanish = _verb_forms()
    return bool(words) and (words[-1] in forms or words[-1] in spanish
                            or (len(t) >= 3 and any(s.startswith(t) for s in spanish | forms)))


def brute_neighbours(table: np.ndarray, q: int, k: int, metric: str, used: np.ndarray) -> list[int]:
    """The k nearest rows written as a plain sort over a per-row score (ties by row): nearest()'s oracle."""
    def score(r: int) -> float:
        a, b = table[r], table[q]
        if metric == "cosine":
            return -float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) + 1e-12)
        return float(np.linalg.norm(a - b))
    return sorted((int(r) for r in used if r != q), key=lambda r: (score(r), r))[:k]


def cbow_forward_vs_numpy(model: CBOW, ctx: np.ndarray) -> float:
    """Max relative difference of the CBOW forward against float64 NumPy (mean of rows @ W^T + b),
    with a random bias put in for the check (a zero bias could hide a bug) and restored after."""
    table = model.embed.weight.data
    bias = model.b_out.data.copy()
    model.b_out.data[...] = np.random.default_rng(1).normal(0.0, 1.0, bias.shape)
    with no_grad():
        got = model(ctx).data.astype(np.float64)
    want = table[ctx].astype(np.float64).mean(axis=1) @ model.w_out.data.T.astype(np.float64) + model.b_out.data
    model.b_out.data[...] = bias
    return float(np.abs(got - want).max() / np.abs(want).max())


def form_vector(tok: BPETokenizer, table: np.ndarray, text: str) -> tuple[np.ndarray, int]:
    """The mean of `text`'s token vectors and its token count."""
    ids = tok.encode(text)
    return table[ids].mean(axis=0), len(ids)


def form_vectors(tok: BPETokenizer, table: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str, str, str]]]:
    """One vector per (verb, tense, language) third-person form, English then Spanish of each cell
    adjacent; labels are (verb, tense, language, text)."""
    forms, labels = [], []
    for v in V.VERBS:
        for t in TENSE_SURFACES:
            for lang, text in (("en", english_form(v, t, 2)), ("es", spanish_form(v, t, 2))):
                forms.append(form_vector(tok, table, text)[0])
                labels.append((v, t, lang, text))
    return np.array(forms), labels


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def form_cosine_contrasts(forms: np.ndarray, labels: list[tuple[str, str, str, str]]) -> dict[str, float]:
    """Mean cosine of same-verb pairs minus other pairs, and of translation pairs minus other cross-language pairs."""
    unit = _unit_rows(forms)
    cos = unit @ unit.T
    verb_of = np.array([lbl[0] for lbl in labels])
    lang_of = np.array([lbl[2] for lbl in labels])
    off = ~np.eye(len(labels), dtype=bool)
    same_verb = (verb_of[:, None] == verb_of[None, :]) & off
    pair = np.zeros_like(off)
    for i in range(0, len(labels), 2):
        pair[i, i + 1] = pair[i + 1, i] = True
    cross_lang = (lang_of[:, None] != lang_of[None, :]) & ~pair
    return {"same_verb_minus_other_cosine": float(cos[same_verb].mean() - cos[off & ~same_verb].mean()),
            "translation_pair_minus_cross_language_cosine": float(cos[pair].mean() - cos[cross_lang].mean())}


def infinitive_cosines(tok: BPETokenizer, table: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The cosine matrix of the infinitives' vectors and each infinitive's token count."""
    pairs = [form_vector(tok, table, v) for v in V.VERBS]
    iv = _unit_rows(np.array([p[0] for p in pairs]))
    return iv @ iv.T, [p[1] for p in pairs]


def tense_probe(forms: np.ndarray, labels: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """A past-minus-future direction fitted on the even-indexed verbs' English forms; `projection`:
    every English (verb, tense) form on it; the separations are read on the odd (held-out) verbs."""
    en_idx = {(v, t): i for i, (v, t, lang, _) in enumerate(labels) if lang == "en"}
    fit_verbs, held = V.VERBS[0::2], V.VERBS[1::2]
    direction = (np.mean([forms[en_idx[(v, "past_simple")]] for v in fit_verbs], axis=0)
                 - np.mean([forms[en_idx[(v, "future_will")]] for v in fit_verbs], axis=0))
    direction /= np.linalg.norm(direction) + 1e-12
    proj = {key: float(forms[i] @ direction) for key, i in en_idx.items()}
    past = np.array([proj[(v, "past_simple")] for v in held])
    fut = np.array([proj[(v, "future_will")] for v in held])
    inf = np.array([proj[(v, "infinitive")] for v in held])
    lo, hi = min(past.mean(), fut.mean()), max(past.mean(), fut.mean())
    return {"projection": proj, "held_out": list(held),
            "probe_past_future_separation": float(past.mean() - fut.mean()),
            "probe_heldout_verbs_ordered": float(np.mean(past > fut)),
            "probe_infinitive_between": bool(lo < inf.mean() < hi)}


def pca_vs_covariance(x: np.ndarray, points: np.ndarray, explained: np.ndarray) -> float:
    """Largest disagreement of pca_2d's explained ratios and point variances with the covariance's top eigenvalues."""
    eig = np.linalg.eigvalsh(np.cov(x.T, bias=True))[::-1]
    return max(float(np.abs(np.asarray(explained) - eig[:2] / eig.sum()).max()),
               float(np.abs(points.var(axis=0) - eig[:2]).max() / eig[0]))
