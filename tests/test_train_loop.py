"""engine.lm.train: schedule, clipping (torch oracle), grouped AdamW, token-mean loss, data, checkpoints, n-gram."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.lm.models.gpt import MiniGPTConfig
from engine.lm.train.checkpoint import apply_checkpoint, load_checkpoint, save_checkpoint, state_fingerprint
from engine.lm.train.data import BatchIterator, CharTokenizer, held_out_split, load_corpus, make_batch
from engine.lm.train.loop import TrainState, masked_loss, train_step
from engine.lm.train.ngram import ngram_nll
from engine.lm.train.optim import clip_grad_norm_, lr_at
from engine.scratch.autograd.tensor import Tensor

TINY = MiniGPTConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, vocab_size=32, context_len=32)


def test_schedule_matches_course_drill() -> None:
    assert lr_at(0, 3e-4, 3e-5, 100, 2000) == 0.0
    assert math.isclose(lr_at(25, 3e-4, 3e-5, 100, 2000), 7.5e-5)
    assert math.isclose(lr_at(1500, 3e-4, 3e-5, 100, 2000), 7.3567e-5, abs_tol=1e-9)
    assert math.isclose(lr_at(100, 3e-4, 3e-5, 100, 2000), 3e-4)
    assert lr_at(5000, 3e-4, 3e-5, 100, 2000) == 3e-5


def test_global_clip_matches_torch() -> None:
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=s) for s in [(3, 4), (5,), (2, 2)]]
    ours = [Tensor(np.zeros(g.shape)) for g in grads]
    for t, g in zip(ours, grads, strict=True):
        t.grad = g.copy()
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads, strict=True):
        t.grad = torch.tensor(g)
    n1 = clip_grad_norm_(ours, 1.0)
    n2 = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isclose(n1, float(n2), rel_tol=1e-12)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-6)


def test_decay_groups_and_token_mean_loss() -> None:
    tok = CharTokenizer(32)
    seqs = [tok.encode(t) for t in ("to go", "now he works", "i have seen")]
    st = TrainState.create(TINY, {"weight_decay": 0.1}, seqs, batch_size=3)
    decayed = set(st.opt.decay_names)
    assert "E" in decayed and "block_0.attn.W_q" in decayed and "block_0.ffn.b1" not in decayed
    assert not any("ln" in n for n in decayed)
    inp, tgt, lm, am = make_batch(seqs)
    loss = masked_loss(st.model, inp, tgt, lm, am)
    logits = torch.tensor(st.model(inp, pad_mask=am).data, dtype=torch.float64)
    t = torch.tensor(np.where(lm > 0, tgt, -100))
    ref = torch.nn.functional.cross_entropy(logits.reshape(-1, 32), t.reshape(-1), ignore_index=-100)
    assert math.isclose(loss.item(), float(ref), rel_tol=1e-5)


def test_split_iterator_and_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    train_ex, val_ex = held_out_split(load_corpus())
    assert (len(train_ex), len(val_ex)) == (240, 60)
    tok = CharTokenizer(32)
    seqs = [tok.encode(e.text) for e in train_ex[:40]]
    it = BatchIterator(seqs, 7, seed=1)
    [it.next_batch() for _ in range(8)]
    state = it.state_dict()
    a = [it.next_batch()[0] for _ in range(4)]
    it2 = BatchIterator(seqs, 7, seed=5)
    it2.load_state_dict(state)
    assert all(np.array_equal(x, y) for x, y in zip(a, [it2.next_batch()[0] for _ in range(4)], strict=True))
    make = lambda: TrainState.create(TINY, {"warmup_steps": 2, "total_steps": 8}, seqs, batch_size=4)  # noqa: E731
    cont, first = make(), make()
    full = [train_step(cont)["loss"] for _ in range(6)]
    part = [train_step(first)["loss"] for _ in range(3)]
    save_checkpoint(first, tmp_path / "ck")
    resumed = make()
    apply_checkpoint(load_checkpoint(tmp_path / "ck"), resumed)
    assert state_fingerprint(resumed) == state_fingerprint(first)
    assert part + [train_step(resumed)["loss"] for _ in range(3)] == full


def test_ngram_is_a_distribution() -> None:
    seqs = [[1, 5, 6, 2], [1, 5, 7, 2]]
    vocab = 8
    # a held-out sequence made of every possible next token: probabilities over the vocab sum to 1
    total = sum(math.exp(-ngram_nll(seqs, [[1, 5, t]], 2, vocab, 0.5) * 2 + ngram_nll(seqs, [[1, 5]], 2, vocab, 0.5))
                for t in range(vocab))
    assert math.isclose(total, 1.0, rel_tol=1e-9)
