"""Knowledge-base chunks: the schema, a JSONL loader and a validator with coverage minima.

A chunk is one grammar rule about the §A13 verbs: an id `<lang>-<tense>-<person>-<regularity>-
<topic>-<NNN>`, a language, a topic, optional tense and person, the verbs it covers, a title
(at most 80 characters) and a body of one to three sentences (at most 600 characters).
The course spells the future "future" here and "simple_future" elsewhere; both are accepted
and stored as "future".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.lm.text.verbs import VERBS

ALLOWED_LANGUAGES = {"en", "es", "bilingual"}
ALLOWED_TOPICS = {"tense_rule", "irregular_form", "auxiliary", "agreement", "time_marker", "spanish_equivalent"}
ALLOWED_TENSES = {"infinitive", "present_simple", "past_simple", "past_participle", "future", None}
TENSE_ALIASES = {"simple_future": "future", "present": "present_simple", "past": "past_simple"}
ALLOWED_PERSONS = {"1sg", "2sg", "3sg", None}
ALLOWED_REGULARITY = {"regular", "irregular", "both"}
COVERAGE_MINIMA = {("en", "tense_rule"): 20, ("*", "irregular_form"): 12, ("*", "spanish_equivalent"): 10,
                   ("bilingual", "*"): 5, ("*", "time_marker"): 3}
MIN_CHUNKS = 50
_SENTENCE_END = re.compile(r"[.!?](\s|$)")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    language: str
    topic: str
    tense: str | None
    person: str | None
    regularity: str
    verbs: tuple[str, ...]
    title: str
    body: str
    examples: tuple[dict[str, str], ...] = field(default_factory=tuple)
    source: str = "hand"

    @property
    def text(self) -> str:
        """What retrievers index: the title, the body and the examples."""
        ex = " ".join(" / ".join(e.values()) for e in self.examples)
        return f"{self.title}\n{self.body}\n{ex}".strip()

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["verbs"], d["examples"] = list(self.verbs), list(self.examples)
        return d


def make_chunk(d: dict) -> Chunk:
    tense = TENSE_ALIASES.get(d.get("tense"), d.get("tense"))
    return Chunk(d["chunk_id"], d["language"], d["topic"], tense, d.get("person"), d["regularity"],
                 tuple(d.get("verbs", ())), d["title"], d["body"], tuple(d.get("examples", ())),
                 d.get("source", "hand"))


def load_chunks(path: str | Path) -> list[Chunk]:
    return [make_chunk(json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def save_chunks(chunks: list[Chunk], path: str | Path) -> None:
    Path(path).write_text("".join(json.dumps(c.to_json(), ensure_ascii=False) + "\n" for c in chunks),
                          encoding="utf-8")


def sentence_count(text: str) -> int:
    return len(_SENTENCE_END.findall(text.strip()))


def coverage(chunks: list[Chunk]) -> dict[str, int]:
    out = {}
    for (lang, topic), _ in COVERAGE_MINIMA.items():
        out[f"{lang}:{topic}"] = sum(1 for c in chunks if lang in ("*", c.language) and topic in ("*", c.topic))
    return out


def validate_chunks(chunks: list[Chunk]) -> list[str]:
    """Every problem found, as readable strings; an empty list means the KB is valid."""
    errors: list[str] = []
    for cid, n in Counter(c.chunk_id for c in chunks).items():
        if n > 1:
            errors.append(f"duplicate chunk_id {cid}")
    for c in chunks:
        where = c.chunk_id
        if c.language not in ALLOWED_LANGUAGES:
            errors.append(f"{where}: language {c.language!r}")
        if c.topic not in ALLOWED_TOPICS:
            errors.append(f"{where}: topic {c.topic!r}")
        if c.tense not in ALLOWED_TENSES:
            errors.append(f"{where}: tense {c.tense!r}")
        if c.person not in ALLOWED_PERSONS:
            errors.append(f"{where}: person {c.person!r}")
        if c.regularity not in ALLOWED_REGULARITY:
            errors.append(f"{where}: regularity {c.regularity!r}")
        unknown = [v for v in c.verbs if v not in VERBS]
        if unknown or not c.verbs:
            errors.append(f"{where}: verbs outside the 20 or empty: {unknown}")
        if len(c.title) > 80:
            errors.append(f"{where}: title longer than 80 characters")
        if len(c.body) > 600 or not 1 <= sentence_count(c.body) <= 3:
            errors.append(f"{where}: body must be 1-3 sentences and at most 600 characters")
        if not c.chunk_id.startswith(f"{c.language[:2] if c.language != 'bilingual' else 'bi'}-"):
            errors.append(f"{where}: id does not start with its language")
    if len(chunks) < MIN_CHUNKS:
        errors.append(f"only {len(chunks)} chunks, need {MIN_CHUNKS}")
    for key, have in coverage(chunks).items():
        need = COVERAGE_MINIMA[tuple(key.split(":"))]  # type: ignore[index]
        if have < need:
            errors.append(f"coverage {key}: {have} < {need}")
    return errors
