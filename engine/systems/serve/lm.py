"""The model the phase-33 server runs: the current Mini-GPT over a character vocabulary, with two
ways to decode greedily.

- `decode_alone(prompt)`: one request at a time through the model's own forward and a KVCache
  (phase 22's path). This is the one-at-a-time baseline and the reference.
- `SlotDecoder`: a pool of `slots` KV caches (one per in-flight sequence) and `forward(slots,
  seqs)`, one real batched forward in which every listed sequence brings its own new tokens at
  its own positions: a whole prompt (prefill) or one token (decode), mixed in one call. The
  projections, norms, FFN and head run once on the flat rows of all sequences; RoPE uses each
  row's position and attention each sequence's own cache rows (a per-sequence causal mask over
  the pool). Batching is what amortises the per-step cost; the tokens must equal decode_alone's.

Two models can be served:
- `TutorLM.build(model="phase-28", quick=...)`: the phase-28 grammar tutor from the model cache
  (engine.lm.models.registry: the phase-18 base with its LoRA adapter, folded in and moved to the
  NumPy twin through engine.lm.models.twin, same weights; greedy tokens equal the torch model's own
  KV-cache decoding, tests/test_serve_tutor_model.py). Prompts are "fix: <sentence> =>" in the BPE
  tokenizer's ids after BOS, and a reply ends at EOS (or after max_new_tokens).
- `TutorLM.build(seed=..., d_model=...)`: a seeded Mini-GPT over a character vocabulary (or weights
  from a safetensors file, e.g. the capstone registry's promoted bundle); no end-of-sequence, so a
  request decodes exactly `max_new_tokens`. The labs whose checks count tokens use this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.lm.infer.kv_cache import KVCache
from engine.lm.models.attention_ref import MASK_VALUE, attention
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from engine.lm.models.positional import rope_rotate
from engine.lm.train.data import load_corpus
from engine.scratch.autograd.tensor import Tensor, no_grad

SEPARATOR = " => "
UNKNOWN = "?"


def tutor_sentences() -> tuple[str, ...]:
    """The learner sentences the tutor never trained on (phase 28's held-out test rows, correct and
    mis-conjugated): what a load test sends it."""
    from engine.torchstack.finetune.tutor import tutor_split

    return tuple(e.text for e in tutor_split()[1])


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


class TutorCodec:
    """The phase-28 tutor's prompt and reply format over its BPE tokenizer (engine.lm.text.bilingual)."""

    def __init__(self, tok: Any) -> None:
        self.tok = tok

    def prompt_ids(self, sentence: str, room: int) -> list[int]:
        """BOS + "fix: <sentence> =>", words dropped from the end until it fits in `room` ids."""
        from engine.lm.text import bilingual as B

        words = sentence.split()
        while True:
            ids = [B.BOS, *self.tok.encode(B.tutor_prompt(" ".join(words)))]
            if len(ids) <= room or not words:
                return ids[:room]
            words = words[:-1]

    def text(self, tokens: list[int]) -> str:
        return str(self.tok.decode(tokens)).strip()


class TutorLM:
    """Prompting and both decode paths over one MiniGPT. `stop`: ids that end a reply (not returned)."""

    def __init__(self, model: MiniGPT, vocab: CharVocab | TutorCodec, max_new_tokens: int,
                 stop: tuple[int, ...] = (), name: str = "mini-gpt") -> None:
        self.model, self.vocab, self.max_new, self.stop, self.name = model, vocab, max_new_tokens, stop, name
        self.cfg = model.cfg

    @classmethod
    def build(cls, seed: int = 0, max_new_tokens: int = 32, d_model: int = 64, n_layers: int = 2, context_len: int = 64,
              weights: str | Path | None = None, model: str = "", quick: bool = True) -> TutorLM:
        if model:
            return cls.from_registry(model, quick, max_new_tokens)
        vocab = CharVocab.from_corpus()
        net = MiniGPT(model_config(vocab, d_model, n_layers, context_len), rng=np.random.default_rng(seed))
        if weights is not None:
            net.load(weights)
        return cls(net, vocab, max_new_tokens)

    @classmethod
    def from_registry(cls, name: str = "phase-28", quick: bool = True, max_new_tokens: int = 40) -> TutorLM:
        """The registry's tutor (built into the model cache on first use), adapter folded in, on the
        NumPy twin (float32) so the slot decoder batches it; replies stop at EOS."""
        if name != "phase-28":
            raise ValueError(f"the server serves the phase-28 tutor; got model {name!r}")
        from engine.lm.models.twin import torch_to_numpy
        from engine.lm.text import bilingual as B
        from engine.torchstack.finetune.tutor import merged_copy, tutor

        torch_model, tok, ck = tutor(quick)
        net = torch_to_numpy(merged_copy(torch_model), np.float32)
        if not 1 <= max_new_tokens < net.cfg.context_len - 8:
            raise ValueError(f"max_new_tokens must lie in 1..{net.cfg.context_len - 9} for a "
                             f"{net.cfg.context_len}-token context")
        return cls(net, TutorCodec(tok), max_new_tokens, stop=(B.EOS, B.PAD), name=f"{name}@{ck.key}")

    def prompt_ids(self, sentence: str) -> list[int]:
        """The sentence, cut so that prompt + answer fit the context, then the separator."""
        if isinstance(self.vocab, TutorCodec):
            return self.vocab.prompt_ids(sentence, self.cfg.context_len - self.max_new)
        room = self.cfg.context_len - self.max_new - len(SEPARATOR)
        return self.vocab.encode(" ".join(sentence.split())[:room] + SEPARATOR)

    def text(self, tokens: list[int]) -> str:
        if isinstance(self.vocab, TutorCodec):
            return self.vocab.text(tokens)
        return self.vocab.decode(tokens).split("\n")[0].strip()

    def new_cache(self) -> KVCache:
        c = self.cfg
        return KVCache.allocate(layers=c.n_layers, heads=c.n_heads, head_dim=c.d_head, max_seq=c.context_len)

    def decode_alone(self, prompt: list[int], counter: list[int] | None = None, n: int | None = None,
                     stop: tuple[int, ...] | None = None) -> list[int]:
        """`n` (default max_new_tokens) greedy tokens for one request through the model's own
        forward (the reference), fewer when a stop id comes first. `counter[0]` is increased by the number of forward calls."""
        cache, out, n = self.new_cache(), [], self.max_new if n is None else n
        stop = self.stop if stop is None else stop
        with no_grad():
            logits = self.model(np.asarray(prompt), cache=cache, start_pos=0).data[-1]
            pos = len(prompt)
            for i in range(n):
                tok = int(np.argmax(logits))
                if tok in stop:
                    if counter is not None:
                        counter[0] += 1  # the forward that gave the stop id
                    break
                out.append(tok)
                if i + 1 < n:
                    logits = self.model(np.asarray([tok]), cache=cache, start_pos=pos).data[-1]
                    pos += 1
                if counter is not None:
                    counter[0] += 1
        return out


class SlotDecoder:
    """KV caches for `slots` sequences and one batched forward over any subset of them, each
    sequence bringing its own new tokens: a prompt for a freshly admitted one (prefill), one token
    for a decoding one, all in the same call (a ragged batch: the projections, norms and FFN run
    once on the flat rows of every sequence; attention reads each sequence's own cache rows)."""

    def __init__(self, model: MiniGPT, slots: int) -> None:
        c = model.cfg
        self.model, self.slots = model, slots
        shape = (slots, c.n_heads, c.context_len, c.d_head)
        self.k = [np.zeros(shape, np.float32) for _ in range(c.n_layers)]
        self.v = [np.zeros(shape, np.float32) for _ in range(c.n_layers)]
        self.length = np.zeros(slots, dtype=np.int64)  # rows filled per slot
        self.forward_calls = 0

    def prefill(self, slot: int, prompt: list[int]) -> np.ndarray:
        """Empty the slot, run the prompt into its cache; returns the last row's logits."""
        self.length[slot] = 0
        return self.forward([slot], [prompt])[0]

    def step(self, slots: list[int], tokens: list[int]) -> np.ndarray:
        """One decode step: token tokens[i] appended to slot slots[i]. Returns (B, V) logits."""
        return self.forward(slots, [[t] for t in tokens])

    def forward(self, slots: list[int], seqs: list[list[int]]) -> np.ndarray:
        """seqs[i] go into slot slots[i] at positions length[slot], length[slot] + 1, ...
        Returns (B, V): the logits after each sequence's last new token; advances the slots."""
        m, c = self.model, self.model.cfg
        idx = np.asarray(slots, dtype=np.int64)
        n = np.fromiter((len(s) for s in seqs), np.int64, len(seqs))
        start = self.length[idx]
        if n.min() < 1 or (start + n).max() > c.context_len:
            raise ValueError(f"every sequence needs 1..{c.context_len} positions in total")
        row_seq = np.repeat(np.arange(len(idx)), n)  # flat row -> batch row
        pos = start[row_seq] + np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        row_slot = idx[row_seq]
        # attention in two groups, so one-token rows are not padded to a prompt's length
        groups = [_Group.plan(g, row_seq, idx, start, n) for g in (n == 1, n > 1) if g.any()]
        tokens = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
        if tokens.min() < 0 or tokens.max() >= c.vocab_size:
            raise ValueError(f"token ids must lie in [0, {c.vocab_size})")
        rope = m.blocks[0].attn.rope
        if rope is not None:
            cos, sin = rope.tables(int((start + n).max()))
            cos, sin = cos[pos][:, None, :], sin[pos][:, None, :]
        with no_grad():
            h = m.E[tokens]  # (N, d)
            for layer, block in enumerate(m.blocks):
                a = block.attn
                x = block.ln1(h)
                q, k, v = ((x @ w).data.reshape(-1, c.n_heads, c.d_head) for w in (a.W_q, a.W_k, a.W_v))
                if rope is not None:
                    q, k = rope_rotate(q, cos, sin), rope_rotate(k, cos, sin)
                self.k[layer][row_slot, :, pos] = k
                self.v[layer][row_slot, :, pos] = v
                y = q if len(groups) == 1 else np.empty_like(q)
                for g in groups:
                    y[g.rows] = g.attend(q[g.rows], self.k[layer], self.v[layer])
                h = h + Tensor(y.reshape(-1, c.d_model)) @ a.W_o
                h = h + block.ffn(block.ln2(h))
            logits = (m.ln_final(h[np.cumsum(n) - 1]) @ m.E.T).data
        self.length[idx] += n
        self.forward_calls += 1
        return logits


@dataclass
class _Group:
    """Sequences attended together: their flat rows, their slots (a slice when contiguous, so the
    cache is read as a view), and the per-sequence causal mask over span cache rows."""

    rows: Any  # slice or index array into the flat rows
    slots: Any  # slice or index array into the pool
    span: int
    mask: np.ndarray  # (B, 1, tq, span) additive
    row_seq: np.ndarray | None  # None: one query row per sequence (decode), no padding
    row_off: np.ndarray | None

    @classmethod
    def plan(cls, member: np.ndarray, row_seq: np.ndarray, idx: np.ndarray, start: np.ndarray, n: np.ndarray) -> _Group:
        g = np.flatnonzero(member)
        st, ng, slots = start[g], n[g], idx[g]
        tq, span = int(ng.max()), int((st + ng).max())
        keep = np.arange(span)[None, None, :] <= (st[:, None] + np.arange(tq)[None, :])[:, :, None]
        mask = np.where(keep, 0.0, MASK_VALUE).astype(np.float32)[:, None]
        rows = np.flatnonzero(member[row_seq])
        if len(rows) == rows[-1] - rows[0] + 1:
            rows = slice(int(rows[0]), int(rows[-1]) + 1)
        if len(slots) == slots[-1] - slots[0] + 1 and (np.diff(slots) == 1).all():
            slots = slice(int(slots[0]), int(slots[-1]) + 1)
        if tq == 1:
            return cls(rows, slots, span, mask, None, None)
        rs = np.repeat(np.arange(len(g)), ng)
        return cls(rows, slots, span, mask, rs, np.arange(len(rs)) - np.repeat(np.cumsum(ng) - ng, ng))

    def attend(self, q: np.ndarray, k_pool: np.ndarray, v_pool: np.ndarray) -> np.ndarray:
        """q: the group's flat query rows (rows, H, d_head) -> attention output, same shape."""
        if self.row_seq is None:
            qp = q[:, :, None, :]
        else:
            qp = np.zeros((self.mask.shape[0], q.shape[1], self.mask.shape[2], q.shape[2]), q.dtype)
            qp[self.row_seq, :, self.row_off] = q
        y, _ = attention(qp, k_pool[self.slots, :, : self.span], v_pool[self.slots, :, : self.span], self.mask)
        return y.data[:, :, 0, :] if self.row_seq is None else y.data[self.row_seq, :, self.row_off]
