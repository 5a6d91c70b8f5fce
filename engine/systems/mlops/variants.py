"""The tutor variants the registry holds, and their grading on the §A13 grid.

There is no trained model in this phase (the course: "no new model code"), so each variant is the
conjugation table with a seeded error profile: FP32 misses a fixed 6 % of cells, INT8 those plus
2 % more, LoRA fixes half of FP32's misses, and the gate's degraded candidate mangles 10 % of the
past participles on top of the baseline. A miss returns a plausible wrong form. The grader is the
table itself; its SHA pins which grader produced an eval report.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from engine.lm.text.verbs import PERSONS, TENSES, VERBS, conjugate, grid, regular_past

Cell = tuple[str, int, int]
CELLS: tuple[Cell, ...] = tuple((f.verb, f.tense, f.person) for f in grid())


def wrong_form(cell: Cell) -> str:
    verb, tense, person = cell
    right = conjugate(verb, tense, person)
    guess = regular_past(verb) if TENSES[tense] in ("past", "past_participle") else verb + "s"
    return guess if guess != right else right + "ed"


@dataclass(frozen=True)
class Variant:
    name: str
    misses: frozenset[Cell] = field(default_factory=frozenset)

    def answer(self, cell: Cell) -> str:
        return wrong_form(cell) if cell in self.misses else conjugate(*cell)

    def with_misses(self, name: str, add: set[Cell] = frozenset(), drop: set[Cell] = frozenset()) -> Variant:  # type: ignore[assignment]
        return Variant(name, frozenset((self.misses | set(add)) - set(drop)))


def _pick(cells: list[Cell], fraction: float, seed: int, count: int | None = None) -> set[Cell]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(cells), size=round(fraction * len(cells)) if count is None else count, replace=False)
    return {cells[i] for i in sorted(idx)}


def standard_variants(seed: int = 0) -> dict[str, Variant]:
    cells = list(CELLS)
    fp32 = Variant("fp32", frozenset(_pick(cells, 0.06, seed)))
    rest = [c for c in cells if c not in fp32.misses]
    int8 = fp32.with_misses("int8", add=_pick(rest, 0.02, seed + 1))
    lora = fp32.with_misses("lora", drop=set(sorted(fp32.misses)[::2]))
    return {"fp32": fp32, "int8": int8, "lora": lora}


def degrade_participles(base: Variant, fraction: float, seed: int) -> Variant:
    """Mangle `fraction` of all past-participle cells (chosen among those the base gets right)."""
    pp = [c for c in CELLS if TENSES[c[1]] == "past_participle"]
    fresh = [c for c in pp if c not in base.misses]
    return base.with_misses("degraded", add=_pick(fresh, 0.0, seed, count=round(fraction * len(pp))))


def grader_sha() -> str:
    return hashlib.sha256(json.dumps([[*c, conjugate(*c)] for c in CELLS]).encode()).hexdigest()


def correct(variant: Variant, cell: Cell) -> bool:
    return variant.answer(cell) == conjugate(*cell)


def eval_report(variant: Variant) -> dict[str, object]:
    """Accuracy overall and per bucket (tense.*, person.*, verb.*), with counts."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cell in CELLS:
        ok = correct(variant, cell)
        for key in ("all", f"tense.{TENSES[cell[1]]}", f"person.{PERSONS[cell[2]]}", f"verb.{cell[0]}"):
            hits[key][0] += ok
            hits[key][1] += 1
    buckets = {k: {"accuracy": h / n, "n": n} for k, (h, n) in sorted(hits.items()) if k != "all"}
    return {"variant": variant.name, "accuracy": hits["all"][0] / hits["all"][1], "n": len(CELLS),
            "buckets": buckets, "grader_sha": grader_sha()}


assert len(CELLS) == len(VERBS) * len(TENSES) * len(PERSONS)
