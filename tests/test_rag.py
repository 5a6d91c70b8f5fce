"""engine.apps.rag: KB validation, tokenizer, BM25 formula, RRF, metrics, embedder, citations and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np

from engine.apps.rag import cli
from engine.apps.rag.chunk import make_chunk, validate_chunks
from engine.apps.rag.kb_grammar import build_kb
from engine.apps.rag.pipeline import DONT_KNOW, build_prompt, extract_citations, score_answer
from engine.apps.rag.queries import eval_queries
from engine.apps.rag.retrieve import (
    BM25,
    HashingEmbedder,
    hit_rate_at_k,
    reciprocal_rank,
    reciprocal_rank_fusion,
    tokenize,
)


def test_kb_is_valid_and_the_validator_bites() -> None:
    kb = build_kb()
    assert len(kb) >= 50 and validate_chunks(kb) == []
    bad = make_chunk({**kb[0].to_json(), "chunk_id": "en-x-001", "tense": "conditional", "verbs": ["run"]})
    errors = " ".join(validate_chunks([*kb, bad, kb[1]]))
    assert "conditional" in errors and "run" in errors and "duplicate" in errors
    assert make_chunk({**kb[0].to_json(), "tense": "simple_future"}).tense == "future"


def test_queries_reference_real_chunks() -> None:
    ids = {c.chunk_id for c in build_kb()}
    qs = eval_queries()
    assert len(qs) == 30 and all(set(q.expected_chunks) <= ids for q in qs)
    assert {q.language for q in qs} == {"en", "es", "cross"}


def test_tokenize_keeps_accents() -> None:
    assert tokenize("ÉL trabajó") == ["él", "trabajó"]


def test_bm25_matches_the_formula_by_hand() -> None:
    kb = build_kb()[:5]
    bm = BM25.from_chunks(kb)
    term = tokenize(kb[0].text)[0]
    doc = bm.tokens_per_doc[0]
    n, df = len(kb), sum(term in d for d in bm.tokens_per_doc)
    idf = math.log((n - df + 0.5) / (df + 0.5) + 1)
    tf = doc.count(term)
    expected = idf * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * len(doc) / bm.avgdl))
    assert math.isclose(bm.score(term)[0], expected, rel_tol=1e-12)


def test_rrf_uses_ranks_only() -> None:
    a = [("x", 100.0), ("y", 1.0)]
    b = [("z", 9.0), ("y", 0.1)]
    fused = dict(reciprocal_rank_fusion(a, b, k_rrf=60))
    assert fused["y"] > fused["x"] == fused["z"]  # rank 2 + rank 2 beats a single rank 1


def test_metrics_on_a_synthetic_ranking() -> None:
    ranked = ["a", "b", "c"]
    assert hit_rate_at_k(ranked, ["b"], 1) == 0.0 and hit_rate_at_k(ranked, ["b"], 2) == 1.0
    assert reciprocal_rank(ranked, ["b"]) == 0.5


def test_hashing_embedder_is_normalised_and_morphology_aware() -> None:
    emb = HashingEmbedder().fit(["trabajar trabajo", "comer como", "ir voy"])
    v = emb.embed(["trabajé", "trabajó", "comí"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_prompt_citations_and_scoring() -> None:
    kb = build_kb()
    prompt = build_prompt("past of go?", kb[:2])
    assert f"[{kb[0].chunk_id}]" in prompt and prompt.rstrip().endswith("Answer:")
    res = {"retrieved": [{"chunk_id": kb[0].chunk_id, "score": 1.0}],
           "answer": f"went [{kb[0].chunk_id}] and [{kb[1].chunk_id}]", "cited_chunks": []}
    res["cited_chunks"] = extract_citations(str(res["answer"]))
    s = score_answer(res, [kb[0].chunk_id], "went")
    assert s["faithful"] and s["hallucinated"] == 1 and s["category"] == "hallucinated_cite"


def test_cli_and_skipped_retrieval(capsys) -> None:
    assert cli.main(["ask", "What is the past participle of eat?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"query", "retrieved", "answer", "cited_chunks"} and "eaten" in out["answer"]
    assert set(out["cited_chunks"]) <= {r["chunk_id"] for r in out["retrieved"]}
    blind = cli.build_pipeline(skip_retrieval=True).answer("What is the past participle of eat?")
    assert blind["answer"] == DONT_KNOW and blind["retrieved"] == []
