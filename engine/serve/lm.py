"""The model the phase-33 server runs: the current Mini-GPT over a character vocabulary, with two
ways to decode greedily.

- `decode_alone(prompt)`: one request at a time through the model's own forward and a KVCache
  (phase 22's path). This is the one-at-a-time baseline and the reference.
- `SlotDecoder`: a pool of `slots` KV caches (one per in-flight sequence, each a KVCache whose
  buffers are views into the pool) and `step(slots, tokens)`, one real batched forward for every
  in-flight sequence at its own position: the projections, FFN and head run once on a (B, d)
  matrix; RoPE and attention use each row's own position and cache length (a length mask over
  the pool). Batching is what amortises the per-step cost; the tokens must equal decode_alone's.

Why a character model: the spine issue's tutor model (phase 28) is not built yet, so the served
model is a Mini-GPT (seeded, or weights from a safetensors file, e.g. the registry's promoted
model). It has no end-of-sequence training, so a request decodes exactly `max_new_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.autograd.tensor import Tensor, no_grad
from engine.infer.kv_cache import KVCache
from engine.models.attention_ref import MASK_VALUE, attention
from engine.models.gpt import MiniGPT, MiniGPTConfig
from engine.models.positional import rope_rotate
from engine.train.data import load_corpus

SEPARATOR = " => "
UNKNOWN = "?"


@dataclass(frozen=True)
class CharVocab:
    chars: str

    @classmethod
    def from_corpus(cls) -> CharVocab:
        seen = set("".join(e.text for e in load_corpus())) | set(SEPARATOR) | {"\n", UNKNOWN, "."}
        return cls("".join(sorted(seen)))

    def encode(self, text: str) -> list[int]:
        idx = {c: i for i, c in enumerate(self.chars)}
        return [idx.get(c, idx[UNKNOWN]) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)


def model_config(vocab: CharVocab, d_model: int, n_layers: int, context_len: int) -> MiniGPTConfig:
    return MiniGPTConfig(d_model=d_model, n_heads=4, n_layers=n_layers, d_ff=4 * d_model,
                         vocab_size=len(vocab.chars), context_len=context_len)


class TutorLM:
    """Prompting and both decode paths over one MiniGPT."""

    def __init__(self, model: MiniGPT, vocab: CharVocab, max_new_tokens: int) -> None:
        self.model, self.vocab, self.max_new = model, vocab, max_new_tokens
        self.cfg = model.cfg

    @classmethod
    def build(cls, seed: int, max_new_tokens: int, d_model: int = 64, n_layers: int = 2, context_len: int = 64,
              weights: str | Path | None = None) -> TutorLM:
        vocab = CharVocab.from_corpus()
        model = MiniGPT(model_config(vocab, d_model, n_layers, context_len), rng=np.random.default_rng(seed))
        if weights is not None:
            model.load(weights)
        return cls(model, vocab, max_new_tokens)

    def prompt_ids(self, sentence: str) -> list[int]:
        """The sentence, cut so that prompt + answer fit the context, then the separator."""
        room = self.cfg.context_len - self.max_new - len(SEPARATOR)
        return self.vocab.encode(" ".join(sentence.split())[:room] + SEPARATOR)

    def text(self, tokens: list[int]) -> str:
        return self.vocab.decode(tokens).split("\n")[0].strip()

    def new_cache(self) -> KVCache:
        c = self.cfg
        return KVCache.allocate(layers=c.n_layers, heads=c.n_heads, head_dim=c.d_head, max_seq=c.context_len)

    def decode_alone(self, prompt: list[int], counter: list[int] | None = None, n: int | None = None) -> list[int]:
        """`n` (default max_new_tokens) greedy tokens for one request through the model's own
        forward (the reference). `counter[0]` is increased by the number of forward calls."""
        cache, out, n = self.new_cache(), [], self.max_new if n is None else n
        with no_grad():
            logits = self.model(np.asarray(prompt), cache=cache, start_pos=0).data[-1]
            pos = len(prompt)
            for i in range(n):
                tok = int(np.argmax(logits))
                out.append(tok)
                if i + 1 < n:
                    logits = self.model(np.asarray([tok]), cache=cache, start_pos=pos).data[-1]
                    pos += 1
                if counter is not None:
                    counter[0] += 1
        return out


class SlotDecoder:
    """KV caches for `slots` sequences and one batched decode step over any subset of them."""

    def __init__(self, lm: TutorLM, slots: int) -> None:
        c = lm.cfg
        self.lm, self.model, self.slots = lm, lm.model, slots
        shape = (slots, c.n_heads, c.context_len, c.d_head)
        self.k = [np.zeros(shape, np.float32) for _ in range(c.n_layers)]
        self.v = [np.zeros(shape, np.float32) for _ in range(c.n_layers)]
        self.length = np.zeros(slots, dtype=np.int64)  # rows filled per slot
        self.forward_calls = 0  # batched steps plus prefills

    def cache_of(self, slot: int) -> KVCache:
        """The slot's own KVCache: views into the pool, so appends land in the pool."""
        cache = KVCache([k[slot:slot + 1] for k in self.k], [v[slot:slot + 1] for v in self.v])
        cache.cursor = [int(self.length[slot])] * len(self.k)
        return cache

    def prefill(self, slot: int, prompt: list[int]) -> np.ndarray:
        """Run the prompt through the model into the slot's cache; returns the last logits."""
        self.length[slot] = 0
        cache = self.cache_of(slot)
        with no_grad():
            logits = self.model(np.asarray(prompt), cache=cache, start_pos=0).data[-1]
        self.length[slot] = len(prompt)
        self.forward_calls += 1
        return logits

    def step(self, slots: list[int], tokens: list[int]) -> np.ndarray:
        """One batched forward: token tokens[i] at position length[slots[i]] of slot slots[i].
        Returns (B, V) logits and advances each slot by one row."""
        m = self.model
        idx = np.asarray(slots)
        pos = self.length[idx]  # (B,) the new token's position per sequence
        span = int(pos.max()) + 1
        keep = np.arange(span)[None, :] <= pos[:, None]  # row j visible to sequence b if j <= pos_b
        mask = np.where(keep, 0.0, MASK_VALUE).astype(np.float32)[:, None, None, :]
        with no_grad():
            h = m.E[np.asarray(tokens)[:, None]]  # (B, 1, d)
            for layer, block in enumerate(m.blocks):
                a = block.attn
                x = block.ln1(h)
                q, k, v = (a.split_heads(x @ w) for w in (a.W_q, a.W_k, a.W_v))  # (B, H, 1, d_head)
                if a.rope is not None:
                    cos, sin = a.rope.tables(span)
                    cos, sin = cos[pos][:, None, None, :], sin[pos][:, None, None, :]
                    q, k = rope_rotate(q, cos, sin), rope_rotate(k, cos, sin)
                self.k[layer][idx, :, pos] = k.data[:, :, 0]
                self.v[layer][idx, :, pos] = v.data[:, :, 0]
                keys, vals = Tensor(self.k[layer][idx, :, :span]), Tensor(self.v[layer][idx, :, :span])
                y, _ = attention(q, keys, vals, mask)
                h = h + a.merge_heads(y) @ a.W_o
                h = h + block.ffn(block.ln2(h))
            logits = (m.ln_final(h) @ m.E.T).data[:, 0]
        self.length[idx] += 1
        self.forward_calls += 1
        return logits
