"""The RAG step of a tutor request is traced: with a retrieval index the server opens a
`rag.retrieve` span under the request's root whose attributes are the retriever's own answer
(chunk ids, scores, citations), and the response cites the same chunks. Read back from
OpenTelemetry's in-memory exporter, compared with the pipeline called directly."""

from __future__ import annotations

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from engine.apps.rag.cli import build_pipeline
from engine.systems.serve.api import ROUTE, ServeConfig, Service, create_app
from engine.systems.serve.lm import TutorLM

SENTENCE = "She have two brothers."


def _service(index) -> tuple[Service, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return Service(TutorLM.build(seed=7, max_new_tokens=4), ServeConfig(policy="continuous"), provider,
                   index=index), memory


def test_retrieval_is_a_span_with_the_retrievers_answer() -> None:
    index = build_pipeline()
    want = index.answer(SENTENCE)
    assert want["retrieved"], "the knowledge base should return chunks for a grammar sentence"
    svc, memory = _service(index)
    try:
        r = TestClient(create_app(svc)).post(ROUTE, json={"sentence": SENTENCE}, headers={"X-Request-Id": "rag-1"})
    finally:
        svc.close()
    assert r.status_code == 200 and r.json()["cited_chunks"] == want["cited_chunks"]
    spans = memory.get_finished_spans()
    root = next(s for s in spans if s.parent is None)
    rag = [s for s in spans if s.name == "rag.retrieve"]
    assert len(rag) == 1 and rag[0].parent.span_id == root.context.span_id
    assert rag[0].context.trace_id == root.context.trace_id
    a = rag[0].attributes
    assert a["request.id"] == "rag-1" and a["rag.k"] == index.k
    assert list(a["rag.chunk_ids"]) == [h["chunk_id"] for h in want["retrieved"]]
    assert list(a["rag.scores"]) == [h["score"] for h in want["retrieved"]]
    assert a["rag.top_score"] == want["retrieved"][0]["score"] and list(a["rag.cited"]) == want["cited_chunks"]
    assert len(spans) == 10  # the 9 serving spans plus retrieval, all in one trace
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}


def test_without_an_index_there_is_no_retrieval_span() -> None:
    svc, memory = _service(None)
    try:
        r = TestClient(create_app(svc)).post(ROUTE, json={"sentence": SENTENCE})
    finally:
        svc.close()
    assert r.status_code == 200 and "cited_chunks" not in r.json()
    names = [s.name for s in memory.get_finished_spans()]
    assert len(names) == 9 and "rag.retrieve" not in names
