"""Phase 29 labs: validate the shipped KB, dense baseline, BM25 + RRF hybrid, end-to-end RAG with citations.

Everything runs offline on the KB in engine.apps.rag.kb_grammar (62 chunks) and the 30 queries in
engine.apps.rag.queries. The dense retriever is the hashing TF-IDF embedder (no model download).
Fault `no_retrieval` (the break): the pipeline hands the reader the bare question.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections import Counter
from typing import Any

import numpy as np

from engine.apps.rag import cli
from engine.apps.rag.chunk import coverage, load_chunks, make_chunk, save_chunks, validate_chunks
from engine.apps.rag.kb_grammar import build_kb
from engine.apps.rag.pipeline import CATEGORIES, run_queries, summarize, token_f1
from engine.apps.rag.queries import eval_queries
from engine.apps.rag.retrieve import BM25, DenseRetriever, HashingEmbedder, HybridRetriever, evaluate
from engine.core.run import Recorder
from engine.lm.models import registry

FAULT = "no_retrieval"


# ---------------------------------------------------------------------- lab 00: KB
def kb_curation(cfg: dict, rec: Recorder) -> dict:
    kb = build_kb()
    path = rec.out_dir / "chunks.jsonl"
    save_chunks(kb, path)
    rec.artifact(path, "knowledge base")
    loaded = load_chunks(path)
    errors = validate_chunks(loaded)
    for e in errors:
        rec.note(e)
    cov = coverage(loaded)
    # the validator must reject what the course's tests reject
    probe = kb[0].to_json()
    rejects = {
        "tense_conditional": bool(validate_chunks(loaded[1:] + [make_chunk({**probe, "tense": "conditional"})])),
        "verb_run": bool(validate_chunks(loaded[1:] + [make_chunk({**probe, "verbs": ["run"]})])),
        "duplicate_id": bool(validate_chunks(loaded + [loaded[0]])),
        "coverage_minimum": bool(validate_chunks([c for c in loaded if c.topic != "time_marker"])),
    }
    for i, (key, n) in enumerate(sorted(Counter(c.topic for c in loaded).items())):
        rec.log(i, stage="topics", topic=key, chunks=n)
    return {"n_chunks": len(loaded), "validation_errors": len(errors), "roundtrip_equal": loaded == kb,
            "en_tense_rule_chunks": cov["en:tense_rule"], "irregular_form_chunks": cov["*:irregular_form"],
            "spanish_equivalent_chunks": cov["*:spanish_equivalent"], "bilingual_chunks": cov["bilingual:*"],
            "time_marker_chunks": cov["*:time_marker"], "validator_rejects_all": all(rejects.values()),
            **{f"rejects_{k}": v for k, v in rejects.items()}}


# ---------------------------------------------------------------------- lab 01: dense baseline
def _self_test() -> tuple[float, float, float]:
    """hit@1 = 0, hit@2 = 1, MRR = 0.5 for a query whose only relevant chunk is ranked second."""
    from engine.apps.rag.queries import Query

    q = Query("t", "en", "verbatim", "x", ("b",), "")
    agg, _ = evaluate(lambda text, k: [("a", 1.0), ("b", 0.5), ("c", 0.1)][:k], [q], k_values=(1, 2))
    return agg["hit@1"], agg["hit@2"], agg["mrr"]


def dense_baseline(cfg: dict, rec: Recorder) -> dict:
    kb, queries = build_kb(), eval_queries()
    dense = DenseRetriever(kb, HashingEmbedder(dim=int(cfg["dim"])))
    ks = tuple(int(k) for k in cfg["k_values"])
    agg, rows = evaluate(dense.search, queries, ks)
    for i, r in enumerate(rows):
        rec.log(i, stage="per_query", **r)
    for k in ks:
        rec.log(k, stage="hit_rate", k=k, hit_rate=agg[f"hit@{k}"])
    h1, h2, mrr = _self_test()
    misses = [r["query_id"] for r in rows if not r[f"hit@{max(ks)}"]]
    rec.note(f"dense misses at {max(ks)}: {misses}")
    by_lang = {lang: sum(r[f"hit@{max(ks)}"] for r in rows if r["language"] == lang) / 10 for lang in ("en", "es", "cross")}
    norms = np.linalg.norm(dense.embedder.embed([c.text for c in kb[:20]] + ["past tense of go"]), axis=1)
    return {"embedding_norm_max_dev": float(np.abs(norms - 1.0).max()),
            **{k.replace("@", "_at_"): v for k, v in agg.items()}, "synthetic_hit_at_1": h1,
            "synthetic_hit_at_2": h2, "synthetic_mrr": mrr, "misses": misses,
            **{f"hit_at_5_{lang}": v for lang, v in by_lang.items()}}


# ---------------------------------------------------------------------- lab 02: BM25 + RRF
def bm25_reference(docs: list[list[str]], query: list[str], k1: float, b: float) -> list[float]:
    """BM25 (Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5))) written straight from the formula."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    scores = []
    for d in docs:
        s = 0.0
        for term in query:
            df = sum(1 for e in docs if term in e)
            tf = d.count(term)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            s += idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * len(d) / avgdl)) if tf else 0.0
        scores.append(s)
    return scores


def retrieval_references(kb: list, bm25: BM25, k_rrf: int) -> dict[str, float]:
    """BM25 on the knowledge base against the plain formula; fusion and ranks against closed forms."""
    from engine.apps.rag.retrieve import hit_rate_at_k, reciprocal_rank, reciprocal_rank_fusion, tokenize

    docs = [tokenize(c.text) for c in kb]
    worst = 0.0
    for q in ("past tense of go", "he went to school yesterday", "pretérito de ir", "will + base form"):
        ref = bm25_reference(docs, tokenize(q), bm25.k1, bm25.b)
        worst = max(worst, float(np.max(np.abs(bm25.score(q) - np.asarray(ref)))))
    fused = dict(reciprocal_rank_fusion([("a", 9.0), ("b", 8.0), ("c", 7.0)], [("c", 1.0), ("a", 0.5)], k_rrf=k_rrf, top_k=3))
    rrf_err = max(abs(fused["a"] - (1 / (k_rrf + 1) + 1 / (k_rrf + 2))), abs(fused["c"] - (1 / (k_rrf + 3) + 1 / (k_rrf + 1))),
                  abs(fused["b"] - 1 / (k_rrf + 2)))
    ranked = ["x", "y", "z", "w"]
    metric_ok = (reciprocal_rank(ranked, ["z"]) == 1 / 3 and hit_rate_at_k(ranked, ["z"], 2) == 0.0
                 and hit_rate_at_k(ranked, ["z"], 3) == 1.0 and reciprocal_rank(ranked, ["q"]) == 0.0)
    return {"bm25_vs_formula_max_abs_diff": worst, "rrf_closed_form_err": rrf_err, "rank_metrics_hand_case_ok": metric_ok}


def bm25_hybrid(cfg: dict, rec: Recorder) -> dict:
    kb, queries = build_kb(), eval_queries()
    dense = DenseRetriever(kb, HashingEmbedder(dim=int(cfg["dim"])))
    bm25 = BM25.from_chunks(kb, float(cfg["k1"]), float(cfg["b"]))
    cand = int(cfg["candidates_per_side"])
    hybrid = HybridRetriever(dense, bm25, int(cfg["k_rrf"]), cand)
    out: dict[str, Any] = retrieval_references(kb, bm25, int(cfg["k_rrf"]))
    per_query: dict[str, dict[str, float]] = {}
    for i, (name, r) in enumerate((("dense", dense), ("bm25", bm25), ("hybrid", hybrid))):
        agg, rows = evaluate(r.search, queries, (1, 3, 5))
        out[f"{name}_hit_at_5"], out[f"{name}_mrr"], out[f"{name}_hit_at_1"] = agg["hit@5"], agg["mrr"], agg["hit@1"]
        rec.log(i, stage="compare", retriever=name, hit_at_5=agg["hit@5"], mrr=agg["mrr"])
        for row in rows:
            per_query.setdefault(row["query_id"], {})[name] = row["hit@5"]
        for sl in ("en", "es", "cross", "verbatim", "paraphrase"):
            sel = [row["hit@5"] for row in rows if sl in (row["language"], row["kind"])]
            out[f"{name}_hit_at_5_{sl}"] = sum(sel) / len(sel)
    out.update(_model_rows(cfg, rec, kb, queries, bm25, cand))
    out["hybrid_minus_dense_pp"] = 100.0 * (out["hybrid_hit_at_5"] - out["dense_hit_at_5"])
    out["hybrid_minus_bm25_pp"] = 100.0 * (out["hybrid_hit_at_5"] - out["bm25_hit_at_5"])
    for j, k_rrf in enumerate(cfg["k_rrf_sweep"]):
        agg, _ = evaluate(HybridRetriever(dense, bm25, int(k_rrf), cand).search, queries, (5,))
        rec.log(j, stage="k_rrf_sweep", k_rrf=int(k_rrf), hit_at_5=agg["hit@5"], mrr=agg["mrr"])
    path = rec.out_dir / "per_query.csv"
    path.write_text("query_id,dense,bm25,hybrid\n" + "".join(
        f"{q},{int(v['dense'])},{int(v['bm25'])},{int(v['hybrid'])}\n" for q, v in per_query.items()))
    rec.artifact(path, "per-query hits")
    rec.note(f"hit@5 dense {out['dense_hit_at_5']:.3f}, BM25 {out['bm25_hit_at_5']:.3f}, "
             f"hybrid {out['hybrid_hit_at_5']:.3f} (MRR {out['hybrid_mrr']:.3f})")
    return out


def _model_rows(cfg: dict, rec: Recorder, kb: list, queries: list, bm25: BM25, cand: int) -> dict[str, float]:
    """The dense leg embedded by the phase-28 tutor itself: mean-pooled hidden states (centred), then with a
    contrastive head trained here on KB pairs; each alone and fused with BM25. Named rows next to hashing."""
    from engine.apps.rag.model_embed import ModelEmbedder, kb_pairs, train_head
    from engine.lm.text import bilingual as B
    from engine.torchstack.finetune import tutor as T

    model, tok, ck = T.tutor(bool(cfg["quick"]))
    registry.record(rec, ck)
    emb = ModelEmbedder(model, tok.encode, B.PAD).fit([c.text for c in kb])
    out: dict[str, float] = {}
    rows = [("dense_model", None)]
    a, b = kb_pairs(kb)
    head = train_head(emb.features(a), emb.features(b), steps=int(cfg["head_steps"]), lr=float(cfg["head_lr"]),
                      batch=int(cfg["head_batch"]), temperature=float(cfg["head_temperature"]), seed=int(cfg["seed"]))
    rows.append(("dense_model_head", head))
    for i, (name, h) in enumerate(rows, start=3):
        emb.head = h
        dense = DenseRetriever(kb, emb)
        for tag, r in ((name, dense), (name.replace("dense", "hybrid"), HybridRetriever(dense, bm25, int(cfg["k_rrf"]), cand))):
            agg, _ = evaluate(r.search, queries, (1, 3, 5))
            out[f"{tag}_hit_at_5"], out[f"{tag}_mrr"] = agg["hit@5"], agg["mrr"]
            rec.log(i, stage="compare", retriever=tag, hit_at_5=agg["hit@5"], mrr=agg["mrr"])
    return out


# ---------------------------------------------------------------------- lab 03: end to end
def _log_rows(rec: Recorder, rows: list[dict[str, Any]], path_name: str, what: str) -> dict[str, float]:
    """Per-query lines, the answers file and the failure bars; returns the summary."""
    for i, r in enumerate(rows):
        rec.log(i, stage="per_query", query_id=r["query_id"], faithful=float(r["faithful"]), f1=float(r["f1"]),
                category=r["category"])
    path = rec.out_dir / path_name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rec.artifact(path, what)
    out = summarize(rows)
    for j, name in enumerate(CATEGORIES):
        rec.log(j, stage="failures", category=name, count=out[f"n_{name}"])
    return out


def end_to_end(cfg: dict, rec: Recorder) -> dict:
    pipe = cli.build_pipeline(k=int(cfg["k"]), n_sentences=int(cfg["n_sentences"]),
                              rank_weight=float(cfg["rank_weight"]),
                              skip_retrieval=cfg.get("fault") == FAULT)
    rows = run_queries(pipe, eval_queries()[: int(cfg["n_queries"])])
    out = _log_rows(rec, rows, "per_query.jsonl", "answers")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cli.main(["ask", "what's the past participle of eat?", "--k", "5"])
    cli_out = json.loads(buf.getvalue())
    return {**out, "cli_output_keys_ok": set(cli_out) == {"query", "retrieved", "answer", "cited_chunks"},
            "cli_cites_eaten": "eaten" in cli_out["answer"], "f1_hand_case_error": _f1_hand_case_error()}


def _f1_hand_case_error() -> float:
    """Answer F1 on cases worked by hand: citations dropped, repeated words counted once per match."""
    cases = (("he works [en-x-1]", "works", 2 / 3), ("Eaten.", "eaten", 1.0), ("went", "gone", 0.0),
             ("a a b", "a b b", 2 / 3), ("a b", "a b c d", 2 / 3))
    return max(abs(token_f1(answer, ref) - want) for answer, ref, want in cases)


# ---------------------------------------------------------------------- lab 04: the generative reader
def generative_reader(cfg: dict, rec: Recorder) -> dict:
    """The phase-29 reader model (the tutor, LoRA-tuned to answer and cite) against the extractive
    reader, on the same retrieved chunks: masked to cite only rules it was given, and unmasked."""
    from engine.apps.rag import reader_tuned as RT
    from engine.lm.train import spine

    quick = bool(cfg["quick"])
    model, ck = registry.load(RT.NAME, quick)  # once: a stage's key hashes its examples (seconds)
    registry.record_lineage(rec, ck, quick)
    tok, stage = spine.tokenizer(quick), RT._config(quick)
    reader = RT.reader_for(model, tok, stage, masked=True)
    queries = eval_queries()[: int(cfg["n_queries"])]
    pipe = cli.build_pipeline(k=int(cfg["k"]), skip_retrieval=cfg.get("fault") == FAULT)
    out: dict[str, Any] = {}
    readers = (("extractive", pipe.reader), ("generative", reader),
               ("generative_unmasked", RT.reader_for(model, tok, stage, masked=False)))
    for name, r in readers:
        pipe.reader = r
        summary = _log_rows(rec, run_queries(pipe, queries), f"{name}.jsonl", f"{name} answers")
        out.update({f"{name}_{k}": v for k, v in summary.items()})
    _, test = RT.examples(stage)
    held = RT.example_accuracy(reader, test[: int(cfg["n_heldout"])])
    out.update({f"heldout_{k}": v for k, v in held.items()}, n_heldout=min(len(test), int(cfg["n_heldout"])))
    out["generative_minus_extractive_faithfulness"] = out["generative_faithfulness"] - out["extractive_faithfulness"]
    rec.note(f"faithfulness: generative {out['generative_faithfulness']:.2f} (F1 {out['generative_answer_f1']:.2f}), "
             f"extractive {out['extractive_faithfulness']:.2f} (F1 {out['extractive_answer_f1']:.2f}); "
             f"held-out template questions: form {held['form']:.2f}, citation {held['citation']:.2f}")
    return out
