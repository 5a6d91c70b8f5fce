"""engine.lm.models.seq: n-gram arithmetic, RNN/GRU against torch, hand BPTT against autograd, LSTM gates."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.lm.models.seq.data import build
from engine.lm.models.seq.lstm import LSTM
from engine.lm.models.seq.ngram import NGramLM
from engine.lm.models.seq.rnn import GRU, VanillaRNN, sigmoid


def test_ngram_counts_and_smoothing() -> None:
    lm = NGramLM(2, vocab_size=64, alpha=0.01, bos=0).fit([[0, 1, 2]] * 14 + [[0, 1, 3]] * 6)
    assert math.isclose(math.exp(lm.logp_token([1], 2)), 14.01 / 20.64)
    assert math.isclose(math.exp(lm.logp_token([5], 2)), 1 / 64)  # unseen context: uniform
    assert math.isclose(sum(p for _, p in lm.next_distribution([0, 1])), 1.0)
    assert lm.context_seen([0, 1]) and not lm.context_seen([0, 7])


def test_ngram_perplexity_by_hand() -> None:
    lm = NGramLM(1, vocab_size=3, alpha=1.0, bos=9).fit([[9, 0, 0, 1]])
    # unigram counts {0: 2, 1: 1}, total 3; add-one over V = 3: p0 = 3/6, p1 = 2/6, p2 = 1/6
    expected = math.exp(-(math.log(3 / 6) + math.log(2 / 6)) / 2)
    assert math.isclose(lm.perplexity([[9, 0, 1]]), expected)
    tri = NGramLM(3, vocab_size=5, alpha=0.5, bos=0)
    assert tri._events([0, 1, 2]) == [((0, 0), 1), ((0, 1), 2)]


def test_sigmoid_is_stable() -> None:
    x = np.array([-1000.0, 0.0, 1000.0])
    with np.errstate(all="raise"):
        assert np.allclose(sigmoid(x), [0.0, 0.5, 1.0])


def test_rnn_and_gru_match_torch() -> None:
    ids = [3, 1, 4, 1, 5, 9, 2, 6]
    rnn = VanillaRNN(10, 4, 6, seed=0, init_std=0.5)
    _, hs = rnn.forward(ids)
    cell = torch.nn.RNNCell(4, 6, nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(rnn.params["W_xh"]))
        cell.weight_hh.copy_(torch.tensor(rnn.params["W_hh"]))
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        h = torch.zeros(1, 6, dtype=torch.float64)
        for t, i in enumerate(ids):
            h = cell(torch.tensor(rnn.E[i])[None], h)
            assert np.allclose(h[0].numpy(), hs[t])
    # Our GRU is Cho et al.'s (candidate uses U_h (r * h)); torch's uses r * (U_h h). With the reset gate
    # pinned open (b_r = 50, r = 1) the two coincide, so torch is an oracle for everything else.
    gru = GRU(10, 4, 6, seed=1, init_std=0.5)
    gru.params["b_r"][:] = 50.0
    _, gs = gru.forward(ids)
    tg = torch.nn.GRUCell(4, 6, dtype=torch.float64)
    p = gru.params
    with torch.no_grad():
        # torch orders gates (r, z, n) and keeps h with weight z: our z is torch's 1 - z (negated pre-activation)
        tg.weight_ih.copy_(torch.tensor(np.vstack([p["W_r"], -p["W_z"], p["W_h"]])))
        tg.weight_hh.copy_(torch.tensor(np.vstack([p["U_r"], -p["U_z"], p["U_h"]])))
        tg.bias_ih.copy_(torch.tensor(np.concatenate([p["b_r"], -p["b_z"], p["b_h"]])))
        tg.bias_hh.zero_()
        h = torch.zeros(1, 6, dtype=torch.float64)
        for t, i in enumerate(ids):
            h = tg(torch.tensor(gru.E[i])[None], h)
            assert np.allclose(h[0].numpy(), gs[t], atol=1e-12)


def test_hand_bptt_equals_autograd() -> None:
    ids = np.random.default_rng(0).integers(0, 12, 20)
    for model in (VanillaRNN(12, 5, 7, seed=2, init_std=0.4), GRU(12, 5, 7, seed=3, init_std=0.4)):
        loss, grads = model.bptt(ids, 4)
        loss_ref, ref = model.autograd_bptt(ids, 4)
        assert math.isclose(loss, loss_ref, rel_tol=1e-12)
        assert np.allclose(grads, ref, rtol=1e-9, atol=1e-15)


def test_lstm_cell_bounded_with_gates_and_not_without() -> None:
    ids = np.arange(12) % 5
    healthy = LSTM(5, 4, 8, seed=0, init_std=1.0, dtype=np.float64)
    healthy(ids)
    assert max(healthy.stats["cell_max"]) <= len(ids)
    assert healthy.stats["forget_min"] > 0.0 and healthy.stats["forget_max"] < 1.0
    raw = LSTM(5, 4, 8, seed=0, init_std=1.0, gate_sigmoid=False, dtype=np.float64)
    raw(ids)
    assert raw.stats["forget_min"] < 0.0 or raw.stats["forget_max"] > 1.0


def test_sequence_data_layout() -> None:
    data = build(42)
    assert data.tokenizer.vocab_size == 512
    assert all(s[0] == data.bos and s[-1] == data.eos for s in data.ids["train"])
    assert data.tokenizer.decode(data.ids["dev"][0][1:-1]) == data.texts["dev"][0]
    words = build(42, scheme="wordlevel")
    assert words.tokenizer.decode(words.ids["train"][0][1:-1]) == words.texts["train"][0]
