"""The generative reader's pieces without the model: citation markers, the citation grammar, the
training questions (never the evaluation queries), answer F1 and the end-to-end summary."""

from __future__ import annotations

import json

import pytest

from engine.apps.rag import reader_data as RD
from engine.apps.rag.kb_grammar import build_kb
from engine.apps.rag.pipeline import RAGPipeline, run_queries, summarize, token_f1
from engine.apps.rag.queries import Query, eval_queries
from engine.apps.rag.reader_gen import GenerativeReader, reader_prompt, resolve_markers
from engine.apps.rag.reader_tuned import citation_grammar
from engine.apps.structured import regex as R


def test_markers_become_chunk_ids_and_unknown_ones_stay_visible() -> None:
    kb = build_kb()[:2]
    assert resolve_markers("works [2]", kb) == f"works [{kb[1].chunk_id}]"
    assert resolve_markers("works [3] [0]", kb) == "works [ref-3] [ref-0]"


def test_citation_grammar_allows_only_rules_in_the_prompt() -> None:
    g = citation_grammar(3)
    assert R.matches(g, " eaten [2]") and R.matches(g, " él comió [3]")
    for bad in (" eaten [4]", " eaten [0]", " eaten", "eaten [1]", " eaten [1] more", " [1]", " a [b] [1]"):
        assert not R.matches(g, bad), bad


def test_bare_strips_only_a_leading_pronoun() -> None:
    assert RD.bare("I went") == "went" and RD.bare("he works") == "works"
    assert RD.bare("eaten") == "eaten" and RD.bare("to go") == "to go"


def test_training_questions_never_repeat_an_evaluation_query() -> None:
    asked = {q[0].strip().lower() for q in RD.questions()}
    assert len(asked) == len(RD.questions())  # one answer per question
    assert not asked & {q.query.strip().lower() for q in eval_queries()}


def test_every_example_cites_the_rule_that_states_its_answer() -> None:
    kb = build_kb()
    by_id = {c.chunk_id: c for c in kb}

    def search(q: str, k: int) -> list[tuple[str, float]]:  # a retriever that never finds the target
        return [(kb[0].chunk_id, 1.0), (kb[1].chunk_id, 0.5), (kb[2].chunk_id, 0.2)][:k]

    items = RD.reader_examples(kb, search, 3, lambda p: True, seed=0)
    assert len(items) == len(RD.questions())
    for e in items[:200]:
        marker = int(e.answer.rsplit("[", 1)[1].rstrip("]"))
        title = e.prompt.splitlines()[marker - 1]
        assert title == f"[{marker}] {by_id[e.chunk_id].title}"
    eat_pp = next(e for e in items if e.prompt.endswith("Q: Tell me the past participle of eat.\nA:"))
    assert eat_pp.answer.startswith(" eaten [") and by_id[eat_pp.chunk_id].verbs == ("eat",)


def test_token_f1_by_hand() -> None:
    assert token_f1("eaten [x-1]", "eaten") == 1.0
    assert abs(token_f1("he works", "works") - 2 / 3) < 1e-12  # precision 1/2, recall 1
    assert token_f1("went", "gone") == 0.0 and token_f1("", "") == 1.0


def test_generative_reader_in_the_pipeline_and_its_summary() -> None:
    kb = build_kb()
    target = next(c for c in kb if c.title.startswith("Irregular verb eat"))
    other = kb[0]
    seen: list[str] = []

    def generate(prompt: str) -> str:
        seen.append(prompt)
        return " eaten [2]" if "[2]" in prompt else " eated [1]"

    class Fixed:
        def search(self, q: str, k: int) -> list[tuple[str, float]]:
            return [(other.chunk_id, 0.9), (target.chunk_id, 0.8)]

    reader = GenerativeReader(generate, lambda p: True)
    pipe = RAGPipeline(Fixed(), reader, {c.chunk_id: c for c in kb}, k=5)
    q = Query("q", "en", "verbatim", "past participle of eat?", (target.chunk_id,), "eaten")
    rows = run_queries(pipe, [q])
    assert seen[0] == reader_prompt(q.query, [other, target])
    assert rows[0]["answer"] == f"eaten [{target.chunk_id}]" and rows[0]["category"] == "faithful"
    s = summarize(rows)
    assert s["faithfulness"] == 1.0 and s["answer_f1"] == 1.0 and s["hallucinated_citations"] == 0
    pipe.skip_retrieval = True  # no rules: the model answers from its weights and its marker names nothing
    rows = run_queries(pipe, [q])
    assert rows[0]["answer"] == "eated [ref-1]" and rows[0]["category"] == "hallucinated_cite"
    assert summarize(rows)["faithfulness"] == 0.0 and summarize(rows)["retrieved_chunks_total"] == 0


@pytest.mark.slow  # builds the phase-29 reader stage on a cold cache (minutes)
def test_cli_generative_reader_answers_with_a_retrieved_citation(capsys) -> None:  # type: ignore[no-untyped-def]
    from engine.apps.rag import cli

    assert cli.main(["ask", "What is the past participle of eat?", "--reader", "generative"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"query", "retrieved", "answer", "cited_chunks"}
    retrieved = {r["chunk_id"] for r in out["retrieved"]}
    assert out["cited_chunks"] and set(out["cited_chunks"]) <= retrieved  # the citation grammar's guarantee
