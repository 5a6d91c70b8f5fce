"""Logit masks: a vector of 0 (legal) and -inf (illegal) over the vocabulary, one per decoding step.

    mask.reset(); m = mask.step(None)          # before the first token
    m = mask.step(last_token_id)               # after each sampled token
    mask.is_done()                             # the automaton accepts nothing more

`RegexMask` walks each candidate token's characters through the derivative automaton
(engine.apps.structured.regex); with `precompiled=True` it keeps the finished vector per state,
which is the mask[state][token] table of production systems, built lazily (`builds` counts the
vectors built and `visited` the automaton states stepped through, so a table that never hits shows
as more builds than states). End of sequence is
legal only where the automaton may stop. A step where nothing is legal raises NoLegalContinuation
instead of sampling from an all -inf vector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from engine.apps.structured import regex as R
from engine.apps.structured.schema import compile_schema


class NoLegalContinuation(RuntimeError):
    """Every token is masked: the grammar and the vocabulary disagree."""


class LogitMask(ABC):
    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def step(self, last_token_id: int | None) -> np.ndarray: ...

    @abstractmethod
    def is_done(self) -> bool: ...


class PermissiveMask(LogitMask):
    """All zeros: adding it must not change a single sample."""

    def __init__(self, vocab_size: int) -> None:
        self.zeros = np.zeros(vocab_size, dtype=np.float32)

    def reset(self) -> None:
        pass

    def step(self, last_token_id: int | None) -> np.ndarray:
        return self.zeros

    def is_done(self) -> bool:
        return False


class RegexMask(LogitMask):
    def __init__(self, tokenizer: Any, pattern: R.Node, precompiled: bool = True) -> None:
        self.tok, self.start, self.precompiled = tokenizer, pattern, precompiled
        self.texts = [tokenizer.token_text(i) for i in range(tokenizer.vocab_size)]
        self.table: dict[int, tuple[np.ndarray, list[R.Node | None]]] = {}
        self.builds, self.visited = 0, set[int]()
        self.reset()

    def reset(self) -> None:
        self.state: R.Node = self.start
        self.next_states: list[R.Node | None] = []

    def _build(self, state: R.Node) -> tuple[np.ndarray, list[R.Node | None]]:
        self.builds += 1
        m = np.full(len(self.texts), -np.inf, dtype=np.float32)
        nxt: list[R.Node | None] = [None] * len(self.texts)
        for i, text in enumerate(self.texts):
            if text:
                end = R.walk(state, text)
                if end is not None:
                    m[i], nxt[i] = 0.0, end
        if state.nullable:
            m[self.tok.eos_id], nxt[self.tok.eos_id] = 0.0, R.EPS
        return m, nxt

    def step(self, last_token_id: int | None) -> np.ndarray:
        if last_token_id is not None:
            nxt = self.next_states[last_token_id] if self.next_states else None
            if nxt is None:
                raise ValueError(f"token {last_token_id} was not legal in the previous state")
            self.state = nxt
        self.visited.add(self.state.uid)
        if self.precompiled:
            if self.state.uid not in self.table:
                self.table[self.state.uid] = self._build(self.state)
            m, self.next_states = self.table[self.state.uid]
        else:
            m, self.next_states = self._build(self.state)
        if not np.isfinite(m).any():
            raise NoLegalContinuation(f"no token continues state {self.state!r}")
        return m

    def is_done(self) -> bool:
        return R.is_final(self.state)


class DigitMask(RegexMask):
    """Exactly `length` digits, then only end of sequence."""

    def __init__(self, tokenizer: Any, length: int = 4, precompiled: bool = True) -> None:
        super().__init__(tokenizer, R.rep(R.chars(R.DIGITS), length, length), precompiled)


class JSONSchemaMask(RegexMask):
    """Minified documents of a JSON-Schema subset (see engine.apps.structured.schema)."""

    def __init__(self, tokenizer: Any, schema: dict[str, Any], precompiled: bool = True) -> None:
        self.schema = schema
        super().__init__(tokenizer, compile_schema(schema), precompiled)
