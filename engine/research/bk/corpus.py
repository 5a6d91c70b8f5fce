"""A small generated text for the BK language-model experiment, with a known entropy floor.

Each sentence is a time word, then a verb phrase in the tense the time word demands, then
a full stop: "yesterday he wrote .", "already you have seen .", "tomorrow I will go .".
The verb phrases come from the course's verb corpus (engine.lm.text.verbs, §A13) when it is
importable, else from a tiny built-in table. Time word, person and verb are drawn
uniformly and everything else is determined, so the best possible next-token model has
perplexity exp(total sentence entropy / total tokens): a model that scores below that
floor on held-out text is reading the future.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

# time word -> tense index in engine.lm.text.verbs.TENSES
TIME_WORDS = {"now": 1, "yesterday": 2, "already": 3, "tomorrow": 4}
_FALLBACK_VERBS = ("work", "walk", "play", "talk")


def _phrases() -> tuple[list[str], dict[tuple[str, int, int], str]]:
    try:
        from engine.lm.text import verbs as V

        lemmas = list(V.VERBS)
        return lemmas, {(v, t, p): V.phrase(v, t, p) for v in lemmas for t in TIME_WORDS.values() for p in range(3)}
    except ImportError:  # the fallback keeps the experiment runnable without the verb module
        table = {1: ("{v}", "{v}", "{v}s"), 2: ("{v}ed",) * 3, 3: ("have {v}ed", "have {v}ed", "has {v}ed"),
                 4: ("will {v}",) * 3}
        pron = ("I", "you", "he")
        return list(_FALLBACK_VERBS), {(v, t, p): f"{pron[p]} {table[t][p].format(v=v)}"
                                       for v in _FALLBACK_VERBS for t in table for p in range(3)}


def generate(n_sentences: int, seed: int) -> tuple[list[str], float]:
    """Tokens (words) of n_sentences, and the entropy of the draws in nats."""
    lemmas, phrases = _phrases()
    rng = np.random.default_rng(seed)
    words = list(TIME_WORDS)
    tokens: list[str] = []
    for _ in range(n_sentences):
        w = words[rng.integers(len(words))]
        v = lemmas[rng.integers(len(lemmas))]
        p = int(rng.integers(3))
        tokens += [w, *phrases[(v, TIME_WORDS[w], p)].split(), "."]
    return tokens, n_sentences * math.log(len(words) * len(lemmas) * 3)


class Corpus:
    """Train and validation token ids over a shared vocabulary."""

    def __init__(self, n_train: int, n_val: int, seed: int) -> None:
        train, _ = generate(n_train, seed)
        val, val_entropy = generate(n_val, seed + 1)
        self.vocab = sorted(set(train) | set(val))
        index = {w: i for i, w in enumerate(self.vocab)}
        self.train = np.array([index[w] for w in train], dtype=np.int64)
        self.val = np.array([index[w] for w in val], dtype=np.int64)
        self.floor_ppl = math.exp(val_entropy / len(val))  # the best achievable causal perplexity

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)


SHIPPED_TEXT = "engine/data/texts/resolvent_notes.txt"  # CC0, see its header
TOKENIZERS = ("byte", "bpe")


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and not p.exists():  # a repo-relative path works from any directory
        repo = Path(__file__).resolve().parents[3] / p
        if repo.exists():
            return repo
    return p


class TextCorpus:
    """A local plain-text file as token ids: the same interface as Corpus (train, val, vocab_size,
    floor_ppl), for `--set corpus_path=...` in bk-lm.

    tokenizer "byte": the 256 byte values (engine.lm.text.bpe with no merges, so every file encodes);
    "bpe": byte-level BPE (engine.lm.text.bpe) trained on the training part only, to `bpe_vocab_size`.
    The last `val_fraction` of the file (cut at a line break when there is one) is held out.
    Real text has no known entropy floor, so floor_ppl is 1.0, the trivial bound.
    """

    def __init__(self, path: str, tokenizer: str = "byte", bpe_vocab_size: int = 512, val_fraction: float = 0.1,
                 min_tokens: int = 0) -> None:
        from engine.lm.text.bpe import BPETokenizer

        if tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {tokenizer!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        file = _resolve(path)
        if not file.is_file():
            raise FileNotFoundError(f"corpus_path: no such file {path!r}")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"corpus_path {path!r}: not UTF-8 text (byte {exc.start})") from None
        cut = int(len(text) * (1.0 - val_fraction))
        line = text.rfind("\n", 0, cut)
        cut = line + 1 if line > 0 else cut
        train_text, val_text = text[:cut], text[cut:]
        if tokenizer == "bpe":
            self.tokenizer = BPETokenizer.train(train_text.splitlines(keepends=True), bpe_vocab_size)
        else:
            self.tokenizer = BPETokenizer()
        self.train = np.array(self.tokenizer.encode(train_text), dtype=np.int64)
        self.val = np.array(self.tokenizer.encode(val_text), dtype=np.int64)
        if min(len(self.train), len(self.val)) < min_tokens:
            raise ValueError(f"corpus_path {path!r}: {len(self.train)} train / {len(self.val)} validation tokens, "
                             f"need at least {min_tokens} in each (a longer file or a shorter n_seq)")
        self.path, self.kind = str(file), tokenizer
        self.vocab = [self.tokenizer.token_str(i) for i in range(self.tokenizer.vocab_size)]
        self.floor_ppl = 1.0

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size
