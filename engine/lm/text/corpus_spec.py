"""Render the corpus specification (phase 12, lab 00) from the generator's own tables.

The course has the learner write data/corpus_spec.md by hand. This writes the reference
version from the tables the generator uses, so the spec cannot drift from the data. The
parts are the preamble (version plus an English and a Spanish summary), the verb table, the
six tense schemata with "work" and "go" worked through, the taxonomy with its trigger
cells, the row JSONSchema in a ```json block, the validation rules and one worked row.
`schema_from_spec` reads the JSONSchema back out of the Markdown.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter

from engine.lm.text import verbs as V
from engine.lm.text.corpus import (
    CORPUS_VERSION,
    MIS_RULES,
    MIS_TYPES,
    OUT_OF_GRID_CORRECT_FORMS,
    PERSONS,
    TENSE_SURFACES,
    cells,
    english_form,
    generate,
)
from engine.lm.text.corpus_checks import ROW_SCHEMA
from engine.lm.text.spanish import SPANISH, spanish_form

_RULES = [
    "Every row matches the JSONSchema below.",
    "No two rows share (verb, tense, person, label, fingerprint).",
    "Each of the 360 (verb, tense, person) cells has at least one correct row.",
    "The verb set is exactly the 20 verbs of the table.",
    "Every verb has all six tense surfaces.",
    "Every (verb, tense) has all three persons.",
    "Every mis-conjugation type belongs to the closed taxonomy.",
    "Mis-conjugated rows carry a non-empty correct_form.",
    "Correct rows have a null type and a null correct_form.",
    "Every row has a non-empty Spanish translation.",
    "text, spanish and correct_form are NFC-normalised.",
    "English text is 2-30 bytes and Spanish text 2-40 bytes in UTF-8.",
    "After the split, no fingerprint and no (verb, tense) key sits in two splits.",
]


def render_spec(seed: int = 42) -> str:
    lines = [
        f"# Corpus specification v{CORPUS_VERSION}", "",
        "English: every combination of 20 verbs, 6 tense surfaces and 3 singular persons (360 cells), "
        "each with its correct English form, a Spanish translation and a few named mis-conjugations.", "",
        "Español: todas las combinaciones de 20 verbos, 6 formas verbales y 3 personas del singular "
        "(360 celdas), cada una con su forma inglesa correcta, su traducción al español y algunos errores "
        "de conjugación con nombre.", "",
        "## Verb table", "",
        "| English | Spanish | EN_reg | ES_reg | EN past | EN participle | Notes |", "|---|---|---|---|---|---|---|",
    ]
    for v in V.VERBS:
        sv = SPANISH[v]
        past = "/".join(dict.fromkeys(V.conjugate(v, 2, p) for p in range(3)))
        reg = "regular" if v in V.REGULAR else "irregular"
        lines.append(f"| {v} | {sv.lemma} | {reg} | {sv.regularity} | {past} | {V.conjugate(v, 3, 0)} | {sv.notes} |")
    lines += ["", "## Tense schemata", ""]
    for tense in TENSE_SURFACES:
        lines += [f"### {tense}", "", "| person | work | trabajar | go | ir |", "|---|---|---|---|---|"]
        for p, person in enumerate(PERSONS):
            lines.append(f"| {person} | {english_form('work', tense, p)} | {spanish_form('work', tense, p)} "
                         f"| {english_form('go', tense, p)} | {spanish_form('go', tense, p)} |")
        lines.append("")
    lines += ["## Mis-conjugation taxonomy (closed, v1)", "",
              "| type | eligible cells | example | correct form |", "|---|---|---|---|"]
    for name in MIS_TYPES:
        hits = [(c, MIS_RULES[name](c.verb, c.tense, c.person)) for c in cells()]
        hits = [(c, h) for c, h in hits if h is not None]
        example = hits[0][1] if hits else ("", "")
        flag = " (present perfect: outside the grid)" if name in OUT_OF_GRID_CORRECT_FORMS else ""
        lines.append(f"| {name} | {len(hits)} | {example[0]} | {example[1]}{flag} |")
    lines += ["", "## Row schema", "", "```json", json.dumps(ROW_SCHEMA, indent=2, ensure_ascii=False), "```", "",
              "## Validation rules", ""]
    lines += [f"{i}. {rule}" for i, rule in enumerate(_RULES, start=1)]
    worked = next(r for r in generate(seed) if r["verb_lemma"] == "work" and r["tense"] == "present_simple"
                  and r["person"] == "3sg" and r["label"] == "correct")
    counts = Counter(r["label"] for r in generate(seed))
    lines += ["", "## Worked row", "", "```json", json.dumps(worked, indent=2, sort_keys=True, ensure_ascii=False), "```",
              "", f"Seed {seed} gives {counts['correct']} correct and {counts['mis_conjugated']} mis-conjugated rows.", ""]
    return unicodedata.normalize("NFC", "\n".join(lines))


def json_blocks(markdown: str) -> list[str]:
    blocks, inside, buf = [], False, []
    for line in markdown.splitlines():
        if line.strip() == "```json":
            inside, buf = True, []
        elif line.strip() == "```" and inside:
            blocks.append("\n".join(buf))
            inside = False
        elif inside:
            buf.append(line)
    return blocks


def schema_from_spec(markdown: str) -> dict:
    """The first ```json block of the spec: the row schema."""
    return json.loads(json_blocks(markdown)[0])
