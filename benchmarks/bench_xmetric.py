"""Why the cross-metric code batches: per-sample gradients and Hessian-vector products, timed.

On the xmetric-correlate transformer (2 layers, 4 heads, d_model 32, ~19k parameters, the 260
verb phrases), in the same run:
- per-sample gradients (the Fisher diagonal) by torch.func.vmap(grad) vs a Python loop of
  backward() calls, one sequence at a time;
- k Hessian-vector products by vmapped forward-over-reverse (curvature.HVP on a (k, n) block) vs
  k double-backward calls.
Prints each batched method's speed-up over its loop baseline and the largest difference between
the two results (they compute the same numbers).

    .venv/bin/python benchmarks/bench_xmetric.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.research.crossmetric import curvature, fisher, flat, verbs_lm  # noqa: E402
from engine.research.crossmetric.models import TinyConfig, TinyTransformer  # noqa: E402


def best_of(fn, repeats: int) -> tuple[float, object]:  # noqa: ANN001
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    xs, ys, vocab = verbs_lm.corpus()
    n_seq = 64 if args.quick else 260
    xs, ys = xs[:n_seq], ys[:n_seq]
    torch.manual_seed(0)
    model = TinyTransformer(TinyConfig(vocab_size=len(vocab), n_ctx=xs.shape[1], n_layers=2)).eval()
    logp, params = verbs_lm.seq_logp(model), flat.param_dict(model)
    reps = 2 if args.quick else 3

    def vmapped() -> dict[str, torch.Tensor]:
        return fisher.empirical_fisher_diag(logp, params, xs, ys)

    def looped() -> dict[str, torch.Tensor]:
        acc = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
        for i in range(xs.shape[0]):
            model.zero_grad()
            (-logp(dict(model.named_parameters()), xs[i], ys[i])).backward()
            for k, p in model.named_parameters():
                acc[k] += p.grad**2
        return {k: v / xs.shape[0] for k, v in acc.items()}

    t_v, a = best_of(vmapped, reps)
    t_l, b = best_of(looped, reps)
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)  # type: ignore[index]
    print(f"per-sample grads, {n_seq} sequences: vmap {t_v * 1e3:.0f} ms, loop {t_l * 1e3:.0f} ms, "
          f"speed-up {t_l / t_v:.1f}x, max diff {diff:.1e}")

    f = flat.loss_of_flat(model, params, lambda m, p: verbs_lm.mean_loss(flat.call(m, p, xs), ys))
    theta = flat.flatten(params)
    k = 8 if args.quick else 16
    v = torch.randn(k, theta.numel(), generator=torch.Generator().manual_seed(1))
    hvp = curvature.HVP(f, theta)
    t_b, hb = best_of(lambda: hvp(v), reps)
    t_d, hd = best_of(lambda: torch.stack([curvature.hvp_double_backward(f, theta, vi) for vi in v]), reps)
    diff = float((hb - hd).abs().max() / hd.abs().max())  # type: ignore[operator]
    print(f"{k} HVPs, {theta.numel()} params: vmapped jvp-of-grad {t_b * 1e3:.0f} ms, double backward "
          f"{t_d * 1e3:.0f} ms, speed-up {t_d / t_b:.2f}x, max rel diff {diff:.1e}")


if __name__ == "__main__":
    main()
