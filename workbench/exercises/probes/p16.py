"""Phase 16 probes: the sinusoidal table, RoPE's frequencies and the pair rotation.

The table is compared on odd sizes, a non-default base and position offsets (offset > 0 must
equal the tail of a longer table); an odd d must raise ValueError. The rotation is compared on
random (..., T, d) arrays and must keep norms and satisfy <R_m q, R_n k> = <q, R_(n-m) k>.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.lm.models import positional
from engine.lm.models.positional import LearnedPositionalEmbedding, RoPE, precompute_rope, rope_rotate
from workbench.exercises.probes._compare import compare
from workbench.exercises.probes._private import through


def sinusoidal(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for t, d, base in ((1, 2, 10000.0), (4, 8, 10000.0), (17, 6, 10000.0), (33, 16, 500.0), (128, 32, 10000.0)):
        out += compare("sinusoidal_pe", f"T = {t}, d = {d}, base {base}", learner.sinusoidal_pe(t, d, base),
                       reference.sinusoidal_pe(t, d, base), rtol=1e-6, atol=1e-7)
    off = int(rng.integers(1, 40))
    out += compare(
        "sinusoidal_pe",
        f"offset {off} equals the tail of a longer table",
        learner.sinusoidal_pe(5, 8, offset=off),
        reference.sinusoidal_pe(5 + off, 8)[off:],
        rtol=1e-6,
        atol=1e-6,
    )
    out += compare("sinusoidal_pe", "rows shuffled with a seed", learner.sinusoidal_pe(10, 4, shuffle_seed=3),
                   reference.sinusoidal_pe(10, 4, shuffle_seed=3), rtol=1e-6, atol=1e-7)
    try:
        learner.sinusoidal_pe(4, 5)
        out.append("sinusoidal_pe: an odd d = 5 must raise ValueError, got none")
    except ValueError:
        pass
    return out


def rope(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for d, base in ((2, 10000.0), (8, 10000.0), (16, 10000.0), (6, 100.0)):
        out += compare("rope_frequencies", f"d_head = {d}, base {base}", learner.rope_frequencies(d, base),
                       reference.rope_frequencies(d, base))
    for shape in ((3, 4), (2, 5, 8), (2, 3, 6, 16)):
        a = rng.normal(size=shape)
        t, d = shape[-2], shape[-1]
        cos, sin = precompute_rope(t, d, offset=int(rng.integers(0, 50)))
        out += compare("_rotate", f"x of shape {shape}", through(learner, positional, "_rotate", a, cos, sin),
                       through(reference, positional, "_rotate", a, cos, sin))
    dh = 16
    q, k = rng.normal(size=dh), rng.normal(size=dh)
    with learner:
        def at(v: np.ndarray, p: int) -> np.ndarray:
            c, s = precompute_rope(1, dh, offset=p)
            return rope_rotate(v[None], c, s)[0]
        for m, n in ((0, 3), (5, 2), (7, 7), (20, 31)):
            out += compare("_rotate", f"<R_{m} q, R_{n} k> = <q, R_{n - m} k>", float(at(q, m) @ at(k, n)),
                           float(q @ at(k, n - m)), rtol=1e-9, atol=1e-9)
            out += compare("_rotate", f"rotation by position {n} keeps the norm", float(np.linalg.norm(at(q, n))),
                           float(np.linalg.norm(q)), rtol=1e-12, atol=1e-12)
        x = rng.normal(size=(2, 6, dh))
        got = RoPE(dh, max_len=8)(x, offset=5)
    with reference:
        want = RoPE(dh, max_len=8)(x, offset=5)
    out += compare("rope_frequencies", "RoPE module at offset 5 (tables grown on demand)", got, want)
    return out


def learned_table(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    """Positions of the learned table: offsets, and past max_len the last row reused (the course's choice)."""
    out: list[str] = []
    table = LearnedPositionalEmbedding(
        8, 4, std=1.0, rng=np.random.default_rng(int(rng.integers(1 << 30))), dtype=np.float64
    )
    for t, offset in ((1, 0), (5, 0), (8, 0), (12, 0), (3, 6), (4, 20), (1, 7)):
        with learner:
            got = table.positions(t, offset)
        with reference:
            want = table.positions(t, offset)
        out += compare("LearnedPositionalEmbedding.positions", f"T = {t}, offset {offset}, max_len 8", got, want)
        x = rng.normal(size=(2, t, 4))
        with learner:
            y = table(x, offset=offset).data
        with reference:
            w = table(x, offset=offset).data
        out += compare("LearnedPositionalEmbedding.forward", f"x + table rows, T = {t}, offset {offset}", y, w)
    return out
