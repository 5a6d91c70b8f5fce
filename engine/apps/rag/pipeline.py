"""Reader, RAG pipeline and faithfulness scoring.

The reader is extractive: it splits the retrieved chunks into sentences, keeps the two that
are closest to the question (cosine of hashing-TF-IDF vectors), and answers with those
sentences, each followed by the id of the chunk it came from in square brackets. It cannot cite
a chunk it was not given. With no chunks it says it does not know. It is the default reader: the
generative one (engine.apps.rag.reader_gen, the tuned model of engine.apps.rag.reader_tuned) is
scored against it in phase 29's lab 04 and is far less faithful at this model size.

An answer is faithful when it cites at least one expected chunk AND contains the expected
form (case-insensitive). A citation of an id that was not retrieved is a hallucinated one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.apps.rag.chunk import Chunk
from engine.apps.rag.retrieve import HashingEmbedder

CITATION = re.compile(r"\[([a-z][\w-]+)\]")
DONT_KNOW = "I don't know from the provided rules."
PROMPT_TEMPLATE = """You are a bilingual grammar tutor. Use the rules below to answer the
student's question. Cite the rule by its chunk_id in square brackets,
like [chunk_id]. If the rules do not contain the answer, say so plainly
("I don't know from the provided rules") rather than guess.

Rules:
{rules_section}

Question: {query}

Answer:"""


def build_prompt(query: str, chunks: Sequence[Chunk], template: str = PROMPT_TEMPLATE) -> str:
    rules = "\n".join(f"[{c.chunk_id}] {c.title}\n  {c.body}" for c in chunks)
    return template.format(rules_section=rules, query=query)


def extract_citations(answer: str) -> list[str]:
    return CITATION.findall(answer)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


class ExtractiveReader:
    def __init__(self, embedder: HashingEmbedder, n_sentences: int = 2, rank_weight: float = 0.0) -> None:
        self.embedder, self.n_sentences, self.rank_weight = embedder, n_sentences, rank_weight

    def answer(self, query: str, chunks: Sequence[Chunk]) -> str:
        """Best sentences by cosine to the query plus rank_weight / (retrieval rank of their chunk)."""
        cands = [(c.chunk_id, s, r) for r, c in enumerate(chunks, start=1) for s in _sentences(c.body)]
        if not cands:
            return DONT_KNOW
        q = self.embedder.embed([query])[0]
        scores = self.embedder.embed([s for _, s, _ in cands]) @ q
        scores = scores + self.rank_weight / np.array([r for _, _, r in cands])
        best = np.argsort(-scores, kind="stable")[: self.n_sentences]
        return " ".join(f"{cands[i][1]} [{cands[i][0]}]" for i in sorted(best))


@dataclass
class RAGPipeline:
    retriever: object  # anything with search(query, k) -> [(chunk_id, score)]
    reader: Any  # anything with answer(query, chunks) -> text: ExtractiveReader, reader_gen.GenerativeReader
    chunks: dict[str, Chunk]
    k: int = 5
    skip_retrieval: bool = False  # the phase's break: the reader gets the bare question

    def answer(self, query: str) -> dict[str, object]:
        retrieved = [] if self.skip_retrieval else self.retriever.search(query, self.k)  # type: ignore[attr-defined]
        text = self.reader.answer(query, [self.chunks[cid] for cid, _ in retrieved])
        return {"query": query, "retrieved": [{"chunk_id": cid, "score": round(s, 6)} for cid, s in retrieved],
                "answer": text, "cited_chunks": extract_citations(text)}


def token_f1(answer: str, reference: str) -> float:
    """SQuAD-style F1 of word tokens (lower case, citations and punctuation removed) against the reference."""
    def toks(s: str) -> list[str]:
        s = re.sub(r"\[[^\]]*\]", " ", s.lower())
        return re.findall(r"\w+", s)
    a, r = toks(answer), toks(reference)
    if not a or not r:
        return float(a == r)
    common = sum(min(a.count(w), r.count(w)) for w in set(r))
    if common == 0:
        return 0.0
    p, rec = common / len(a), common / len(r)
    return 2 * p * rec / (p + rec)


def score_answer(result: dict, must_cite: Sequence[str], pattern: str) -> dict[str, object]:
    cited = list(result["cited_chunks"])
    retrieved = {r["chunk_id"] for r in result["retrieved"]}
    hallucinated = [c for c in cited if c not in retrieved]
    citation_ok = any(c in must_cite for c in cited)
    pattern_ok = pattern.lower() in str(result["answer"]).lower()
    if hallucinated:
        category = "hallucinated_cite"
    elif citation_ok and pattern_ok:
        category = "faithful"
    elif pattern_ok:
        category = "wrong_cite_right_answer"
    elif citation_ok:
        category = "right_cite_wrong_answer"
    elif not cited:
        category = "no_cite_no_answer"
    else:
        category = "both_wrong"
    return {"citation_ok": citation_ok, "pattern_ok": pattern_ok, "faithful": citation_ok and pattern_ok,
            "hallucinated": len(hallucinated), "category": category, "f1": token_f1(str(result["answer"]), pattern)}


CATEGORIES = ("faithful", "wrong_cite_right_answer", "right_cite_wrong_answer", "no_cite_no_answer", "both_wrong",
              "hallucinated_cite")


def run_queries(pipe: RAGPipeline, queries: Sequence[Any]) -> list[dict[str, Any]]:
    """Every query through the pipeline: its result, its score, its id."""
    rows = []
    for q in queries:
        res = pipe.answer(q.query)
        rows.append({**res, **score_answer(res, q.expected_chunks, q.expected_answer_pattern), "query_id": q.query_id})
    return rows


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The end-to-end rates over scored rows (run_queries), and the count per failure category."""
    n = max(len(rows), 1)
    out: dict[str, float] = {"faithfulness": sum(bool(r["faithful"]) for r in rows) / n,
                             "answer_accuracy": sum(bool(r["pattern_ok"]) for r in rows) / n,
                             "citation_accuracy": sum(bool(r["citation_ok"]) for r in rows) / n,
                             "answer_f1": sum(float(r["f1"]) for r in rows) / n,
                             "hallucinated_citations": sum(int(r["hallucinated"]) for r in rows),
                             "retrieved_chunks_total": sum(len(r["retrieved"]) for r in rows)}
    return {**out, **{f"n_{c}": sum(r["category"] == c for r in rows) for c in CATEGORIES}}
