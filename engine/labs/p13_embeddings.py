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
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.labs._heatmaps import heatmap_grid
from engine.lm.models import embedding_probe as P
from engine.lm.models.embeddings import CBOW, Embedding, check_logits, effective_rank, make_cbow_pairs, nearest, pca_2d
from engine.lm.text import verbs as V
from engine.lm.text.corpus import TENSE_SURFACES
from engine.lm.text.streams import byte_stream, pair_stream
from engine.lm.train.cbow import fit_cbow
from engine.scratch.autograd.tensor import no_grad


# ---------------------------------------------------------------------- lab 00
def embedding_module(cfg: dict, rec: Recorder) -> dict:
    """Lookup, gradient routing, bounds, save/load, and lookup vs one-hot matmul timing."""
    v, d = int(cfg["num_embeddings"]), int(cfg["embedding_dim"])
    rng = np.random.default_rng(cfg["seed"])
    emb = Embedding(v, d, rng=rng)
    out: dict[str, Any] = P.lookup_contract(emb, rng)
    emb.save(rec.out_dir / "embedding")
    back = Embedding.load(rec.out_dir / "embedding")
    out["save_load_bit_exact"] = bool(back.weight.data.tobytes() == emb.weight.data.tobytes()
                                      and back.weight.data.dtype == emb.weight.data.dtype)
    rec.artifact("embedding.npy", "embedding")
    rec.artifact("embedding.json", "embedding")
    # timing: n_ids lookups from the table versus one_hot(ids) @ E, single-threaded (per core)
    timing_ids = rng.integers(0, v, size=int(cfg["n_ids"]))
    t = P.lookup_timing(emb.weight.data, timing_ids, int(cfg["iterations"]), log=rec.log)
    with open(rec.artifact("lookup_timing.csv", "timing"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["iteration", "lookup_s", "onehot_matmul_s"])
        w.writerows(t["rows"])
    out["lookup_equals_onehot_matmul"] = bool(out["lookup_equals_onehot_matmul"] and t["same"])
    out["init_std"] = float(emb.weight.data.std())
    out["lookup_speedup_vs_onehot"] = t["best_matmul_s"] / t["best_lookup_s"]
    return out


# ---------------------------------------------------------------------- CBOW with the lab's config
def train_cbow_model(tok_vocab: int, table_rows: int, stream: np.ndarray, cfg: dict, rec: Recorder,
                     tied: bool = False, silence_check: bool = False) -> tuple[CBOW, list[float]]:
    """engine.lm.train.cbow.fit_cbow with the lab's config; logs the mean loss per epoch."""
    return fit_cbow(stream, table_rows, dim=int(cfg["embedding_dim"]), window=int(cfg["window"]),
                    lr=float(cfg["lr"]), momentum=float(cfg["momentum"]), batch_size=int(cfg["batch_size"]),
                    epochs=int(cfg["epochs"]), seed=cfg["seed"], tied=tied,
                    check_vocab=None if silence_check else tok_vocab, log=rec.log, progress=rec.progress)


# ---------------------------------------------------------------------- lab 01
def _tied_vocab_mismatch(cfg: dict, rec: Recorder) -> dict:
    """The break: a 256-token tokenizer, a `vocab_size`-row table and a tied head."""
    vocab = int(cfg["vocab_size"])
    tok, stream = byte_stream(cfg["seed"])
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
    _, losses = train_cbow_model(tok.vocab_size, vocab, stream, cfg, rec, tied=True, silence_check=True)
    return {"logits_vocab": int(logits.shape[-1]), "tokenizer_vocab": tok.vocab_size,
            "shape_error_raised": shape_error, "final_loss": losses[-1], "initial_loss": losses[0],
            "log_v": math.log(tok.vocab_size), "final_loss_over_log_v": losses[-1] / math.log(tok.vocab_size)}


def train_cbow(cfg: dict, rec: Recorder) -> dict:
    """Train CBOW on the corpus stream; neighbours of "work", norm vs frequency."""
    if cfg.get("fault") == "tied_vocab_mismatch":
        return _tied_vocab_mismatch(cfg, rec)
    tok, stream = pair_stream(int(cfg["vocab_size"]), cfg["seed"])
    model, losses = train_cbow_model(tok.vocab_size, tok.vocab_size, stream, cfg, rec)
    model.embed.save(rec.out_dir / "cbow_embedding")
    rec.artifact("cbow_embedding.npy", "embedding")
    rec.artifact("cbow_embedding.json", "embedding")
    table = model.embed.weight.data
    counts = np.bincount(stream, minlength=tok.vocab_size)
    used = np.flatnonzero(counts)
    out: dict[str, Any] = {"vocab_size": tok.vocab_size, "corpus_size_tokens": int(len(stream)),
                           "tokens_used": int(len(used)), "initial_loss": losses[0], "final_loss": losses[-1],
                           "loss_drop": losses[0] - losses[-1], "log_v": math.log(tok.vocab_size),
                           "final_loss_over_log_v": losses[-1] / math.log(tok.vocab_size),
                           "logits_vocab": tok.vocab_size, "shape_error_raised": False}
    work = P.token_id(tok, "work")
    if work is not None:
        verbs_ids = {i for w in V.VERBS if (i := P.token_id(tok, w)) is not None}
        cos = nearest(table, table[work], 5, "cosine", {work}, used)
        euc = nearest(table, table[work], 5, "euclidean", {work}, used)
        out["top5_nearest_work_cosine"] = [tok.token_str(i) for i, _ in cos]
        out["top5_nearest_work_euclidean"] = [tok.token_str(i) for i, _ in euc]
        out["work_top5_cosine_verb_share"] = sum(tok.token_str(i).strip() in V.VERBS or i in verbs_ids
                                                 or P.is_verb_piece(tok.token_str(i)) for i, _ in cos) / 5
    hand_ctx, hand_centres = make_cbow_pairs(np.arange(10, 16), 2)
    out["cbow_pairs_hand_case_ok"] = (hand_ctx.tolist() == [[10, 11, 13, 14], [11, 12, 14, 15]]
                                      and hand_centres.tolist() == [12, 13])
    ctx = np.stack([stream[i:i + 4] for i in range(0, 120, 3)])  # any (N, 4) block of ids
    out["cbow_forward_vs_numpy_max_rel_diff"] = P.cbow_forward_vs_numpy(model, ctx)
    out["norm_frequency_spearman"] = P.spearman(np.linalg.norm(table[used], axis=1), counts[used])
    init_table = CBOW(tok.vocab_size, table.shape[1], rng=np.random.default_rng(cfg["seed"])).embed.weight.data
    out["effective_rank_init"] = effective_rank(init_table[used])  # the same draw training started from
    out["effective_rank"] = effective_rank(table[used])
    out["effective_rank_floor"] = 0.3 * min(len(used), table.shape[1])
    out["effective_rank_over_floor"] = out["effective_rank"] / out["effective_rank_floor"]
    return out


# ---------------------------------------------------------------------- lab 02
def _work_neighbours(rec: Recorder, tok: Any, table: np.ndarray, used: np.ndarray) -> tuple[bool, int]:
    """Top-10 of "work" by cosine and Euclidean (work_neighbors.csv): do they differ, and mismatches vs brute force."""
    work = P.token_id(tok, "work")
    if work is None:
        return False, 0
    c10 = nearest(table, table[work], 10, "cosine", {work}, used)
    e10 = nearest(table, table[work], 10, "euclidean", {work}, used)
    mismatch = int([i for i, _ in c10] != P.brute_neighbours(table, work, 10, "cosine", used)) + int(
        [i for i, _ in e10] != P.brute_neighbours(table, work, 10, "euclidean", used))
    with open(rec.artifact("work_neighbors.csv", "table"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "cosine_nn", "similarity", "euclidean_nn", "distance"])
        for k, ((ci, cs), (ei, ed)) in enumerate(zip(c10, e10, strict=True), start=1):
            w.writerow([k, tok.token_str(ci), f"{cs:.4f}", tok.token_str(ei), f"{ed:.4f}"])
    return [i for i, _ in c10] != [i for i, _ in e10], mismatch


def visualise(cfg: dict, rec: Recorder) -> dict:
    """Train CBOW as in lab 01, then the 2-D map, infinitive heatmap, neighbour table and tense probe."""
    tok, stream = pair_stream(int(cfg["vocab_size"]), cfg["seed"])
    model, losses = train_cbow_model(tok.vocab_size, tok.vocab_size, stream, cfg, rec)
    table = model.embed.weight.data.astype(np.float64)
    used = np.flatnonzero(np.bincount(stream, minlength=tok.vocab_size))
    forms, labels = P.form_vectors(tok, table)  # third person, English and Spanish of each cell adjacent
    points, explained = pca_2d(forms)
    if cfg["projection"] != "pca":
        rec.note("umap-learn is not installed; the map uses PCA")
    for i, ((v, t, lang, text), (x, y)) in enumerate(zip(labels, points, strict=True)):
        rec.log(i, stage="projection", x=float(x), y=float(y), token=text, tense=t, verb=v, language=lang)
    heat, inf_tokens = P.infinitive_cosines(tok, table)
    _heatmap(rec, heat, list(V.VERBS))
    differ, brute_mismatch = _work_neighbours(rec, tok, table, used)
    probe = P.tense_probe(forms, labels)
    for i, ((v, t), p) in enumerate(sorted(probe.pop("projection").items())):
        rec.log(i, stage="probe", projection=p, tense=t, tense_index=TENSE_SURFACES.index(t), verb=v,
                held_out=v in probe["held_out"])
    del probe["held_out"]
    return {
        "neighbours_vs_brute_force_mismatches": brute_mismatch,
        "pca_vs_covariance_eig_max_err": P.pca_vs_covariance(forms, points, explained),
        "projection_used": "pca", "pca_explained_variance": [float(e) for e in explained],
        "final_loss": losses[-1],
        "cosine_vs_euclid_top10_differ": bool(differ),
        "effective_rank_closed_form_err": max(abs(effective_rank(np.eye(4)) - 4.0),
                                              abs(effective_rank(np.diag([2.0, 1.0, 1.0])) - 2.0 ** 1.5)),
        **P.form_cosine_contrasts(forms, labels), **probe,
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
