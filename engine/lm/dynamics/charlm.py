"""The small subject of the dynamics labs: a character-level MLP language model on verb sentences.

Why this model beside the Mini-GPT: the 8,000-step overfit run must finish in minutes on two
cores, and the instruments (per-layer activations, spectral norms, dead units, regular-versus-
irregular loss) need only several layers trained on the §A13 verb corpus. A Bengio-style MLP
over the last `context` characters does: embedding -> Linear -> ReLU -> Linear -> ReLU -> head.
Characters (not words) matter for panel 7: "walked" shares its ending with every regular
past, "wrote" shares nothing, so regular verbs can be learnt as a rule and irregular ones
only by memory.

Sentences are "<time word> <phrase> ." ("yesterday he wrote .", "tomorrow I will go .")
built from engine.lm.text.verbs; the validation split holds out whole verbs (the course's
look, like, see, eat: two regular, two irregular), never a random 80/20 cut.

Fault `leak` shifts the context one character forward so the model sees the character it
must predict: the MLP analogue of an all-ones attention mask (train and val loss both fall
towards 0 together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.lm.text.verbs import IRREGULAR, PRONOUNS, VERBS, phrase
from engine.research.bk.corpus import TIME_WORDS
from engine.scratch.autograd.tensor import Tensor, cross_entropy
from engine.scratch.nn import Embedding, Linear, Module, ReLU

HELDOUT_VERBS: tuple[str, ...] = ("look", "like", "see", "eat")
PAD = "#"


@dataclass(frozen=True)
class Sentence:
    text: str
    verb: str
    tense: int
    person: int

    @property
    def regular(self) -> bool:
        return self.verb not in IRREGULAR


def sentences() -> list[Sentence]:
    """All 20 verbs x 4 time words x 3 persons = 240 sentences, in a fixed order."""
    return [Sentence(f"{w} {phrase(v, t, p)} .", v, t, p)
            for v in VERBS for w, t in TIME_WORDS.items() for p in range(len(PRONOUNS))]


def split(items: list[Sentence], heldout: tuple[str, ...] = HELDOUT_VERBS) -> tuple[list[Sentence], list[Sentence]]:
    return [s for s in items if s.verb not in heldout], [s for s in items if s.verb in heldout]


class Vocab:
    def __init__(self, texts: list[str]) -> None:
        self.chars = [PAD, "\n"] + sorted({c for t in texts for c in t} - {PAD, "\n"})
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.index[c] for c in text]


def windows(ids: list[int], context: int, leak: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(contexts (n, context), targets (n,)) for every next-character prediction of one sentence.

    The sequence is the sentence followed by "\n" (end of sentence, index 1); contexts are
    left-padded with PAD (index 0). With `leak` the window ends at the target itself.
    """
    seq = [0] * context + list(ids) + [1]
    xs, ys = [], []
    for i in range(context, len(seq)):
        lo = i - context + (1 if leak else 0)
        xs.append(seq[lo:lo + context])
        ys.append(seq[i])
    return np.array(xs, dtype=np.int64), np.array(ys, dtype=np.int64)


@dataclass
class Batch:
    x: np.ndarray  # (rows, context) character ids
    y: np.ndarray  # (rows,) targets
    regular: np.ndarray  # (rows,) bool: the row belongs to a regular-verb sentence
    sentence: np.ndarray  # (rows,) index of the sentence within the batch


def make_batch(items: list[Sentence], vocab: Vocab, context: int, leak: bool = False) -> Batch:
    xs, ys, reg, sid = [], [], [], []
    for k, s in enumerate(items):
        x, y = windows(vocab.encode(s.text), context, leak)
        xs.append(x)
        ys.append(y)
        reg.append(np.full(len(y), s.regular))
        sid.append(np.full(len(y), k))
    return Batch(np.concatenate(xs), np.concatenate(ys), np.concatenate(reg), np.concatenate(sid))


class BatchIterator:
    """Endless shuffled batches of sentences, with its own generator (never the global one)."""

    def __init__(self, items: list[Sentence], batch_size: int, seed: int) -> None:
        self.items, self.batch_size = items, batch_size
        self.rng = np.random.default_rng(seed)
        self.order: list[int] = []

    def next(self) -> list[Sentence]:
        out = []
        while len(out) < self.batch_size:
            if not self.order:
                self.order = list(self.rng.permutation(len(self.items)))
            out.append(self.items[self.order.pop()])
        return out


class CharMLP(Module):
    """Embedding (V, d) -> flatten (context*d) -> Linear -> ReLU -> Linear -> ReLU -> Linear (V)."""

    def __init__(self, vocab_size: int, context: int = 8, d_emb: int = 16, hidden: int = 128,
                 rng: np.random.Generator | None = None, init_scale: float = 1.0) -> None:
        super().__init__()
        self.context = context
        self.emb = Embedding(vocab_size, d_emb, std=1.0, rng=rng)
        self.fc0 = Linear(context * d_emb, hidden, rng=rng)
        self.act0 = ReLU()
        self.fc1 = Linear(hidden, hidden, rng=rng)
        self.act1 = ReLU()
        self.head = Linear(hidden, vocab_size, rng=rng)
        if init_scale != 1.0:  # the bad-init failure: every weight matrix scaled up
            for name, p in self.named_parameters():
                if name.endswith("weight"):
                    p.data *= np.float32(init_scale)

    def forward(self, x: np.ndarray) -> Tensor:
        e = self.emb(x)  # (n, context, d)
        h = e.reshape(e.shape[0], -1)
        h = self.act0(self.fc0(h))
        h = self.act1(self.fc1(h))
        return self.head(h)

    def weight_matrices(self) -> dict[str, Any]:
        return {"fc0.weight": self.fc0.weight, "fc1.weight": self.fc1.weight, "head.weight": self.head.weight}


def loss_and_rows(model: CharMLP, batch: Batch) -> tuple[Tensor, np.ndarray]:
    """Token-mean cross-entropy (a Tensor to backprop) and the per-row losses as a plain array."""
    logits = model(batch.x)
    rows = cross_entropy(logits, batch.y, reduction="none")
    return rows.mean(), np.asarray(rows.data, dtype=np.float64)


def partition_loss(per_row: np.ndarray, regular: np.ndarray) -> tuple[float, float]:
    """(mean loss on regular-verb rows, on irregular-verb rows); NaN for a class absent from the batch."""
    reg = per_row[regular]
    irr = per_row[~regular]
    return (float(reg.mean()) if reg.size else float("nan"), float(irr.mean()) if irr.size else float("nan"))


def ngram_baseline(train: list[Sentence], val: list[Sentence], vocab: Vocab, order: int = 3,
                   alpha: float = 0.1) -> float:
    """Validation CE (nats/char) of an add-alpha character n-gram fitted on train: the bar to beat."""
    from collections import Counter

    counts: Counter = Counter()
    ctx_counts: Counter = Counter()
    for s in train:
        x, y = windows(vocab.encode(s.text), order - 1)
        for c, t in zip(map(tuple, x), y, strict=True):
            counts[c + (int(t),)] += 1
            ctx_counts[c] += 1
    v = len(vocab)
    total, n = 0.0, 0
    for s in val:
        x, y = windows(vocab.encode(s.text), order - 1)
        for c, t in zip(map(tuple, x), y, strict=True):
            p = (counts[c + (int(t),)] + alpha) / (ctx_counts[c] + alpha * v)
            total -= float(np.log(p))
            n += 1
    return total / n
