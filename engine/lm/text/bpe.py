"""Byte-level BPE (phase 11): train, encode, decode, save, load — plain Python, no regex.

Why byte level: starting from the 256 byte values means every string has an encoding, so
there is never an unknown token; accented letters and emoji just cost more bytes.

Layout of the ids: the special tokens first (0..S-1), then the 256 single bytes
(S..S+255), then one id per learned merge, in training order. `vocab_size` counts all of
them, so 261 with no specials is 256 bytes + 5 merges.

Training (the course's rule, with its tie-break fixed): every input string is one
pre-token (no regex pre-tokenization in v1, so merges may cross spaces); identical strings
are counted once with a weight. Each step counts adjacent pairs weighted by that count and
merges the pair with the highest count, ties going to the smallest (bytes, bytes) pair —
`min(pairs, key=(-count, pair))`, not the `max` of the course's sketch, which breaks ties
towards the largest pair. Pair counts are updated incrementally, only in the words a merge
touched. A pair whose bytes are already a token (reached by another merge path, "ab"+"c"
after "a"+"bc") is skipped, so every token's bytes are unique and merges.txt, which names
merges by bytes, loads back unambiguously.

Encoding replays the merges in training order. It is done as "merge the lowest-ranked pair
present, repeat", which gives the same result: a pair that contains the token of merge r was
learned after r, so it can never be due before r. Specials are cut out first and are atomic.
The tokenizer itself does not normalise: callers feed NFC text (the corpus is NFC) and
round-trips are byte exact for any valid UTF-8 string.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "1.0.0"
Pair = tuple[int, int]


def display(token: bytes) -> str:
    """Readable form of a token: printable ASCII as is, every other byte as \\xNN."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in token)


def glyph(token: bytes) -> str:
    """The token decoded as text where it is valid UTF-8 on its own, else its display form."""
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        return display(token)


def _merge_word(word: tuple[int, ...], pair: Pair, new_id: int) -> tuple[int, ...]:
    """Replace every occurrence of `pair` in `word`, left to right, without overlap."""
    out: list[int] = []
    i, n = 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def best_pair(pair_counts: dict[Pair, int], id_to_bytes: list[bytes]) -> Pair:
    """The pair to merge next: the highest count, ties going to the smallest (bytes, bytes) pair."""
    return min(pair_counts, key=lambda p: (-pair_counts[p], id_to_bytes[p[0]], id_to_bytes[p[1]]))


@dataclass
class BPETokenizer:
    """A trained (or empty) byte-level BPE. Build one with `BPETokenizer.train(...)` or `load`."""

    special_tokens: tuple[str, ...] = ()
    merges: list[tuple[bytes, bytes]] = field(default_factory=list)
    id_to_bytes: list[bytes] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if len(set(self.special_tokens)) != len(self.special_tokens):
            raise ValueError("special tokens must be distinct")
        self.id_to_bytes = [s.encode("utf-8") for s in self.special_tokens] + [bytes([b]) for b in range(256)]
        self.bytes_to_id: dict[bytes, int] = {b: i for i, b in enumerate(self.id_to_bytes[len(self.special_tokens):],
                                                                    start=len(self.special_tokens))}
        self.special_to_id = {s: i for i, s in enumerate(self.special_tokens)}
        self.ranks: dict[Pair, int] = {}
        self._cache: dict[bytes, list[int]] = {}
        merges, self.merges = self.merges, []
        for a, b in merges:
            self._add_merge(self.bytes_to_id[a], self.bytes_to_id[b])

    # ------------------------------------------------------------------ basics
    @property
    def n_special(self) -> int:
        return len(self.special_tokens)

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_bytes)

    def _add_merge(self, a: int, b: int) -> int:
        token = self.id_to_bytes[a] + self.id_to_bytes[b]
        new_id = len(self.id_to_bytes)
        self.id_to_bytes.append(token)
        self.bytes_to_id[token] = new_id
        self.ranks[(a, b)] = new_id
        self.merges.append((self.id_to_bytes[a], self.id_to_bytes[b]))
        self._cache.clear()
        return new_id

    # ------------------------------------------------------------------ training
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = (),
              trace: list[dict] | None = None, trace_steps: int = 0) -> BPETokenizer:
        """Learn merges until the vocabulary has `vocab_size` entries or no pair is left.

        `trace`, if given, receives for the first `trace_steps` merges the sorted pair table
        ({pair: (bytes, bytes), count}) and the winner — the hand-trace of lab 00.
        """
        tok = cls(special_tokens=tuple(special_tokens))
        if vocab_size < tok.vocab_size:
            raise ValueError(f"vocab_size {vocab_size} is below specials + 256 bytes = {tok.vocab_size}")
        counts: Counter[bytes] = Counter()
        for text in texts:
            for piece in tok._split_specials(text):
                if isinstance(piece, str) and piece:
                    counts[piece.encode("utf-8")] += 1
        off = tok.n_special
        words = [tuple(off + b for b in w) for w in sorted(counts)]
        weights = [counts[w] for w in sorted(counts)]
        pair_counts: dict[Pair, int] = defaultdict(int)
        where: dict[Pair, set[int]] = defaultdict(set)
        for wi, w in enumerate(words):
            for p in zip(w, w[1:], strict=False):
                pair_counts[p] += weights[wi]
                where[p].add(wi)
        tb = tok.id_to_bytes
        while tok.vocab_size < vocab_size and pair_counts:
            best = best_pair(pair_counts, tb)
            if tb[best[0]] + tb[best[1]] in tok.bytes_to_id:  # same bytes reached by another path
                del pair_counts[best]
                where.pop(best, None)
                continue
            if trace is not None and len(tok.merges) < trace_steps:
                table = sorted(pair_counts.items(), key=lambda kv: (-kv[1], tb[kv[0][0]], tb[kv[0][1]]))
                trace.append({"step": len(tok.merges) + 1, "winner": (tb[best[0]], tb[best[1]]),
                              "count": pair_counts[best],
                              "table": [((tb[a], tb[b]), c) for (a, b), c in table]})
            new_id = tok._add_merge(*best)
            for wi in sorted(where.pop(best, ())):
                old, weight = words[wi], weights[wi]
                new = _merge_word(old, best, new_id)
                for p in zip(old, old[1:], strict=False):
                    pair_counts[p] -= weight
                    if pair_counts[p] == 0:
                        del pair_counts[p]
                    if p in where:
                        where[p].discard(wi)
                for p in zip(new, new[1:], strict=False):
                    pair_counts[p] += weight
                    where[p].add(wi)
                words[wi] = new
            pair_counts.pop(best, None)
        return tok

    # ------------------------------------------------------------------ encode / decode
    def _split_specials(self, text: str) -> list[str | int]:
        """Cut `text` at special tokens (longest first): plain pieces stay str, specials become ids."""
        pieces: list[str | int] = [text]
        for special in sorted(self.special_tokens, key=len, reverse=True):
            out: list[str | int] = []
            for piece in pieces:
                if isinstance(piece, int):
                    out.append(piece)
                    continue
                parts = piece.split(special)
                for k, part in enumerate(parts):
                    if k:
                        out.append(self.special_to_id[special])
                    if part:
                        out.append(part)
            pieces = out
        return pieces

    def _encode_bytes(self, data: bytes) -> list[int]:
        cached = self._cache.get(data)
        if cached is not None:
            return list(cached)
        word = [self.n_special + b for b in data]
        while len(word) > 1:
            ranked = [(self.ranks.get(p, -1), i) for i, p in enumerate(zip(word, word[1:], strict=False))]
            ranked = [(r, i) for r, i in ranked if r >= 0]
            if not ranked:
                break
            rank, at = min(ranked)
            word = list(_merge_word(tuple(word), (word[at], word[at + 1]), rank))
        self._cache[data] = word
        return list(word)

    def encode(self, text: str) -> list[int]:
        """Text -> ids. Special-token strings in `text` become their single id."""
        ids: list[int] = []
        for piece in self._split_specials(text):
            ids.extend([piece] if isinstance(piece, int) else self._encode_bytes(piece.encode("utf-8")))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        out = []
        for i in ids:
            if not isinstance(i, int) or not 0 <= i < self.vocab_size:
                raise IndexError(f"token id {i!r} is outside the vocabulary (0..{self.vocab_size - 1})")
            out.append(self.id_to_bytes[i])
        return b"".join(out)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; an id outside the vocabulary raises IndexError, a split UTF-8 sequence shows U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_str(self, i: int) -> str:
        return glyph(self.id_to_bytes[i])

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> dict[str, Path]:
        """vocab.json (id, display, hex, glyph), merges.txt (hex a TAB hex b), config.json."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        vocab = [{"id": i, "display": display(b), "glyph": glyph(b), "hex": b.hex()} for i, b in enumerate(self.id_to_bytes)]
        paths = {"vocab": d / "vocab.json", "merges": d / "merges.txt", "config": d / "config.json"}
        paths["vocab"].write_text(json.dumps(vocab, ensure_ascii=True, indent=1) + "\n", encoding="utf-8")
        paths["merges"].write_text("".join(f"{a.hex()}\t{b.hex()}\n" for a, b in self.merges), encoding="utf-8")
        config = {"kind": "byte_bpe", "vocab_size": self.vocab_size, "special_tokens": list(self.special_tokens),
                  "n_merges": len(self.merges), "normalization": "NFC (applied by the caller)", "version": VERSION}
        paths["config"].write_text(json.dumps(config, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        return paths

    @classmethod
    def load(cls, directory: str | Path) -> BPETokenizer:
        d = Path(directory)
        config = json.loads((d / "config.json").read_text(encoding="utf-8"))
        merges = []
        for line in (d / "merges.txt").read_text(encoding="utf-8").splitlines():
            a, b = line.split("\t")
            merges.append((bytes.fromhex(a), bytes.fromhex(b)))
        tok = cls(special_tokens=tuple(config["special_tokens"]), merges=merges)
        if tok.vocab_size != config["vocab_size"]:
            raise ValueError(f"{d}: config says {config['vocab_size']} entries, merges give {tok.vocab_size}")
        return tok


def replay_encode(merges: Sequence[tuple[bytes, bytes]], data: bytes) -> list[bytes]:
    """Encoding written plainly: apply every merge in training order across the word (the oracle for encode)."""
    word = [bytes([b]) for b in data]
    for a, b in merges:
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def reference_merges(texts: Iterable[str], n_merges: int) -> list[tuple[bytes, bytes]]:
    """The course's algorithm written plainly (full recount every step): the oracle for `train`."""
    words = Counter(tuple(bytes([b]) for b in t.encode("utf-8")) for t in texts if t)
    merges: list[tuple[bytes, bytes]] = []
    tokens = {bytes([b]) for b in range(256)}
    while len(merges) < n_merges:
        pairs: Counter[tuple[bytes, bytes]] = Counter()
        for w, c in words.items():
            for p in zip(w, w[1:], strict=False):
                if p[0] + p[1] not in tokens:
                    pairs[p] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        tokens.add(best[0] + best[1])
        new_words: Counter[tuple[bytes, ...]] = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    return merges
