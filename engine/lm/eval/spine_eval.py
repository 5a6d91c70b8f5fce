"""Phase 20's probes on the course's one model: the phase-18 spine, asked in its own pair format.

The spine trains on pair lines "es:<spanish> / en:<english>" (engine.lm.text.bilingual), so a
probe is a pair line with the English side blanked: "es:él come / en:___". Candidates are the
right English form plus other forms of the same verb (a wrong-person form first, as
engine.lm.eval.probes does), scored by the harness through <eos>.

- `core_probes(seed)`: one probe per unique cell of the held-out verbs (look, like, see, eat: the
  val split, verbs the spine never saw). Filled, a core probe *is* a val line, so only an overlap
  with a training line counts as a leak (run_eval(..., heldout_probes=True)).
- `adversarial_probes(seed)`: the six categories lab-02 reports, on the held-out verbs too, so
  none of them is a training line.
- `rows(split)` / `grid_items(split, seed)`: the split's pair lines (perplexity, leak hashes) and
  the same multiple-choice question asked of each of them (train-versus-val accuracy, the break).

Tense names map to the probe schema's (present_simple -> present, both futures -> future); the
corpus tense stays in the probe id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.lm.eval.probes import BLANK, Probe
from engine.lm.text import bilingual as B

TENSE = {"infinitive": "infinitive", "present_simple": "present", "past_simple": "past",
         "past_participle": "past_participle", "future_will": "future", "future_going_to": "future"}
ES = "<es>"  # an adversarial candidate that stands for the cell's Spanish form

# (category, verb, corpus tense, person, distractors) - the expected form is the cell's English
_ADV: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("over_regularization", "eat", "past_simple", "1sg", ("I eated", "I eat")),
    ("over_regularization", "eat", "past_simple", "3sg", ("he eated", "he eats")),
    ("over_regularization", "see", "past_simple", "1sg", ("I seed", "I see")),
    ("over_regularization", "see", "past_simple", "2sg", ("you seed", "you see")),
    ("over_regularization", "eat", "past_participle", "1sg", ("eated", "ate")),
    ("wrong_person_agreement", "look", "present_simple", "3sg", ("he look",)),
    ("wrong_person_agreement", "eat", "present_simple", "3sg", ("he eat",)),
    ("wrong_person_agreement", "see", "present_simple", "1sg", ("I sees",)),
    ("wrong_person_agreement", "like", "present_simple", "3sg", ("he like",)),
    ("wrong_tense_marker", "look", "past_simple", "1sg", ("I look", "I will look")),
    ("wrong_tense_marker", "eat", "future_will", "3sg", ("he ate", "he eats")),
    ("wrong_tense_marker", "see", "present_simple", "3sg", ("he saw", "he will see")),
    ("auxiliary_mismatch", "eat", "future_going_to", "3sg", ("he are going to eat", "he am going to eat")),
    ("auxiliary_mismatch", "look", "future_going_to", "1sg", ("I is going to look", "I are going to look")),
    ("auxiliary_mismatch", "see", "future_going_to", "2sg", ("you is going to see", "you am going to see")),
    ("en_es_mismatch", "eat", "past_simple", "1sg", (ES, "I eat")),
    ("en_es_mismatch", "see", "present_simple", "1sg", (ES, "I sees")),
    ("en_es_mismatch", "look", "future_will", "3sg", (ES, "he looks")),
]
# out-of-scope plural subjects: (verb, tense, person code kept singular by the schema, spanish, expected, other)
_PLURAL: list[tuple[str, str, str, str, str, str]] = [
    ("eat", "present", "1sg", "nosotros comemos", "we eat", "we eats"),
    ("look", "present", "3sg", "ellos miran", "they look", "they looks"),
    ("see", "present", "3sg", "ellos ven", "they see", "they sees"),
]


@dataclass(frozen=True)
class Line:
    """A split's pair line, the shape run_eval reads (`.text`), with its corpus row."""

    text: str
    example: B.Example


def rows(split: str) -> list[Line]:
    """The split's unique cells as "es:.. / en:.." lines (person-invariant cells once)."""
    return [Line(B.pair_line(e), e) for e in B.unique_cells(B.examples(split))]


def prompt(e: B.Example) -> str:
    return f"es:{e.spanish} / en:{BLANK}"


def _forms(cells: Sequence[B.Example]) -> dict[str, list[B.Example]]:
    out: dict[str, list[B.Example]] = {}
    for e in cells:
        out.setdefault(e.verb, []).append(e)
    return out


def distractors(e: B.Example, same_verb: Sequence[B.Example], rng: np.random.Generator, n: int = 3) -> list[str]:
    """A wrong-person form of the same tense first (when the tense has one), then other forms of the verb."""
    wrong_person = sorted({c.english for c in same_verb if c.tense == e.tense} - {e.english})
    first = wrong_person[:1]
    rest = sorted({c.english for c in same_verb} - {e.english} - set(first))
    return first + [rest[i] for i in rng.permutation(len(rest))[: n - len(first)]]


def _probe(pid: str, e: B.Example, cands: Sequence[str], category: str, reason: str = "",
           wrong_person: Sequence[str] = ()) -> Probe:
    return Probe(pid, "en", e.verb, "regular" if e.regular else "irregular", TENSE[e.tense], e.person, prompt(e),
                 tuple(cands), e.english, "correct", category, reason_code=reason,
                 extra={"wrong_person": tuple(wrong_person)})


def core_probes(seed: int = 42) -> list[Probe]:
    """One probe per held-out cell; candidates shuffled by the seed."""
    rng = np.random.default_rng(seed)
    cells = B.unique_cells(B.examples("val"))
    by_verb = _forms(cells)
    out = []
    for i, e in enumerate(cells):
        cands = [e.english] + distractors(e, by_verb[e.verb], rng)
        cands = [cands[j] for j in rng.permutation(len(cands))]
        wp = [c.english for c in by_verb[e.verb] if c.tense == e.tense and c.english != e.english]
        out.append(_probe(f"spine-{e.verb}-{e.tense}-{e.person}-{i:03d}", e, cands, "core", wrong_person=wp))
    return out


def _cell(verb: str, tense: str, person: str) -> B.Example:
    for e in B.unique_cells(B.examples("val")):
        if (e.verb, e.tense, e.person) == (verb, tense, person):
            return e
    raise ValueError(f"no held-out cell {verb} {tense} {person}")


def adversarial_probes(seed: int = 42) -> list[Probe]:
    """The six adversarial categories on held-out cells; candidates shuffled by the seed."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for i, (cat, verb, tense, person, wrong) in enumerate(_ADV):
        e = _cell(verb, tense, person)
        cands = [e.english] + [e.spanish if w == ES else w for w in wrong]
        cands = [cands[j] for j in rng.permutation(len(cands))]
        out.append(_probe(f"adv-{cat}-{verb}-{i:03d}", e, cands, "adversarial", cat))
    for j, (verb, tense, person, spanish, right, other) in enumerate(_PLURAL, len(_ADV)):
        base = _cell(verb, "present_simple", "1sg")
        cands = [right, other] if rng.integers(2) else [other, right]
        out.append(Probe(f"adv-plural_or_oos-{verb}-{j:03d}", "en", verb, "regular" if base.regular else "irregular",
                         tense, person, f"es:{spanish} / en:{BLANK}", tuple(cands), right, "ambiguous",
                         "adversarial", reason_code="plural_or_oos"))
    return out


def probes(seed: int = 42) -> list[Probe]:
    return core_probes(seed) + adversarial_probes(seed)


def grid_items(split: str, seed: int = 0) -> list[tuple[str, tuple[str, ...], str, bool]]:
    """Every unique cell of the split as (prefix, candidates, expected, regular): the right form first."""
    rng = np.random.default_rng(seed)
    cells = B.unique_cells(B.examples(split))
    by_verb = _forms(cells)
    return [(prompt(e).split(BLANK)[0], tuple([e.english] + distractors(e, by_verb[e.verb], rng)), e.english,
             e.regular) for e in cells]


def torch_ppl(model: Any, bpe: Any, lines: Sequence[str]) -> float:
    """Independent reference: exp(mean token NLL) of <bos> line <eos> from the torch twin (engine.lm.train.torch_lm)."""
    from engine.lm.train import torch_lm

    return torch_lm.perplexity(model, torch_lm.encode_lines(bpe, lines))
