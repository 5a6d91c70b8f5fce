"""What the instrumented loop trains: the phase-18 Mini-GPT, or a small character MLP.

A subject owns its model, data and batches, and tells the loop what to measure:
- `batch(items_or_none)` -> a batch; `loss(batch)` -> (loss Tensor, per-token losses, regular mask)
- `val()` -> (val loss, regular, irregular); `ngram_baseline()` -> the bar panel 1 draws
- `attach(inspector)` registers the per-layer hooks; `weight_matrices()` for sigma_1
- `dead_heads()` after a forward (empty for the MLP); `v_target()` the bias whose Adam second
  moment the v_corrupt injection inflates; `rare_batch()` the eight-copies bad batch.

GPT failure switches: `init_scale` multiplies every weight matrix and the embedding, and
`leak` builds the model with `causal=False` (the all-ones mask: every position reads ahead).
The MLP's `leak` shifts its context window onto the target instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.lm.dynamics import charlm
from engine.lm.dynamics.stats import attention_entropy
from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad
from engine.scratch.nn import Parameter

RARE_SENTENCE = "he has written the letter"


class GPTSubject:
    name = "minigpt"

    def __init__(self, cfg: dict[str, Any]) -> None:
        from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
        from engine.lm.train.data import CharTokenizer, held_out_split, load_corpus

        self.tok = CharTokenizer(64)
        train_ex, val_ex = held_out_split(load_corpus())
        self.train_ex, self.val_ex = train_ex, val_ex
        self.train_seqs = [self.tok.encode(e.text) for e in train_ex]
        self.val_seqs = [self.tok.encode(e.text) for e in val_ex]
        self.train_reg = [e.is_regular for e in train_ex]
        self.val_reg = [e.is_regular for e in val_ex]
        mc = MiniGPTConfig(d_model=int(cfg.get("d_model", 64)), n_heads=4, n_layers=2, d_ff=256, vocab_size=64,
                           context_len=32, causal=not cfg["leak"])
        self.model = MiniGPT(mc, rng=np.random.default_rng(cfg["seed"]))
        if cfg["init_scale"] != 1.0:
            for p in self.model.parameters():
                if p.data.ndim >= 2:
                    p.data *= np.float32(cfg["init_scale"])
        self.rng = np.random.default_rng(cfg["data_seed"])
        self.batch_size = int(cfg["batch_size"])
        self.order: list[int] = []
        self._pad: np.ndarray | None = None

    def _make(self, seqs: list[list[int]], regular: list[bool]) -> dict[str, Any]:
        from engine.lm.train.data import make_batch

        inp, tgt, lm, am = make_batch(seqs)
        reg = np.repeat(np.array(regular, dtype=bool)[:, None], tgt.shape[1], axis=1)
        return {"inp": inp, "tgt": tgt, "mask": lm.astype(bool), "attn": am.astype(bool), "regular": reg}

    def next_batch(self) -> dict[str, Any]:
        idx = []
        while len(idx) < self.batch_size:
            if not self.order:
                self.order = list(self.rng.permutation(len(self.train_seqs)))
            idx.append(self.order.pop())
        return self._make([self.train_seqs[i] for i in idx], [self.train_reg[i] for i in idx])

    def rare_batch(self) -> dict[str, Any]:
        return self._make([self.tok.encode(RARE_SENTENCE)] * 8, [False] * 8)

    def loss(self, b: dict[str, Any]) -> tuple[Tensor, np.ndarray, np.ndarray]:
        self._pad = b["attn"]
        logits = self.model(b["inp"], pad_mask=b["attn"])
        v = logits.shape[-1]
        keep = b["mask"].reshape(-1)
        rows = np.flatnonzero(keep)
        per = cross_entropy(logits.reshape(-1, v)[rows], b["tgt"].reshape(-1)[rows], reduction="none")
        return per.mean(), np.asarray(per.data, dtype=np.float64), b["regular"].reshape(-1)[rows]

    def train_loss_full(self) -> float:
        b = self._make(self.train_seqs, self.train_reg)
        with no_grad():
            _, rows, _ = self.loss(b)
        return float(rows.mean())

    def val(self) -> tuple[float, float, float]:
        b = self._make(self.val_seqs, self.val_reg)
        with no_grad():
            _, rows, reg = self.loss(b)
        r, i = charlm.partition_loss(rows, reg)
        return float(rows.mean()), r, i

    def attach(self, ins: Any) -> None:
        m = self.model
        for i, blk in enumerate(m.blocks):
            ins.register_forward(f"block_{i}_out", blk)
            ins.register_forward(f"block_{i}.ffn_hidden", blk.ffn.act, dead=True)
        ins.register_forward("final_ln_out", m.ln_final)
        for name, p in m.named_parameters():
            ins.register_backward(name, p)

    def weight_matrices(self) -> dict[str, Parameter]:
        out = {}
        for i, blk in enumerate(self.model.blocks):
            out.update({f"block_{i}.W_q": blk.attn.W_q, f"block_{i}.W_o": blk.attn.W_o,
                        f"block_{i}.ffn_up": blk.ffn.w1, f"block_{i}.ffn_down": blk.ffn.w2})
        return out

    def dead_heads(self) -> dict[str, int]:
        """Heads whose attention entropy is < log 2 on > 99 % of valid query rows (positions >= 2)."""
        out = {}
        valid = self._pad if self._pad is not None else None
        for i, blk in enumerate(self.model.blocks):
            w = getattr(blk.attn, "last_weights", None)
            if w is None:
                continue
            h = attention_entropy(w)  # (B, H, T)
            keep = np.ones(h.shape[::2], dtype=bool) if valid is None else valid.copy()  # (B, T)
            keep[:, :2] = False
            low = (h < math.log(2)) & keep[:, None, :]
            frac = low.sum(axis=(0, 2)) / max(int(keep.sum()), 1)
            out[f"block_{i}"] = int((frac > 0.99).sum())
        return out

    def v_target(self) -> Parameter:
        return self.model.blocks[-1].ffn.b2

    def ngram_baseline(self) -> float:
        from engine.lm.train.ngram import best_baseline

        best = best_baseline(self.train_seqs, self.val_seqs, 64)
        return float(best["nll"] if isinstance(best, dict) else best)


class MLPSubject:
    name = "char-mlp"

    def __init__(self, cfg: dict[str, Any]) -> None:
        items = charlm.sentences()
        self.vocab = charlm.Vocab([s.text for s in items] + [RARE_SENTENCE + " ."])
        self.train_items, self.val_items = charlm.split(items)
        self.context, self.leak = int(cfg["context"]), bool(cfg["leak"])
        self.model = charlm.CharMLP(len(self.vocab), cfg["context"], cfg["d_emb"], cfg["hidden"],
                                    rng=np.random.default_rng(cfg["seed"]), init_scale=cfg["init_scale"])
        self.it = charlm.BatchIterator(self.train_items, int(cfg["batch_size"]), cfg["data_seed"])

    def next_batch(self) -> charlm.Batch:
        return charlm.make_batch(self.it.next(), self.vocab, self.context, self.leak)

    def rare_batch(self) -> charlm.Batch:
        return charlm.make_batch([charlm.Sentence(RARE_SENTENCE + " .", "write", 3, 2)] * 8, self.vocab,
                                 self.context, self.leak)

    def loss(self, b: charlm.Batch) -> tuple[Tensor, np.ndarray, np.ndarray]:
        loss, rows = charlm.loss_and_rows(self.model, b)
        return loss, rows, b.regular

    def val(self) -> tuple[float, float, float]:
        b = charlm.make_batch(self.val_items, self.vocab, self.context, self.leak)
        with no_grad():
            _, rows = charlm.loss_and_rows(self.model, b)
        r, i = charlm.partition_loss(rows, b.regular)
        return float(rows.mean()), r, i

    def train_loss_full(self) -> float:
        b = charlm.make_batch(self.train_items, self.vocab, self.context, self.leak)
        with no_grad():
            _, rows = charlm.loss_and_rows(self.model, b)
        return float(rows.mean())

    def attach(self, ins: Any) -> None:
        m = self.model
        ins.register_forward("embed_out", m.emb)
        ins.register_forward("hidden_0", m.act0, dead=True)
        ins.register_forward("hidden_1", m.act1, dead=True)
        ins.register_forward("logits", m.head)
        for name, p in m.named_parameters():
            ins.register_backward(name, p)

    def weight_matrices(self) -> dict[str, Parameter]:
        return self.model.weight_matrices()

    def dead_heads(self) -> dict[str, int]:
        return {}

    def v_target(self) -> Parameter:
        return self.model.head.bias

    def ngram_baseline(self) -> float:
        return charlm.ngram_baseline(self.train_items, self.val_items, self.vocab, order=4)


def make_subject(cfg: dict[str, Any]) -> GPTSubject | MLPSubject:
    kind = cfg.get("subject", "minigpt")
    if kind == "minigpt":
        return GPTSubject(cfg)
    if kind == "mlp":
        return MLPSubject(cfg)
    raise ValueError(f"subject must be minigpt or mlp, got {kind!r}")
