"""Phase 21 probes: the decode loop, the stable softmax and temperature, top-k and top-p.

The decode loop runs on a small random Mini-GPT with the reference's strategies: greedy,
sampling at several seeds, an EOS that must stop it, a prompt of one token and a context limit.
Softmax and temperature are compared on huge logits (naive exp overflows), on -inf logits and
at small and large tau. Top-k keeps ties with the k-th value; top-p is checked where the
cumulative mass crosses p exactly at a token and just before it (the crossing token is kept).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.infer.sampling import Greedy, Temperature, TopK, TopP
from engine.lm.models.gpt import MiniGPT, MiniGPTConfig
from workbench.exercises.probes._compare import compare


def decode_loop(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    model = MiniGPT(MiniGPTConfig(d_model=16, n_heads=2, n_layers=1, d_ff=16, vocab_size=12, context_len=10),
                    rng=np.random.default_rng(int(rng.integers(1 << 30))))
    cases = [
        ([1], Greedy(), 6, None),
        ([1], Temperature(1.5), 20, None),
        ([1, 5, 7], TopK(3), 20, "auto"),
        ([1, 5, 7], TopP(0.8), 20, "auto"),
        ([1, 5, 7], Greedy(), 0, None),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9], Temperature(1.5), 20, None),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9], Greedy(), 20, None),
    ]
    for prompt, strategy, max_tokens, eos_rule in cases:
        seed = int(rng.integers(1 << 20))
        eos = None
        if eos_rule == "auto":  # a token the decode really produces, so stopping at EOS is exercised
            free = reference.sample(model, prompt, max_tokens, seed, strategy)
            eos = free[len(free) // 2]
        what = f"prompt {prompt}, {strategy}, max_tokens {max_tokens}, eos {eos}"
        out += compare("sample", what, learner.sample(model, prompt, max_tokens, seed, strategy, eos),
                       reference.sample(model, prompt, max_tokens, seed, strategy, eos))
    try:
        learner.sample(model, [], 3, 0, Greedy())
        out.append("sample: an empty prompt must raise ValueError, got none")
    except ValueError:
        pass
    return out


def _logit_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    return [("random N(0, 2)", rng.normal(0, 2, 16)), ("huge logits (1000 + N(0, 1))", 1000 + rng.normal(size=8)),
            ("a -inf logit", np.array([2.0, -np.inf, 0.5, 1.0])), ("one logit", np.array([3.0])),
            ("all equal", np.zeros(5)), ("very negative", -800 + rng.normal(size=6)),
            ("a spread of 1500 (plain softmax underflows to exact zeros)", np.array([0.0, -800.0, -5.0, -1500.0]))]


def temperature(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for what, z in _logit_cases(rng):
        out += compare("softmax", what, learner.softmax(z), reference.softmax(z))
        for tau in (0.05, 0.5, 1.0, 2.0, 50.0):
            out += compare("tempered", f"{what}, tau {tau}", learner.tempered(z, tau), reference.tempered(z, tau))
    z = rng.normal(0, 3, 20)
    for tau in (0.3, 1.0, 4.0):
        draws = []
        for side in (learner, reference):
            with side:
                draws.append([Temperature(tau)(z, np.random.default_rng(s)) for s in range(60)])
        out += compare("tempered", f"60 seeded draws at tau {tau}", draws[0], draws[1])
    return out


def truncation(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    cases = _logit_cases(rng) + [("ties at the k-th value", np.array([3.0, 1.0, 2.0, 2.0, 2.0, -1.0])),
                                 ("worked example", np.array([4.2, 1.8, 1.5, 0.6, 0.3, -0.5, -1.2, -2.1, -3.4, -4.0]))]
    for what, z in cases:
        for k in (1, 2, 3, len(z), len(z) + 4):
            out += compare("topk_mask", f"{what}, k {k}", learner.topk_mask(z, k), reference.topk_mask(z, k))
    # distributions whose cumulative mass hits p exactly (up to rounding) at a token: that token is kept
    exact = [
        ("mass (0.5, 0.3, 0.2)", np.log([0.5, 0.3, 0.2])),
        ("mass (0.7, 0.2, 0.1)", np.log([0.7, 0.2, 0.1])),
        ("mass (0.35, 0.25, 0.2, 0.2)", np.log([0.35, 0.25, 0.2, 0.2])),
        ("powers of one half", np.log(0.5 ** np.arange(1, 9))),
    ]
    for what, z in [*cases, *exact]:
        if not np.isfinite(z).any():
            continue
        for p in (0.35, 0.5, 0.6, 0.7, 0.75, 0.7499, 0.7501, 0.8, 0.9, 0.95, 1.0, 0.01):
            for tau in (1.0, 0.7):
                out += compare("topp_probs", f"{what}, p {p}, tau {tau}", learner.topp_probs(z, p, tau),
                               reference.topp_probs(z, p, tau))
    return out


def batch_decode(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """n completions side by side: the same draws as the reference, rows ending at their own EOS."""
    out: list[str] = []
    model = MiniGPT(MiniGPTConfig(d_model=16, n_heads=2, n_layers=1, d_ff=16, vocab_size=12, context_len=10),
                    rng=np.random.default_rng(int(rng.integers(1 << 30))))
    for prompt, n, strategy, max_tokens, eos_rule in (
        ([1], 5, Temperature(1.5), 8, None),
        ([1, 5], 7, TopP(0.9), 12, "auto"),
        ([1, 5, 7, 2], 3, Greedy(), 12, None),
        ([1], 1, TopK(3), 20, "auto"),
        ([1, 2, 3, 4, 5, 6, 7, 8], 4, Temperature(1.0), 5, None),
    ):
        seed = int(rng.integers(1 << 20))
        eos = None
        if eos_rule == "auto":  # a token some row really produces mid-way
            free = reference.sample_batch(model, prompt, n, max_tokens, seed, strategy)
            eos = free[0][len(free[0]) // 2]
        what = f"prompt {prompt}, n {n}, {strategy}, max_tokens {max_tokens}, eos {eos}"
        out += compare("sample_batch", what, learner.sample_batch(model, prompt, n, max_tokens, seed, strategy, eos),
                       reference.sample_batch(model, prompt, n, max_tokens, seed, strategy, eos))
    return out
