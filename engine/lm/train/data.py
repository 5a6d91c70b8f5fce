"""Training data for the Mini-GPT (phase 18): the §A13 verb grid as sentences, a character
tokenizer, the held-out-verb split, padded batches with masks and a resumable batch iterator.

Sentences: each (verb, tense, person) form of engine.lm.text.verbs becomes one lower-case sentence
with a tense cue where the form alone is ambiguous: present "now he works", past "yesterday he
worked", future "tomorrow he will work"; the participle ("he has worked") and the infinitive
("to work") carry their own cue. The project has no Spanish side yet (phase 12 is not built),
so sentences are English only.
Tokenizer: characters. <pad>=0, <bos>=1, <eos>=2, space, a-z; ids up to vocab_size (64, the
course's locked V) are reserved and never appear, so an untrained model starts at ln 64.
Split: whole verbs are held out (look, like, see, eat: 2 regular, 2 irregular) -> 240 / 60.
Batches: input = ids[:, :-1], target = ids[:, 1:], loss_mask = target != pad, attn_pad_mask =
input != pad, all (B, L-1). The loss is the token mean over loss_mask.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.lm.text.verbs import IRREGULAR, PERSONS, PRONOUNS, TENSES, VERBS, grid

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")
CHARS = " " + string.ascii_lowercase
HELDOUT_VERBS: tuple[str, ...] = ("look", "like", "see", "eat")
CUES = {"present": "now", "past": "yesterday", "future": "tomorrow"}


@dataclass(frozen=True)
class VerbExample:
    id: str  # "work.present.3sg"
    text: str  # "now he works"
    verb: str
    tense: str
    person: str  # 1sg | 2sg | 3sg
    is_regular: bool

    def __post_init__(self) -> None:
        if self.verb not in VERBS:
            raise ValueError(f"{self.id}: unknown verb {self.verb!r}")
        if self.tense not in TENSES:
            raise ValueError(f"{self.id}: unknown tense {self.tense!r}")
        if self.person not in ("1sg", "2sg", "3sg"):
            raise ValueError(f"{self.id}: person must be 1sg/2sg/3sg, got {self.person!r}")
        if not self.text or any(c not in CHARS for c in self.text):
            raise ValueError(f"{self.id}: text {self.text!r} is empty or has characters outside a-z and space")


class CharTokenizer:
    """Characters to ids and back; specials first, then space and a-z, padded up to vocab_size."""

    def __init__(self, vocab_size: int = 64) -> None:
        self.itos = list(SPECIALS) + list(CHARS)
        if vocab_size < len(self.itos):
            raise ValueError(f"vocab_size {vocab_size} is below the {len(self.itos)} symbols in use")
        self.itos += [f"<unused{i}>" for i in range(vocab_size - len(self.itos))]
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.vocab_size = vocab_size

    def encode(self, text: str, bos: bool = True, eos: bool = True) -> list[int]:
        ids = [self.stoi[c] for c in text]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.itos[i] for i in ids if i >= len(SPECIALS) and i < len(SPECIALS) + len(CHARS))


def sentence(verb: str, tense: int, person: int) -> str:
    from engine.lm.text.verbs import phrase

    name = TENSES[tense]
    text = phrase(verb, tense, person).lower()
    return f"{CUES[name]} {text}" if name in CUES else text


def load_corpus() -> list[VerbExample]:
    """All 300 grid cells as validated examples (verb, then tense, then person order)."""
    out = []
    for f in grid():
        out.append(VerbExample(
            id=f"{f.verb}.{TENSES[f.tense]}.{f.person + 1}sg", text=sentence(f.verb, f.tense, f.person),
            verb=f.verb, tense=TENSES[f.tense], person=f"{f.person + 1}sg", is_regular=f.verb not in IRREGULAR))
    return out


def held_out_split(examples: Sequence[VerbExample], heldout: Sequence[str] = HELDOUT_VERBS,
                   ) -> tuple[list[VerbExample], list[VerbExample]]:
    held = set(heldout)
    unknown = held - set(VERBS)
    if unknown:
        raise ValueError(f"held-out verbs not in the corpus: {sorted(unknown)}")
    return [e for e in examples if e.verb not in held], [e for e in examples if e.verb in held]


def make_batch(seqs: Sequence[Sequence[int]], pad_id: int = PAD) -> tuple[np.ndarray, ...]:
    """Right-pad to the longest, shift by one: (input, target, loss_mask, attn_pad_mask), all (B, L-1)."""
    length = max(len(s) for s in seqs)
    ids = np.full((len(seqs), length), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
    inp, tgt = ids[:, :-1], ids[:, 1:]
    return inp, tgt, (tgt != pad_id).astype(np.float32), (inp != pad_id).astype(np.float32)


class BatchIterator:
    """Shuffled batches over epochs with its own Generator; the last partial batch is kept.

    state_dict()/load_state_dict() capture epoch, position, the epoch's order and the RNG state,
    so a restored iterator yields exactly the batches the original would have.
    """

    def __init__(self, seqs: Sequence[Sequence[int]], batch_size: int, seed: int) -> None:
        self.seqs = [list(s) for s in seqs]
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.epoch, self.pos = 0, 0
        self.order = self.rng.permutation(len(self.seqs))

    def next_indices(self) -> np.ndarray:
        if self.pos >= len(self.order):
            self.epoch += 1
            self.pos = 0
            self.order = self.rng.permutation(len(self.seqs))
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += len(idx)
        return idx

    def next_batch(self) -> tuple[np.ndarray, ...]:
        return make_batch([self.seqs[i] for i in self.next_indices()])

    def __iter__(self) -> BatchIterator:
        return self

    def __next__(self) -> tuple[np.ndarray, ...]:
        return self.next_batch()

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos, "order": [int(i) for i in self.order],
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self.order = np.asarray(state["order"], dtype=np.int64)
        self.rng.bit_generator.state = state["rng"]


def person_index(person: str) -> int:
    return int(person[0]) - 1


def pronoun(person: str) -> str:
    return PRONOUNS[person_index(person)].lower()


__all__ = ["BOS", "EOS", "HELDOUT_VERBS", "PAD", "PERSONS", "BatchIterator", "CharTokenizer", "VerbExample",
           "held_out_split", "load_corpus", "make_batch", "sentence"]
