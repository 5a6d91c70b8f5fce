"""Phase 13 labs: the Embedding module, CBOW on the verb corpus, the geometry it learns.

The token stream is the corpus's train split, one row per line as
"<English><|sep|><Spanish><|endoftext|>", encoded with Phase 11's 512-token BPE trained on the
same split. An English form and its Spanish pair therefore share context windows.

Fault `tied_vocab_mismatch` (the phase's break, lab 01): the tokenizer shrinks to the 256
byte tokens while the embedding keeps 512 rows and the head is tied (logits = h @ E^T), so
the logits have 512 columns for 256-way targets.
"""

from __future__ import annotations

import csv
import math
import time
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.core.threads import blas_threads
from engine.labs._heatmaps import heatmap_grid
from engine.lm.models.embeddings import (
    CBOW,
    Embedding,
    check_logits,
    effective_rank,
    make_cbow_pairs,
    nearest,
    pca_2d,
)
from engine.lm.text import verbs as V
from engine.lm.text.bpe import BPETokenizer
from engine.lm.text.corpus import TENSE_SURFACES, english_form
from engine.lm.text.corpus_checks import canonical_splits
from engine.lm.text.spanish import spanish_form
from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad
from engine.scratch.optim import SGD

SPECIALS = ["<|pad|>", "<|endoftext|>", "<|unk|>", "<|sep|>"]


# ---------------------------------------------------------------------- lab 00
def embedding_module(cfg: dict, rec: Recorder) -> dict:
    """Lookup, gradient routing, bounds, save/load, and lookup vs one-hot matmul timing."""
    v, d = int(cfg["num_embeddings"]), int(cfg["embedding_dim"])
    rng = np.random.default_rng(cfg["seed"])
    emb = Embedding(v, d, rng=rng)
    ids = np.array([3, 3])
    out = emb(ids)
    out.sum().backward()
    grad = emb.weight.grad
    untouched = np.delete(grad, 3, axis=0)
    batch = rng.integers(0, v, size=(4, 5))
    shapes_ok = emb(batch).shape == (4, 5, d) and emb(batch[0]).shape == (5, d)
    one_hot = np.eye(v, dtype=np.float32)[batch.ravel()]
    matches_matmul = np.array_equal(emb(batch.ravel()).data, one_hot @ emb.weight.data)
    # the lookup's backward equals the matmul's: one_hot^T @ upstream
    emb.weight.grad = None
    up = rng.normal(size=(batch.size, d)).astype(np.float32)
    (emb(batch.ravel()) * Tensor(up)).sum().backward()
    grad_matches_matmul = np.allclose(emb.weight.grad, one_hot.T @ up, atol=1e-5)
    raises = []
    for bad in (np.array([v]), np.array([-1]), np.array([[0, v + 5]])):
        try:
            emb(bad)
            raises.append(False)
        except IndexError:
            raises.append(True)
    ends = emb(np.array([0, v - 1])).data
    ends_ok = bool(np.array_equal(ends, emb.weight.data[[0, v - 1]]))
    try:
        emb(np.array([1.0, 2.0]))
        float_refused = False
    except TypeError:
        float_refused = True
    emb.save(rec.out_dir / "embedding")
    back = Embedding.load(rec.out_dir / "embedding")
    bit_exact = back.weight.data.tobytes() == emb.weight.data.tobytes() and back.weight.data.dtype == emb.weight.data.dtype
    rec.artifact("embedding.npy", "embedding")
    rec.artifact("embedding.json", "embedding")
    # timing: n_ids lookups from the table versus one_hot(ids) @ E
    n_ids, iters = int(cfg["n_ids"]), int(cfg["iterations"])
    timing_ids = rng.integers(0, v, size=n_ids)
    table = emb.weight.data
    eye = np.eye(v, dtype=table.dtype)
    best_lookup, best_matmul = math.inf, math.inf
    rows = []
    with blas_threads(1):  # single-threaded, as the runner pins it: the comparison is per core
        for rep in range(iters):
            t0 = time.perf_counter()
            a = table[timing_ids]
            t1 = time.perf_counter()
            b = eye[timing_ids] @ table
            t2 = time.perf_counter()
            best_lookup, best_matmul = min(best_lookup, t1 - t0), min(best_matmul, t2 - t1)
            if rep % max(iters // 20, 1) == 0:
                rows.append((rep, t1 - t0, t2 - t1))
                rec.log(rep, stage="timing", lookup_us=1e6 * (t1 - t0), onehot_matmul_us=1e6 * (t2 - t1))
    same = np.array_equal(a, b)
    with open(rec.artifact("lookup_timing.csv", "timing"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["iteration", "lookup_s", "onehot_matmul_s"])
        w.writerows(rows)
    return {
        "duplicate_id_row_grad": float(grad[3].max()),
        "duplicate_id_row_grad_min": float(grad[3].min()),
        "untouched_rows_grad_abs_max": float(np.abs(untouched).max()),
        "shapes_ok": bool(shapes_ok),
        "lookup_equals_onehot_matmul": bool(matches_matmul and same),
        "grad_equals_onehot_matmul_grad": bool(grad_matches_matmul),
        "out_of_range_raises": all(raises),
        "first_and_last_id_lookup_ok": ends_ok, "float_ids_raise_type_error": float_refused,
        "save_load_bit_exact": bool(bit_exact),
        "init_std": float(emb.weight.data.std()),
        "lookup_speedup_vs_onehot": best_matmul / best_lookup,
    }


# ---------------------------------------------------------------------- the corpus stream
def corpus_stream(vocab_size: int = 512, seed: int = 42) -> tuple[BPETokenizer, np.ndarray]:
    """The train split as one token stream, with the tokenizer that encoded it."""
    train = canonical_splits(seed)["train"]
    tok = BPETokenizer.train([t for r in train for t in (r["text"], r["spanish"])], vocab_size, SPECIALS)
    ids: list[int] = []
    for r in train:
        ids.extend(tok.encode(f"{r['text']}<|sep|>{r['spanish']}<|endoftext|>"))
    return tok, np.array(ids, dtype=np.int64)


def train_cbow_model(tok_vocab: int, table_rows: int, stream: np.ndarray, cfg: dict, rec: Recorder,
                     tied: bool = False, silence_check: bool = False) -> tuple[CBOW, list[float]]:
    """SGD with momentum over shuffled (context, centre) batches; logs the mean loss per epoch."""
    contexts, centres = make_cbow_pairs(stream, int(cfg["window"]))
    rng = np.random.default_rng(cfg["seed"])
    model = CBOW(table_rows, int(cfg["embedding_dim"]), rng=rng, tied=tied)
    opt = SGD(model.parameters(), lr=float(cfg["lr"]), momentum=float(cfg["momentum"]))
    bs, epochs = int(cfg["batch_size"]), int(cfg["epochs"])
    with no_grad():
        first = model(contexts)
        if not silence_check:
            check_logits(first, tok_vocab)
        initial = float(cross_entropy(first, centres).data)
    rec.log(0, stage="train", epoch=0, loss=initial)
    losses = [initial]
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(centres))
        total = 0.0
        with blas_threads(1):  # tiny matmuls: extra BLAS threads only thrash on a busy 2-core box
            for start in range(0, len(order), bs):
                idx = order[start:start + bs]
                loss = cross_entropy(model(contexts[idx]), centres[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.data) * len(idx)
        losses.append(total / len(order))
        rec.log(epoch, stage="train", epoch=epoch, loss=losses[-1])
        rec.progress(epoch, epochs)
    return model, losses


def _token_id(tok: BPETokenizer, word: str) -> int | None:
    """The id of the token whose text is exactly `word`, or None."""
    ids = tok.encode(word)
    return ids[0] if len(ids) == 1 else None


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


# ---------------------------------------------------------------------- lab 01
def train_cbow(cfg: dict, rec: Recorder) -> dict:
    """Train CBOW on the corpus stream; neighbours of "work", norm vs frequency."""
    vocab = int(cfg["vocab_size"])
    fault = cfg.get("fault") == "tied_vocab_mismatch"
    if fault:  # the tokenizer shrinks to the 256 byte tokens; the table keeps `vocab` rows, tied head
        tok, stream = _byte_stream(cfg["seed"])
        probe = CBOW(vocab, int(cfg["embedding_dim"]), rng=np.random.default_rng(cfg["seed"]), tied=True)
        with no_grad():
            logits = probe(make_cbow_pairs(stream[:16], int(cfg["window"]))[0])
        try:
            check_logits(logits, tok.vocab_size)
            shape_error = False
        except ValueError as err:
            shape_error = True
            rec.note(f"shape check: {err}")
        # silenced: train anyway; the targets only ever use the first 256 of the 512 classes
        model, losses = train_cbow_model(tok.vocab_size, vocab, stream, cfg, rec, tied=True, silence_check=True)
        return {"logits_vocab": int(logits.shape[-1]), "tokenizer_vocab": tok.vocab_size,
                "shape_error_raised": shape_error, "final_loss": losses[-1], "initial_loss": losses[0],
                "log_v": math.log(tok.vocab_size), "final_loss_over_log_v": losses[-1] / math.log(tok.vocab_size)}
    tok, stream = corpus_stream(vocab, cfg["seed"])
    model, losses = train_cbow_model(tok.vocab_size, tok.vocab_size, stream, cfg, rec)
    model.embed.save(rec.out_dir / "cbow_embedding")
    rec.artifact("cbow_embedding.npy", "embedding")
    rec.artifact("cbow_embedding.json", "embedding")
    table = model.embed.weight.data
    counts = np.bincount(stream, minlength=tok.vocab_size)
    used = np.flatnonzero(counts)
    work = _token_id(tok, "work")
    verbs_ids = {i for w in V.VERBS if (i := _token_id(tok, w)) is not None}
    out: dict[str, Any] = {"vocab_size": tok.vocab_size, "corpus_size_tokens": int(len(stream)),
                           "tokens_used": int(len(used)), "initial_loss": losses[0], "final_loss": losses[-1],
                           "loss_drop": losses[0] - losses[-1], "log_v": math.log(tok.vocab_size),
                           "final_loss_over_log_v": losses[-1] / math.log(tok.vocab_size),
                           "logits_vocab": tok.vocab_size, "shape_error_raised": False}
    if work is not None:
        cos = nearest(table, table[work], 5, "cosine", {work}, used)
        euc = nearest(table, table[work], 5, "euclidean", {work}, used)
        out["top5_nearest_work_cosine"] = [tok.token_str(i) for i, _ in cos]
        out["top5_nearest_work_euclidean"] = [tok.token_str(i) for i, _ in euc]
        out["work_top5_cosine_verb_share"] = sum(tok.token_str(i).strip() in V.VERBS or i in verbs_ids
                                                 or _is_verb_piece(tok.token_str(i)) for i, _ in cos) / 5
    hand_ctx, hand_centres = make_cbow_pairs(np.arange(10, 16), 2)
    out["cbow_pairs_hand_case_ok"] = (hand_ctx.tolist() == [[10, 11, 13, 14], [11, 12, 14, 15]]
                                      and hand_centres.tolist() == [12, 13])
    ctx = np.stack([stream[i:i + 4] for i in range(0, 120, 3)])  # any (N, 4) block of ids
    bias = model.b_out.data.copy()
    model.b_out.data[...] = np.random.default_rng(1).normal(0.0, 1.0, bias.shape)  # a bias that cannot hide
    with no_grad():
        got = model(ctx).data.astype(np.float64)
    want = table[ctx].astype(np.float64).mean(axis=1) @ model.w_out.data.T.astype(np.float64) + model.b_out.data
    model.b_out.data[...] = bias
    out["cbow_forward_vs_numpy_max_rel_diff"] = float(np.abs(got - want).max() / np.abs(want).max())
    norms = np.linalg.norm(table[used], axis=1)
    out["norm_frequency_spearman"] = _spearman(norms, counts[used])
    init_table = CBOW(tok.vocab_size, table.shape[1], rng=np.random.default_rng(cfg["seed"])).embed.weight.data
    out["effective_rank_init"] = effective_rank(init_table[used])  # the same draw training started from
    out["effective_rank"] = effective_rank(table[used])
    out["effective_rank_floor"] = 0.3 * min(len(used), table.shape[1])
    out["effective_rank_over_floor"] = out["effective_rank"] / out["effective_rank_floor"]
    return out


def _byte_stream(seed: int) -> tuple[BPETokenizer, np.ndarray]:
    train = canonical_splits(seed)["train"]
    tok = BPETokenizer.train([], 256)  # bytes only, no merges, no specials
    ids: list[int] = []
    for r in train:
        ids.extend(tok.encode(f"{r['text']}\n{r['spanish']}\n"))
    return tok, np.array(ids, dtype=np.int64)


def _is_verb_piece(token: str) -> bool:
    """A token that carries a verb: an English form or lemma, or a Spanish lemma/form piece of length >= 3."""
    t = token.strip()
    words = t.split()
    forms = {english_form(v, tn, p).split()[-1] for v in V.VERBS for tn in TENSE_SURFACES for p in range(3)}
    spanish = {spanish_form(v, tn, p).split()[-1] for v in V.VERBS for tn in TENSE_SURFACES for p in range(3)}
    return bool(words) and (words[-1] in forms or words[-1] in spanish
                            or (len(t) >= 3 and any(s.startswith(t) for s in spanish | forms)))


# ---------------------------------------------------------------------- lab 02
def _form_vector(tok: BPETokenizer, table: np.ndarray, text: str) -> tuple[np.ndarray, int]:
    ids = tok.encode(text)
    return table[ids].mean(axis=0), len(ids)


def _brute_neighbours(table: np.ndarray, q: int, k: int, metric: str, used: np.ndarray) -> list[int]:
    """The k nearest rows written as a plain sort over a per-row score (ties by row): nearest()'s oracle."""
    def score(r: int) -> float:
        a, b = table[r], table[q]
        if metric == "cosine":
            return -float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) + 1e-12)
        return float(np.linalg.norm(a - b))
    return sorted((int(r) for r in used if r != q), key=lambda r: (score(r), r))[:k]


def visualise(cfg: dict, rec: Recorder) -> dict:
    """Train CBOW as in lab 01, then the 2-D map, infinitive heatmap, neighbour table and tense probe."""
    tok, stream = corpus_stream(int(cfg["vocab_size"]), cfg["seed"])
    model, losses = train_cbow_model(tok.vocab_size, tok.vocab_size, stream, cfg, rec)
    table = model.embed.weight.data.astype(np.float64)
    counts = np.bincount(stream, minlength=tok.vocab_size)
    used = np.flatnonzero(counts)
    # form vectors: the mean token vector of each (verb, tense) form, English and Spanish, third person
    forms, labels = [], []
    for v in V.VERBS:
        for t in TENSE_SURFACES:
            for lang, text in (("en", english_form(v, t, 2)), ("es", spanish_form(v, t, 2))):
                vec, _ = _form_vector(tok, table, text)
                forms.append(vec)
                labels.append((v, t, lang, text))
    forms_arr = np.array(forms)
    projection = cfg["projection"]
    points, explained = pca_2d(forms_arr)
    if projection != "pca":
        rec.note("umap-learn is not installed; the map uses PCA")
    for i, ((v, t, lang, text), (x, y)) in enumerate(zip(labels, points, strict=True)):
        rec.log(i, stage="projection", x=float(x), y=float(y), token=text, tense=t, verb=v, language=lang)
    unit = forms_arr / (np.linalg.norm(forms_arr, axis=1, keepdims=True) + 1e-12)
    cos = unit @ unit.T
    verb_of = np.array([lbl[0] for lbl in labels])
    lang_of = np.array([lbl[2] for lbl in labels])
    off = ~np.eye(len(labels), dtype=bool)
    same_verb = (verb_of[:, None] == verb_of[None, :]) & off
    pair = np.zeros_like(off)
    for i in range(0, len(labels), 2):  # (en, es) of the same cell are adjacent
        pair[i, i + 1] = pair[i + 1, i] = True
    cross_lang = (lang_of[:, None] != lang_of[None, :]) & ~pair
    # infinitive heatmap
    inf_vecs, inf_tokens = [], []
    for v in V.VERBS:
        vec, n = _form_vector(tok, table, v)
        inf_vecs.append(vec)
        inf_tokens.append(n)
    iv = np.array(inf_vecs)
    iv = iv / (np.linalg.norm(iv, axis=1, keepdims=True) + 1e-12)
    heat = iv @ iv.T
    _heatmap(rec, heat, list(V.VERBS))
    # neighbours of "work"
    work = _token_id(tok, "work")
    differ, brute_mismatch = False, 0
    if work is not None:
        c10 = nearest(table, table[work], 10, "cosine", {work}, used)
        e10 = nearest(table, table[work], 10, "euclidean", {work}, used)
        differ = [i for i, _ in c10] != [i for i, _ in e10]
        brute_mismatch = int([i for i, _ in c10] != _brute_neighbours(table, work, 10, "cosine", used)) + int(
            [i for i, _ in e10] != _brute_neighbours(table, work, 10, "euclidean", used))
        with open(rec.artifact("work_neighbors.csv", "table"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["rank", "cosine_nn", "similarity", "euclidean_nn", "distance"])
            for k, ((ci, cs), (ei, ed)) in enumerate(zip(c10, e10, strict=True), start=1):
                w.writerow([k, tok.token_str(ci), f"{cs:.4f}", tok.token_str(ei), f"{ed:.4f}"])
    # tense probe: direction from the even-indexed verbs, evaluated on the odd ones
    en_idx = {(v, t): i for i, (v, t, lang, _) in enumerate(labels) if lang == "en"}
    fit_verbs, held_verbs = V.VERBS[0::2], V.VERBS[1::2]
    direction = (np.mean([forms_arr[en_idx[(v, "past_simple")]] for v in fit_verbs], axis=0)
                 - np.mean([forms_arr[en_idx[(v, "future_will")]] for v in fit_verbs], axis=0))
    direction /= np.linalg.norm(direction) + 1e-12
    proj = {key: float(forms_arr[i] @ direction) for key, i in en_idx.items()}
    for i, ((v, t), p) in enumerate(sorted(proj.items())):
        rec.log(i, stage="probe", projection=p, tense=t, tense_index=TENSE_SURFACES.index(t), verb=v,
                held_out=v in held_verbs)
    past_h = np.array([proj[(v, "past_simple")] for v in held_verbs])
    fut_h = np.array([proj[(v, "future_will")] for v in held_verbs])
    inf_h = np.array([proj[(v, "infinitive")] for v in held_verbs])
    eig = np.linalg.eigvalsh(np.cov(forms_arr.T, bias=True))[::-1]
    pca_err = max(float(np.abs(np.asarray(explained) - eig[:2] / eig.sum()).max()),
                  float(np.abs(points.var(axis=0) - eig[:2]).max() / eig[0]))
    return {
        "neighbours_vs_brute_force_mismatches": brute_mismatch, "pca_vs_covariance_eig_max_err": pca_err,
        "projection_used": "pca", "pca_explained_variance": [float(e) for e in explained],
        "final_loss": losses[-1],
        "cosine_vs_euclid_top10_differ": bool(differ),
        "effective_rank_closed_form_err": max(abs(effective_rank(np.eye(4)) - 4.0),
                                              abs(effective_rank(np.diag([2.0, 1.0, 1.0])) - 2.0 ** 1.5)),
        "same_verb_minus_other_cosine": float(cos[same_verb].mean() - cos[off & ~same_verb].mean()),
        "translation_pair_minus_cross_language_cosine": float(cos[pair].mean() - cos[cross_lang].mean()),
        "probe_past_future_separation": float(past_h.mean() - fut_h.mean()),
        "probe_heldout_verbs_ordered": float(np.mean(past_h > fut_h)),
        "probe_infinitive_between": bool(min(past_h.mean(), fut_h.mean()) < inf_h.mean() < max(past_h.mean(), fut_h.mean())),
        "infinitive_token_counts": inf_tokens,
        "infinitives_single_token": int(sum(n == 1 for n in inf_tokens)),
        "infinitive_mean_offdiag_cosine": float(heat[~np.eye(len(V.VERBS), dtype=bool)].mean()),
    }


def _heatmap(rec: Recorder, heat: np.ndarray, names: list[str]) -> None:
    """cosine_heatmap.png (diverging colormap centred at 0) plus the matrix as CSV."""
    with open(rec.artifact("cosine_heatmap.csv", "table"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["", *names])
        for n, row in zip(names, heat, strict=True):
            w.writerow([n, *(f"{x:.4f}" for x in row)])
    path = heatmap_grid([("cosine similarity of the 20 infinitives", heat)], rec.out_dir / "cosine_heatmap.png", ncols=1,
                        ticks=names, cmap="RdBu_r", vmin=-1, vmax=1, size=(8, 7))
    rec.artifact(path, "chart")
