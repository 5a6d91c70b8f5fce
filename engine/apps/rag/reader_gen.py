"""The generative reader of phase 29: the tuned tutor model writes the answer and cites a rule by its marker.

The model's context is short, so the prompt is compact: the top retrieved rules as numbered
titles, then the question, then "A:". The model answers with the form and the marker of the
rule it used, e.g. "eaten [2]"; `answer()` rewrites each marker to the chunk id it stands for
("[en-past-...-050]"), the course's citation style. A marker that names no rule in the prompt
becomes "[ref-N]", which no retrieved chunk has, so scoring counts it as a hallucinated citation
instead of hiding it.

It learns that format here (engine.apps.rag.reader_data builds the examples from the verb table and
the KB, never from the 30 evaluation queries) as a LoRA on top of the phase-28 tutor.

    rules:    [1] Irregular verb eat: ate, eaten
              [2] Present perfect: have or has plus the past participle
    question: Q: What is the past participle of eat?
    answer:   A: eaten [1]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.apps.rag.chunk import Chunk
from engine.apps.rag.pipeline import DONT_KNOW

MARKER = re.compile(r"\[(\d+)\]")


def rules_block(chunks: Sequence[Chunk]) -> str:
    return "".join(f"[{i}] {c.title}\n" for i, c in enumerate(chunks, start=1))


def reader_prompt(query: str, chunks: Sequence[Chunk]) -> str:
    return f"{rules_block(chunks)}Q: {query}\nA:"


def resolve_markers(text: str, chunks: Sequence[Chunk]) -> str:
    """[i] -> [chunk_id of the i-th rule]; an out-of-range marker -> [ref-i] (a hallucinated citation)."""
    def sub(m: re.Match[str]) -> str:
        i = int(m.group(1))
        return f"[{chunks[i - 1].chunk_id}]" if 1 <= i <= len(chunks) else f"[ref-{i}]"
    return MARKER.sub(sub, text)


@dataclass
class GenerativeReader:
    """answer(query, chunks) with a text-in, text-out generator (greedy decoding of the tuned model)."""

    generate: Callable[[str], str]  # prompt -> continuation (stops at end of line / eos)
    fits: Callable[[str], bool]  # whether a prompt plus the answer budget fits the model's context
    max_rules: int = 3

    def prompt_for(self, query: str, chunks: Sequence[Chunk]) -> tuple[str, list[Chunk]]:
        """The longest prefix of the ranked chunks (at most max_rules) whose prompt fits the context."""
        use = list(chunks[: self.max_rules])
        while use and not self.fits(reader_prompt(query, use)):
            use.pop()
        return reader_prompt(query, use), use

    def answer(self, query: str, chunks: Sequence[Chunk]) -> str:
        """With no chunks the model still answers from its weights (the no-retrieval ablation): any
        marker it writes then names no rule and counts as a hallucinated citation."""
        prompt, used = self.prompt_for(query, chunks)
        text = self.generate(prompt).strip()
        return resolve_markers(text, used) if text else DONT_KNOW
