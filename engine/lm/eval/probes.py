"""The probe set: one JSON object per multiple-choice question, generated, validated and hashed.

A probe is a sentence with a blank ("so yesterday he ___"), candidates (the expected form and
2-3 distractors), the expected form and its slice labels (language, verb, regularity, tense,
person). Core probes come from the §A13 grid; adversarial probes target known failure modes
(over-regularised "goed", wrong person, wrong tense marker, wrong auxiliary, a Spanish form
among English candidates, an out-of-scope plural subject).

Why a lead-in word ("so", "and", "but") or an infinitive frame ("he wants ___"): the training
corpus is the closed 300-sentence grid, so a probe with the grid's own frame would *be* a
train or val sentence once its blank is filled. The hash check (sha256 of the normalised,
filled sentence) must find no probe among the training or validation sentences.

Generation is deterministic: the same seed writes a byte-identical JSONL file.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.lm.text.verbs import IRREGULAR, REGULAR, conjugate

VERBS = REGULAR + IRREGULAR
TENSES = ("infinitive", "present", "past", "past_participle", "future")
PERSONS = ("1sg", "2sg", "3sg")
LANGUAGES = ("en",)  # the project's corpus has no Spanish side yet (see the phase notes)
LABELS = ("correct", "incorrect", "ambiguous")
CATEGORIES = ("core", "adversarial")
ADVERSARIAL = ("over_regularization", "wrong_person_agreement", "wrong_tense_marker", "auxiliary_mismatch",
               "en_es_mismatch", "plural_or_oos")
PRONOUNS = {"1sg": "i", "2sg": "you", "3sg": "he"}
CUES = {"present": "now", "past": "yesterday", "future": "tomorrow"}
LEAD_INS = ("so", "and", "but")
BLANK = "___"
MINIMA = {"language": 30, "regularity": 30, "tense": 10, "person": 15}
REQUIRED = ("id", "language", "verb", "regularity", "tense", "person", "prompt", "candidates", "expected", "label",
            "category")


@dataclass(frozen=True)
class Probe:
    id: str
    language: str
    verb: str
    regularity: str
    tense: str
    person: str
    prompt: str
    candidates: tuple[str, ...]
    expected: str
    label: str
    category: str
    reason_code: str = ""
    explanation: str = ""
    source: str = "generated"
    deprecated: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def prefix(self) -> str:
        return self.prompt.split(BLANK)[0]

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("extra")
        d["candidates"] = list(self.candidates)
        return json.dumps(d, sort_keys=True, ensure_ascii=False)


# ---------------------------------------------------------------------- hashing
def normalize_prompt(prompt: str, expected: str) -> str:
    """Fill the blank, lower-case, collapse whitespace. Idempotent on its own output."""
    return " ".join(prompt.replace(BLANK, expected).lower().split())


def hash_prompt(prompt: str, expected: str) -> str:
    return hashlib.sha256(normalize_prompt(prompt, expected).encode("utf-8")).hexdigest()


def sentence_hashes(texts: list[str]) -> set[str]:
    return {hash_prompt(t, "") for t in texts}


# ---------------------------------------------------------------------- forms
def answer(verb: str, tense: str, person: str) -> str:
    """What follows the pronoun (or the frame) in a sentence: "works", "has worked", "to work"."""
    t, p = TENSES.index(tense), PERSONS.index(person)
    form = conjugate(verb, t, p)
    if tense == "past_participle":
        return ("has " if person == "3sg" else "have ") + form
    return form


def frame(verb: str, tense: str, person: str, lead: str) -> str:
    pron = PRONOUNS[person]
    if tense == "infinitive":
        return f"{pron} {'wants' if person == '3sg' else 'want'} {BLANK}"
    cue = CUES.get(tense)
    return f"{lead} {cue + ' ' if cue else ''}{pron} {BLANK}"


def distractors(verb: str, tense: str, person: str, rng: np.random.Generator) -> list[str]:
    right = answer(verb, tense, person)
    pool = sorted({answer(verb, t, q) for t in TENSES for q in PERSONS} - {right})
    wrong_person = [answer(verb, tense, q) for q in PERSONS if answer(verb, tense, q) != right]
    first = wrong_person[:1]
    rest = [c for c in pool if c not in first]
    picked = first + [rest[i] for i in rng.permutation(len(rest))[: 3 - len(first)]]
    return picked


def _core(rng: np.random.Generator, target: int) -> list[Probe]:
    combos = [(t, p) for t in TENSES for p in PERSONS]
    out: list[Probe] = []
    per_class = target // 2
    for reg, verbs in (("regular", REGULAR), ("irregular", IRREGULAR)):
        order = [verbs[i] for i in rng.permutation(len(verbs))]
        cs = [combos[i] for i in rng.permutation(len(combos))]
        for i in range(per_class + (target % 2 if reg == "irregular" else 0)):
            verb, (tense, person) = order[i % len(order)], cs[i % len(cs)]
            right = answer(verb, tense, person)
            cands = [right] + distractors(verb, tense, person, rng)
            cands = [cands[j] for j in rng.permutation(len(cands))]
            lead = LEAD_INS[int(rng.integers(len(LEAD_INS)))]
            out.append(Probe(f"probe-{verb}-{tense}-{person}-{i:03d}", "en", verb, reg, tense, person,
                             frame(verb, tense, person, lead), tuple(cands), right, "correct", "core"))
    return out


# (category, verb, tense, person, candidates, expected, label, prompt or None for the default frame)
_ADV: list[tuple[str, str, str, str, tuple[str, ...], str, str, str | None]] = [
    ("over_regularization", "go", "past", "3sg", ("went", "goed", "goes"), "went", "correct", None),
    ("over_regularization", "eat", "past", "1sg", ("ate", "eated", "eats"), "ate", "correct", None),
    ("over_regularization", "write", "past", "2sg", ("wrote", "writed", "writes"), "wrote", "correct", None),
    ("over_regularization", "come", "past", "3sg", ("came", "comed", "comes"), "came", "correct", None),
    ("over_regularization", "see", "past", "1sg", ("saw", "seed", "sees"), "saw", "correct", None),
    ("wrong_person_agreement", "work", "present", "3sg", ("works", "work"), "works", "correct", None),
    ("wrong_person_agreement", "go", "present", "3sg", ("goes", "go"), "goes", "correct", None),
    ("wrong_person_agreement", "have", "present", "3sg", ("has", "have"), "has", "correct", None),
    ("wrong_person_agreement", "be", "present", "1sg", ("am", "is", "are"), "am", "correct", None),
    ("wrong_tense_marker", "work", "past", "1sg", ("worked", "work", "will work"), "worked", "correct", None),
    ("wrong_tense_marker", "go", "future", "3sg", ("will go", "went", "goes"), "will go", "correct", None),
    ("wrong_tense_marker", "eat", "present", "3sg", ("eats", "ate", "will eat"), "eats", "correct", None),
    ("auxiliary_mismatch", "eat", "past_participle", "3sg", ("has eaten", "have eaten", "has eat"), "has eaten",
     "correct", None),
    ("auxiliary_mismatch", "write", "past_participle", "1sg", ("have written", "has written", "have wrote"),
     "have written", "correct", None),
    ("auxiliary_mismatch", "do", "past_participle", "3sg", ("has done", "have done", "has did"), "has done",
     "correct", None),
    ("en_es_mismatch", "go", "past", "1sg", ("went", "fui", "goes"), "went", "correct", None),
    ("en_es_mismatch", "eat", "past", "1sg", ("ate", "comi", "eats"), "ate", "correct", None),
    ("en_es_mismatch", "work", "present", "1sg", ("work", "trabajo", "works"), "work", "correct", None),
    ("plural_or_oos", "work", "present", "1sg", ("work", "works"), "work", "ambiguous", "so now we ___"),
    ("plural_or_oos", "go", "present", "3sg", ("go", "goes"), "go", "ambiguous", "so now they ___"),
    ("plural_or_oos", "be", "present", "2sg", ("are", "is", "am"), "are", "ambiguous", "so now they ___"),
]


def _adversarial(rng: np.random.Generator, target: int) -> list[Probe]:
    out = []
    for i, (cat, verb, tense, person, cands, exp, label, prompt) in enumerate(_ADV[: max(target, len(_ADV))]):
        reg = "irregular" if verb in IRREGULAR else "regular"
        lead = LEAD_INS[int(rng.integers(len(LEAD_INS)))]
        order = [cands[j] for j in rng.permutation(len(cands))]
        out.append(Probe(f"adv-{cat}-{verb}-{i:03d}", "en", verb, reg, tense, person,
                         prompt or frame(verb, tense, person, lead), tuple(order), exp, label, "adversarial",
                         reason_code=cat))
    return out


def generate(seed: int = 42, core_target: int = 60, adversarial_target: int = 20) -> tuple[list[Probe], list[Probe]]:
    rng = np.random.default_rng(seed)
    return _core(rng, core_target), _adversarial(rng, adversarial_target)


def write_jsonl(probes: list[Probe], path: str | Path) -> str:
    """Write sorted by id; returns the sha256 of the file (the probe-set version)."""
    text = "".join(p.to_json() + "\n" for p in sorted(probes, key=lambda p: p.id))
    Path(path).write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_probes(path: str | Path) -> list[Probe]:
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise ValueError(f"line {n} ({d.get('id', '?')}): missing {missing}")
        d["candidates"] = tuple(d["candidates"])
        out.append(Probe(**{k: v for k, v in d.items() if k in Probe.__dataclass_fields__}))
    return out


# ---------------------------------------------------------------------- validation
def validate_probes(probes: list[Probe], train_hashes: set[str], val_hashes: set[str],
                    check_coverage: bool = True) -> list[str]:
    """Every problem as 'probe-id: what is wrong'; [] means the set is clean."""
    errs: list[str] = []
    seen: Counter = Counter(p.id for p in probes)
    errs += [f"{i}: duplicate id" for i, c in sorted(seen.items()) if c > 1]
    for p in probes:
        for name, allowed in (("language", LANGUAGES), ("verb", VERBS), ("tense", TENSES), ("person", PERSONS),
                              ("label", LABELS), ("category", CATEGORIES)):
            if getattr(p, name) not in allowed:
                errs.append(f"{p.id}: {name} {getattr(p, name)!r} not in {allowed}")
        if p.verb in VERBS and p.regularity != ("irregular" if p.verb in IRREGULAR else "regular"):
            errs.append(f"{p.id}: regularity {p.regularity!r} does not match verb {p.verb!r}")
        if p.expected not in p.candidates:
            errs.append(f"{p.id}: expected {p.expected!r} not among candidates {list(p.candidates)}")
        if not 2 <= len(p.candidates) <= 4 or len(set(p.candidates)) != len(p.candidates):
            errs.append(f"{p.id}: needs 2-4 distinct candidates")
        if BLANK not in p.prompt:
            errs.append(f"{p.id}: prompt has no blank")
        h = hash_prompt(p.prompt, p.expected)
        if h in train_hashes or h in val_hashes:
            errs.append(f"{p.id}: leaks - '{normalize_prompt(p.prompt, p.expected)}' is a "
                        f"{'train' if h in train_hashes else 'val'} sentence")
    if check_coverage:
        errs += coverage_problems(probes)
    return errs


def coverage_problems(probes: list[Probe]) -> list[str]:
    core = [p for p in probes if p.category == "core" and not p.deprecated]
    errs = []
    for dim, minimum in MINIMA.items():
        values = {"language": LANGUAGES, "regularity": ("regular", "irregular"), "tense": TENSES,
                  "person": PERSONS}[dim]
        counts = Counter(getattr(p, dim) for p in core)
        errs += [f"coverage: {dim}={v} has {counts[v]} core probes (< {minimum})" for v in values if counts[v] < minimum]
    verbs = Counter(p.verb for p in core)
    errs += [f"coverage: regular verb {v} has no probe" for v in REGULAR if verbs[v] < 1]
    errs += [f"coverage: irregular verb {v} has {verbs[v]} probes (< 2)" for v in IRREGULAR if verbs[v] < 2]
    n_adv = sum(1 for p in probes if p.category == "adversarial" and not p.deprecated)
    if n_adv < 20:
        errs.append(f"coverage: {n_adv} adversarial probes (< 20)")
    return errs
