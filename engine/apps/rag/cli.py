"""The verb-tutor command: `python -m engine.apps.rag.cli ask "what's the past participle of eat?" --k 5`.

Prints one JSON object with the four keys the course fixes: query, retrieved (chunk_id, score),
answer and cited_chunks. Everything is built from the shipped KB; nothing is downloaded. The
default reader is extractive; `--reader generative` answers with the phase-29 reader model
(built into the model cache on first use, `--full` for the full-mode stage).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from engine.apps.rag.kb_grammar import build_kb
from engine.apps.rag.pipeline import ExtractiveReader, RAGPipeline
from engine.apps.rag.retrieve import BM25, DenseRetriever, HashingEmbedder, HybridRetriever


def build_pipeline(k: int = 5, dim: int = 256, k1: float = 1.5, b: float = 0.75, k_rrf: int = 60,
                   candidates: int = 20, n_sentences: int = 2, rank_weight: float = 0.2,
                   skip_retrieval: bool = False) -> RAGPipeline:
    kb = build_kb()
    dense = DenseRetriever(kb, HashingEmbedder(dim=dim))
    hybrid = HybridRetriever(dense, BM25.from_chunks(kb, k1, b), k_rrf, candidates)
    return RAGPipeline(hybrid, ExtractiveReader(dense.embedder, n_sentences, rank_weight),
                       {c.chunk_id: c for c in kb}, k, skip_retrieval)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verb-tutor", description="Grammar questions answered from the KB, with citations.")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer one question")
    ask.add_argument("query")
    ask.add_argument("--k", type=int, default=5)
    ask.add_argument("--reader", choices=("extractive", "generative"), default="extractive")
    ask.add_argument("--full", action="store_true", help="the full-mode reader stage (generative only)")
    args = parser.parse_args(argv)
    pipe = build_pipeline(k=args.k)
    if args.reader == "generative":
        from engine.apps.rag.reader_tuned import tuned_reader  # torch and the model cache, only when asked

        pipe.reader = tuned_reader(quick=not args.full)[0]
    result = pipe.answer(args.query)
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
