"""Learnable tense tasks built from the §A13 verb corpus (shared by the phase 07-09 labs).

Why not the course's (verb, person) -> tense input: every (verb, person) pair occurs with all
5 tenses, so no model can beat 20% on it. The tasks here make the tense a function of the input:

- identity task (phase 07): one-hot(tense) -> +-1 target for the same tense, one verb.
- phrase task (phase 08): sparse features of the phrase ("he has worked"): its pronoun, its
  auxiliary and the last 1-3 letters of the main verb. The tense is determined by the phrase.
- agreement task (phase 09): the phrase task plus subject-verb agreement errors ("he work",
  "I works", "you is") as a 6th class. Telling "he works" (present) from "I works" (error)
  needs pronoun x suffix interactions, an XOR that no linear model can fit: the point of
  the GELU -> identity break.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.lm.text.verbs import PRONOUNS, TENSES, VERBS, conjugate, grid, phrase

ERROR_CLASS = "agreement_error"


def identity_task(verb: str = "work") -> tuple[list[list[float]], list[list[float]], list[str]]:
    """Five one-hot inputs (one per tense) and +-1 one-hot targets; the forms of `verb` label them."""
    xs = [[1.0 if j == i else 0.0 for j in range(len(TENSES))] for i in range(len(TENSES))]
    ys = [[1.0 if j == i else -1.0 for j in range(len(TENSES))] for i in range(len(TENSES))]
    return xs, ys, [conjugate(verb, t, 2) for t in range(len(TENSES))]


def phrase_features(text: str) -> list[str]:
    """Sparse feature names of a phrase: its pronoun, its auxiliary (or none), the last 1-3
    letters of its main verb. No whole-word identity, so what is learnt carries over to verbs
    whose forms were held out."""
    words = text.split()
    pron = words[0] if words[0] in PRONOUNS else "none"
    rest = words[1:] if pron != "none" else words
    aux = rest[0] if len(rest) > 1 else "none"
    last = rest[-1]
    return [f"pron:{pron}", f"aux:{aux}"] + [f"suf{k}:{last[-k:]}" for k in (1, 2, 3) if len(last) >= k]


def agreement_errors() -> list[str]:
    """Present (and past of `be`) phrases whose form belongs to another person: "he work", "I is"."""
    out: set[str] = set()
    for verb in VERBS:
        for tense in (1, 2) if verb == "be" else (1,):
            for p in range(3):
                right = conjugate(verb, tense, p)
                for q in range(3):
                    wrong = conjugate(verb, tense, q)
                    if wrong != right:
                        out.add(f"{PRONOUNS[p]} {wrong}")
    correct = {phrase(f.verb, f.tense, f.person) for f in grid()}
    return sorted(out - correct)


@dataclass
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    features: list[str]
    classes: list[str]
    phrases_val: list[str]


def phrase_dataset(seed: int, val_fraction: float = 0.2, with_errors: bool = False) -> Split:
    """Unique phrases -> feature matrix (vocabulary from the training split only) and class ids."""
    labelled: dict[str, int] = {}
    for f in grid():
        labelled.setdefault(f.phrase, f.tense)
    classes = list(TENSES)
    if with_errors:
        classes.append(ERROR_CLASS)
        for text in agreement_errors():
            labelled[text] = len(TENSES)
    texts = sorted(labelled)
    order = np.random.default_rng(seed).permutation(len(texts))
    n_val = int(round(val_fraction * len(texts)))
    val_idx, train_idx = order[:n_val], order[n_val:]
    vocab = sorted({feat for i in train_idx for feat in phrase_features(texts[i])})
    index = {f: j for j, f in enumerate(vocab)}

    def encode(ids: np.ndarray) -> np.ndarray:
        x = np.zeros((len(ids), len(vocab)), dtype=np.float32)
        for row, i in enumerate(ids):
            for feat in phrase_features(texts[i]):
                if feat in index:
                    x[row, index[feat]] = 1.0
        return x

    y = np.array([labelled[t] for t in texts], dtype=np.int64)
    return Split(encode(train_idx), y[train_idx], encode(val_idx), y[val_idx], vocab, classes,
                 [texts[i] for i in val_idx])
