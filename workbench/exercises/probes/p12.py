"""Phase 12 probes: English spelling rules, the (verb, tense) split and the leakage check.

Spelling rules run on every corpus verb plus verbs chosen for each rule's edge (-y after a
vowel or a consonant, -s/-sh/-ch/-x/-z/-o, final -e, CVC doubling, w/x/y never doubled).
The split is compared with the reference on random row sets and must keep every key whole;
the leakage check must flag a shared fingerprint and a shared key, and nothing on clean splits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.text import verbs as V
from engine.lm.text.corpus import generate
from workbench.exercises.probes._compare import compare

EDGE_VERBS = ("study", "play", "cry", "buy", "watch", "finish", "fix", "buzz", "go", "pass", "like", "agree",
              "stop", "plan", "open", "visit", "show", "box", "stay", "rub", "need", "wait", "look", "hope")


def spelling(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for verb in (*V.VERBS, *EDGE_VERBS):
        out += compare("third_singular", f"{verb!r}", learner.third_singular(verb), reference.third_singular(verb))
        out += compare("regular_past", f"{verb!r}", learner.regular_past(verb), reference.regular_past(verb))
    return out


def _rows(rng: np.random.Generator) -> list[dict]:
    rows = generate(int(rng.integers(0, 1000)), 2)
    keep = rng.random(len(rows)) < 0.7
    return [r for r, k in zip(rows, keep, strict=True) if k]


def split_and_leaks(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for trial in range(3):
        rows = _rows(rng)
        seed = int(rng.integers(0, 10_000))
        ratios = [(0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.34, 0.33, 0.33)][trial]
        got_splits, got_assign = learner.split_by_verb_tense(rows, ratios, seed)
        want_splits, want_assign = reference.split_by_verb_tense(rows, ratios, seed)
        out += compare(
            "split_by_verb_tense", f"assignment of keys (trial {trial}, ratios {ratios})", got_assign, want_assign
        )
        out += compare("split_by_verb_tense", f"row ids per split (trial {trial})",
                       {k: [r["id"] for r in v] for k, v in got_splits.items()},
                       {k: [r["id"] for r in v] for k, v in want_splits.items()})
        owners: dict[tuple[str, str], set[str]] = {}
        for name, part in got_splits.items():
            for r in part:
                owners.setdefault((r["verb_lemma"], r["tense"]), set()).add(name)
        torn = [k for k, v in owners.items() if len(v) > 1]
        if torn:
            out.append(
                f"split_by_verb_tense: key {torn[0]} is in splits {sorted(owners[torn[0]])}; every key must stay whole"
            )
        clean = want_splits
        out += compare("check_split", f"clean reference split (trial {trial})", learner.check_split(clean),
                       reference.check_split(clean))
        # a leak: one row's fingerprint copied into another split, and one key moved across
        leaky = {k: [dict(r) for r in v] for k, v in clean.items()}
        leaky["val"][0]["fingerprint"] = leaky["train"][0]["fingerprint"]
        moved = dict(leaky["train"][1])
        moved["id"] = "9999"
        moved["fingerprint"] = "f" * 64
        leaky["test"].append(moved)
        got, want = learner.check_split(leaky), reference.check_split(leaky)
        out += compare("check_split", f"a shared fingerprint and a shared key (trial {trial})", got, want)
    return out
