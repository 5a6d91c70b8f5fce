"""The softmax filtering bound (softmax_bound.py) checked on families of random attention instances.

Random instances (T queries, head width d_k, V and W_O Gaussian) in six regimes:
  random         Q, K standard normal: scores of order 1
  random_causal  the same with the causal mask
  uniform        scores scaled by 1e-3: every row's softmax is nearly uniform
  two_way        each row puts equal large scores on two keys: p = (1/2, 1/2, 0, ...)
  peaked         one key per row scores 20 above the rest: nearly one-hot rows
  aligned        every row splits evenly between keys 0 and 1, V = u x^T with u = (e_0 - e_1)/sqrt 2
                 and W_O = y x^T: each stage's worst case at once, so the whole chain is tight
Each instance is perturbed by Delta = eps ||QK^T||_F D / ||D||_F for D a random Gaussian direction
and D the per-row top eigenvector of the softmax Jacobian (the worst case for stage 1). Every stage
of the bound is compared with what it bounds; the end-to-end bound must never be exceeded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from engine.research.dcsbm.softmax_bound import perturbation_report, worst_direction

REGIMES = ("random", "random_causal", "uniform", "two_way", "peaked", "aligned")
STAGES = ("stage1", "stage2", "stage3", "end_to_end", "weyl")


def instance(regime: str, n: int, t: int, d_k: int,
             gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """(QK^T, V, W_O, causal mask or None) for n instances of one regime, float64."""
    g: dict[str, Any] = {"generator": gen, "dtype": torch.float64}
    q, k = torch.randn(n, t, d_k, **g), torch.randn(n, t, d_k, **g)
    qkt = q @ k.transpose(-1, -2)
    if regime == "uniform":
        qkt = 1e-3 * qkt
    elif regime in ("two_way", "peaked"):
        keys = 2 if regime == "two_way" else 1                                # distinct keys per row
        pick = torch.rand(n, t, t, generator=gen).argsort(-1)[..., :keys]
        qkt = torch.zeros(n, t, t, dtype=torch.float64).scatter_(-1, pick, 20.0 * d_k ** 0.5)
    v = torch.randn(n, t, d_k, **g)
    w_o = torch.randn(n, d_k, d_k, **g) / d_k ** 0.5
    if regime == "aligned":
        qkt = torch.zeros(n, t, t, dtype=torch.float64)
        qkt[..., :2] = 20.0 * d_k ** 0.5
        u = torch.zeros(t, 1, dtype=torch.float64)
        u[0], u[1] = 2 ** -0.5, -(2 ** -0.5)
        x = torch.nn.functional.normalize(torch.randn(n, 1, d_k, **g), dim=-1)
        y = torch.randn(n, d_k, 1, **g)
        v, w_o = u * x, y * x                                                 # rank one, sharing the direction x
    mask = torch.ones(t, t, dtype=torch.bool).tril() if regime == "random_causal" else None
    return qkt, v, w_o, mask


def over(measured: Tensor, bound: Tensor) -> int:
    """Instances where measured exceeds bound beyond float64 round-off (1e-9 relative, 1e-12 absolute:
    with one-hot rows both sides are ~1e-16 and their order is noise)."""
    return int((measured > bound * (1 + 1e-9) + 1e-12).sum())


@dataclass
class Sweep:
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    worst_ratio: float = 0.0
    checked: int = 0
    stage1_small: dict[str, float] = field(default_factory=dict)   # worst direction, smallest eps, largest T
    chain_small: dict[str, float] = field(default_factory=dict)
    lip_local: dict[str, float] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)        # tightness curve at the largest T and d_k

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instances_checked": self.checked, "violations": sum(self.violations.values()),
                               **{f"violations_{k}": n for k, n in self.violations.items()},
                               "max_spectral_ratio": self.worst_ratio}
        for regime in REGIMES:
            out[f"stage1_tightness_{regime}"] = self.stage1_small[regime]
            out[f"jacobian_norm_{regime}"] = self.lip_local[regime]
            out[f"end_to_end_tightness_{regime}"] = self.chain_small[regime]
        out["uniform_over_two_way"] = self.stage1_small["uniform"] / self.stage1_small["two_way"]
        return out


def sweep(seq_lens: Sequence[int], d_ks: Sequence[int], n_instances: int, eps_list: Sequence[float],
          lipschitz: float, gen: torch.Generator,
          on_case: Callable[[int, int], None] | None = None) -> Sweep:
    """Every regime x T x d_k x direction x eps: each stage against its bound (counts of violations),
    the worst measured/bound ratio, and the tightness figures the experiment checks."""
    res = Sweep()
    cases = [(regime, t, d_k) for regime in REGIMES for t in seq_lens for d_k in d_ks]
    for case_i, (regime, t, d_k) in enumerate(cases):
        qkt, v, w_o, mask = instance(regime, n_instances, t, d_k, gen)
        norm = torch.linalg.matrix_norm(qkt)[:, None, None]
        dirs = {"random": torch.randn(qkt.shape, generator=gen, dtype=torch.float64) * (1 if mask is None else mask),
                "worst": worst_direction(qkt, d_k, mask)}
        for dname, d in dirs.items():
            d = d / torch.linalg.matrix_norm(d)[:, None, None]
            for e_i, eps in enumerate(eps_list):
                rep = perturbation_report(qkt, eps * norm * d, v, w_o, d_k, mask, lipschitz)
                for stage, (a, b) in {"stage1": (rep.d_att, rep.b_att), "stage2": (rep.d_av, rep.b_av),
                                      "stage3": (rep.d_out, rep.b_out), "end_to_end": (rep.d_sigma, rep.bound)}.items():
                    res.violations[stage] += over(a, b)
                res.violations["weyl"] += over(rep.d_sigma, rep.d_out_2) + over(rep.d_out_2, rep.d_out)
                res.checked += len(rep.d_sigma)
                ratio = rep.d_sigma / rep.bound
                res.worst_ratio = max(res.worst_ratio, float(ratio.max()))
                s1 = float((rep.d_att / rep.b_att).mean())
                if t == max(seq_lens) and d_k == max(d_ks):
                    res.rows.append({"step": e_i, "regime": regime, "direction": dname, "eps": float(eps),
                                     "series": f"{regime}/{dname}", "spectral_ratio": float(ratio.mean()),
                                     "stage1_ratio": s1, "bound": float(rep.bound.mean()),
                                     "measured": float(rep.d_sigma.mean())})
                if e_i == 0 and dname == "worst" and t == max(seq_lens):
                    res.stage1_small[regime] = max(res.stage1_small.get(regime, 0.0), s1)
                    res.chain_small[regime] = max(res.chain_small.get(regime, 0.0), float(ratio.mean()))
                    res.lip_local[regime] = float(rep.lip_local.max())
        if on_case is not None:
            on_case(case_i + 1, len(cases))
    return res
