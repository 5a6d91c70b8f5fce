"""Long-range synthetic tasks for sub-quadratic mixers: associative recall and selective copy.

Both produce (x, y) int64 arrays shaped (batch, n_seq) for a next-token model: the logits at
position t are scored against y[:, t], and y is IGNORE (-100, torch's cross-entropy
ignore_index) everywhere except the answer positions. So they go through the same data path
as the language model (tokens in, logits out, masked cross-entropy), at any length N.

Token ids: 0 blank filler, 1 query marker, 2 copy marker, then the task's symbols.

associative recall (multi-query, as in Zoology's MQAR): `n_pairs` key-value pairs with distinct
  keys are written at the start of the sequence (k1 v1 k2 v2 ...), blanks fill the middle, and
  the last 2*n_queries+1 tokens are the query marker then q1 a1 q2 a2 ...: each q is one of the
  written keys (distinct), the target at q's position is its value. The distance from a pair to
  its query is about N, so the answer needs a token mixer that remembers across the whole length.
  Values are uniform and independent of the keys: a model that does not read the pairs is at
  chance, 1/n_values.
selective copy (as in the Mamba paper): `n_data` symbols are scattered at random positions
  among blanks in the first N - n_data tokens; then the query marker and n_data - 1 copy markers.
  The targets at those n_data positions are the symbols in their order of appearance. Chance is
  1/n_symbols per answer.

Generators are deterministic in their seed (`batch_at(task, seed, step, ...)` for training
batches, a separate stream for validation), and `solve` reads each answer back from the input
alone (tests/test_bk_lm_longrange.py checks it recovers every answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLANK, QUERY, COPY = 0, 1, 2
N_SPECIAL = 3
IGNORE = -100
TASKS = ("recall", "copy")


@dataclass(frozen=True)
class TaskSpec:
    """Sizes of one task; `vocab_size` covers the specials and every symbol."""

    task: str
    n_seq: int
    n_pairs: int = 8  # recall: pairs written; copy: symbols scattered
    n_queries: int = 4  # recall only
    n_keys: int = 16  # recall: key alphabet; copy: unused
    n_values: int = 16  # recall: value alphabet; copy: symbol alphabet

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "recall":
            if self.n_keys < self.n_pairs:
                raise ValueError(f"recall: n_keys={self.n_keys} < n_pairs={self.n_pairs} (keys must be distinct)")
            if not 1 <= self.n_queries <= self.n_pairs:
                raise ValueError(f"recall: n_queries={self.n_queries} must be in 1..n_pairs={self.n_pairs}")
            need = 2 * self.n_pairs + 2 * self.n_queries + 1
        else:
            need = 2 * self.n_pairs + 1
        if self.n_seq < need:
            raise ValueError(f"{self.task}: n_seq={self.n_seq} is too short, needs at least {need}")

    @property
    def vocab_size(self) -> int:
        if self.task == "recall":
            return N_SPECIAL + self.n_keys + self.n_values
        return N_SPECIAL + self.n_values

    @property
    def chance(self) -> float:
        return 1.0 / self.n_values

    @property
    def answers_per_seq(self) -> int:
        return self.n_queries if self.task == "recall" else self.n_pairs


def _recall(spec: TaskSpec, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, p, q = spec.n_seq, spec.n_pairs, spec.n_queries
    key0, val0 = N_SPECIAL, N_SPECIAL + spec.n_keys
    keys = np.argsort(rng.random((batch, spec.n_keys)), axis=1)[:, :p] + key0  # distinct per row
    vals = rng.integers(0, spec.n_values, (batch, p)) + val0
    x = np.full((batch, n), BLANK, dtype=np.int64)
    y = np.full((batch, n), IGNORE, dtype=np.int64)
    x[:, 0 : 2 * p : 2] = keys
    x[:, 1 : 2 * p : 2] = vals
    which = np.argsort(rng.random((batch, p)), axis=1)[:, :q]  # distinct queried pairs
    rows = np.arange(batch)[:, None]
    start = n - 2 * q  # positions of q1 a1 q2 a2 ...
    x[:, start - 1] = QUERY
    x[:, start::2] = keys[rows, which]
    x[:, start + 1 :: 2] = vals[rows, which]
    y[:, start::2] = vals[rows, which]  # the logits at a query's position predict its value
    return x, y


def _copy(spec: TaskSpec, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, m = spec.n_seq, spec.n_pairs
    region = n - m
    pos = np.sort(np.argsort(rng.random((batch, region)), axis=1)[:, :m], axis=1)  # distinct, in order
    sym = rng.integers(0, spec.n_values, (batch, m)) + N_SPECIAL
    x = np.full((batch, n), BLANK, dtype=np.int64)
    y = np.full((batch, n), IGNORE, dtype=np.int64)
    rows = np.arange(batch)[:, None]
    x[rows, pos] = sym
    x[:, region] = QUERY
    x[:, region + 1 :] = COPY
    y[:, region:] = sym  # answer j is predicted at the marker in position region + j
    return x, y


def generate(spec: TaskSpec, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch (x, y) of the task; y is IGNORE except at answer positions."""
    return _recall(spec, batch, rng) if spec.task == "recall" else _copy(spec, batch, rng)


def batch_at(spec: TaskSpec, seed: int, step: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Training batch `step` of the stream for `seed` (the same for every model and every call)."""
    return generate(spec, batch, np.random.default_rng([seed, spec.n_seq, step]))


def validation(spec: TaskSpec, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A held-out set drawn from a stream no training step uses."""
    return generate(spec, size, np.random.default_rng([seed, spec.n_seq, 2**31 - 1]))


def solve(spec: TaskSpec, x: np.ndarray) -> np.ndarray:
    """Every answer read back from the input by a plain scan (the task's definition, not a model):
    an array shaped like x with the answer at each answer position and IGNORE elsewhere."""
    out = np.full(x.shape, IGNORE, dtype=np.int64)
    n = spec.n_seq
    for r, row in enumerate(x):
        marker = int(np.flatnonzero(row == QUERY)[-1])
        if spec.task == "recall":
            table = {int(row[i]): int(row[i + 1]) for i in range(0, marker, 2) if row[i] != BLANK}
            for t in range(marker + 1, n, 2):
                out[r, t] = table[int(row[t])]
        else:
            symbols = [int(s) for s in row[:marker] if s != BLANK]
            out[r, marker:] = symbols
    return out


def answer_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Share of answer positions (y != IGNORE) where pred equals y."""
    mask = y != IGNORE
    return float((pred[mask] == y[mask]).mean())


def majority_baseline(y_train: np.ndarray, y_val: np.ndarray) -> float:
    """Accuracy of always answering the most frequent training answer: the chance rate when the
    task gives the input no shortcut (values uniform and independent of position)."""
    counts = np.bincount(y_train[y_train != IGNORE])
    guess = int(np.argmax(counts))
    return float((y_val[y_val != IGNORE] == guess).mean())
