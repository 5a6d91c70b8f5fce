"""Phase 03 probes: einsum shape and FLOP predictions, rank-k truncation, norms; learner vs reference."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree


def _random_spec(rng: np.random.Generator) -> str:
    letters = list("abcdefg")
    n_ops = int(rng.integers(1, 4))
    ins = ["".join(rng.choice(letters, size=int(rng.integers(1, 4)), replace=False)) for _ in range(n_ops)]
    used = sorted(set("".join(ins)))
    out = "".join(c for c in used if rng.random() < 0.5)
    return ",".join(ins) + "->" + out


def einsum(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    from engine.scratch.linalg.einsum_check import DIMS, PROBLEMS, letter_sizes

    dims = dict(DIMS, VERBS=20, CELLS=15)
    cases = [(f"{name}: {spec}", (spec, letter_sizes(letters, dims))) for name, spec, letters in PROBLEMS]
    for _ in range(40):
        spec = _random_spec(rng)
        sizes = {c: int(rng.integers(1, 9)) for c in "abcdefg"}
        cases.append((f"{spec} with sizes {sizes}", (spec, sizes)))
    cases.append(("a transpose ij->ji", ("ij->ji", {"i": 3, "j": 5})))
    cases.append(("an outer product i,j->ij", ("i,j->ij", {"i": 3, "j": 5})))
    cases.append(("a full reduction ij->", ("ij->", {"i": 3, "j": 5})))
    return agree(learner, reference, "predict_shape", cases) + agree(learner, reference, "predict_flops", cases)


def truncation(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for shape in [(20, 15), (15, 20), (8, 8), (30, 4)]:
        c = rng.poisson(5.0, size=shape).astype(np.float64) * rng.uniform(0.5, 2.0, size=(shape[0], 1))
        u, s, vt = np.linalg.svd(c, full_matrices=False)
        for k in (1, 2, min(shape) - 1, min(shape)):
            out += agree(
                learner, reference, "truncate", [(f"{shape} matrix, k={k}", (u, s, vt, k))], rtol=1e-10, atol=1e-10
            )
            seed = int(rng.integers(0, 2**31))
            want = reference.random_rank_k_error(c, k, np.random.default_rng(seed))
            got = learner.random_rank_k_error(c, k, np.random.default_rng(seed))
            from workbench.exercises.probes._compare import compare

            out += compare("random_rank_k_error", f"{shape} matrix, k={k}, rng seeded {seed}", got, want, rtol=1e-8)
            if out:
                return out
    return out


def norms(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    vectors = [rng.normal(size=n) for n in (1, 3, 100)] + [rng.normal(size=50) * 1e200, rng.normal(size=50) * 1e-200,
                                                          np.zeros(4), -np.abs(rng.normal(size=7))]
    cases = [(f"a vector of {v.size} with max |x| {np.abs(v).max():.3g}", (v,)) for v in vectors]
    out = agree(learner, reference, "l2_norm", cases, rtol=1e-12)
    mats = [rng.normal(size=s) for s in [(3, 3), (5, 2), (2, 7), (1, 1)]] + [rng.normal(size=(4, 4)) * 1e200]
    mcases = [(f"a {m.shape} matrix", (m,)) for m in mats]
    out += agree(learner, reference, "frobenius_norm", mcases, rtol=1e-12)
    out += agree(learner, reference, "op_norm", mcases[:-1], rtol=1e-10)
    return out
