"""Phase 14 probes: the smoothed n-gram, one RNN / GRU step, and the hand-written BPTT step.

The n-gram is fitted on random sequences for n = 1..5 and queried on seen and unseen contexts
(short contexts too: the first tokens after <bos>). Recurrent steps are compared in float64 on
random weights, including a zero hidden state and saturating inputs. The backward step is also
checked against engine autograd (`autograd_bptt`), the oracle the lab uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.models.seq.ngram import NGramLM
from engine.lm.models.seq.rnn import GRU, VanillaRNN
from workbench.exercises.probes._compare import compare


def ngram(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    vocab = 9
    seqs = [[0, *rng.integers(1, vocab, int(rng.integers(1, 8))).tolist()] for _ in range(30)]
    tests = [[0, *rng.integers(1, vocab, int(rng.integers(1, 8))).tolist()] for _ in range(10)]
    for n in (1, 2, 3, 5):
        for alpha in (0.01, 1.0):
            models = []
            for side in (learner, reference):
                with side:
                    lm = NGramLM(n, vocab, alpha=alpha).fit(seqs)
                models.append(lm)
            out += compare("NGramLM.fit", f"context totals, n={n}", dict(models[0].context_totals),
                           dict(models[1].context_totals))
            out += compare("NGramLM.fit", f"counts, n={n}", {k: dict(v) for k, v in models[0].counts.items()},
                           {k: dict(v) for k, v in models[1].counts.items()})
            ref = models[1]
            contexts = [[0] * (n - 1), [0, 3], [5, 5, 5, 5], [8] * 6, seqs[0][:3], []]
            for ctx in contexts:
                for tok in (1, 4, 8):
                    with learner:
                        got = ref.logp_token(ctx, tok)
                    with reference:
                        want = ref.logp_token(ctx, tok)
                    out += compare("NGramLM.logp_token", f"n={n}, alpha={alpha}, context {ctx}, token {tok}", got, want)
            with learner:
                got_ppl = ref.perplexity(tests)
            out += compare("NGramLM.logp_token", f"perplexity n={n}, alpha={alpha}", got_ppl, ref.perplexity(tests))
    return out


def _models(seed: int) -> list[Any]:
    return [VanillaRNN(10, 5, 7, seed=seed, init_std=0.6), GRU(10, 5, 7, seed=seed, init_std=0.6)]


def step(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for model in _models(int(rng.integers(1 << 30))):
        name = type(model).__name__
        model.params = {k: v + (rng.normal(size=v.shape) if k.startswith("b") else 0) for k, v in model.params.items()}
        for x, h in ((rng.normal(size=5), np.zeros(7)), (rng.normal(size=5), rng.normal(size=7)),
                     (10 * rng.normal(size=5), rng.uniform(-1, 1, 7))):
            with learner:
                got, _ = model.step(x, h)
            with reference:
                want, _ = model.step(x, h)
            out += compare(f"{name}.step", "h_t from (x, h_prev)", got, want)
        ids = rng.integers(0, 10, 12)
        with learner:
            got_logits, got_hs = model.forward(ids)
        with reference:
            want_logits, want_hs = model.forward(ids)
        out += compare(f"{name}.step", "hidden states of a 12-token forward", got_hs, want_hs)
        out += compare(f"{name}.step", "final logits of a 12-token forward", got_logits, want_logits)
    return out


def backward(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for model in _models(int(rng.integers(1 << 30))):
        name = type(model).__name__
        for length in (1, 2, 9):
            ids, target = rng.integers(0, 10, length), int(rng.integers(0, 10))
            with learner:
                loss, grads = model.bptt(ids, target)
            _, oracle = model.autograd_bptt(ids, target)
            with reference:
                _, want = model.bptt(ids, target)
            out += compare(f"{name}.step_backward", f"dL/dh_t over {length} steps", grads, want, rtol=1e-7, atol=1e-12)
            out += compare(f"{name}.step_backward", f"dL/dh_t over {length} steps vs autograd", grads, oracle,
                           rtol=1e-6, atol=1e-10)
    return out
