"""Randomized vs full SVD for the drift metric, timed against each other in the same run.

For batches of causally masked QK^T matrices (the matrix dcsbm-drift decomposes) of size n, times
torch.linalg.svd (full_matrices=False), torch.linalg.svdvals (values only) and
torch.svd_lowrank(q=10, niter=2), float32, and prints each one's speed-up over the full SVD.
The seed quotes about 2x at 64x64 and 10x at 256x256 on CPU for svd_lowrank. Accuracy is not
measured here; see experiments/dcsbm-svd-bench.yaml.

Second table: the nine drift metrics per window by tier ("full": one torch.linalg.svd; "two_tier":
svdvals + svd_lowrank(q=k+5, niter=2)), and that cost as a fraction of one training step of the
walk transformer at the same context (batch 64, d_model 32, 2 layers). The seed claims the two-tier
path cuts SVD overhead by 40-60 %; the "saved" column is the measured figure to set beside it.

    .venv/bin/python benchmarks/bench_dcsbm_svd.py [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.research.dcsbm import spectral  # noqa: E402
from engine.research.dcsbm.model import WalkTransformer  # noqa: E402


def masked_qkt(batch: int, n: int, d_k: int = 8) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(batch, n, d_k, generator=gen) @ torch.randn(batch, d_k, n, generator=gen) / math.sqrt(d_k)
    return m.tril()


def median_s(stmt: str, m: torch.Tensor, min_run: float) -> float:
    return float(Timer(stmt, globals={"torch": torch, "m": m}).blocked_autorange(min_run_time=min_run).median)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [16, 64, 128] if args.quick else [16, 64, 128, 256]
    min_run = 0.1 if args.quick else 0.5
    batch = 64
    print(f"batch {batch} masked QK^T, float32, {args.threads} thread(s); median time per batch")
    print(f"{'n':>5} {'svd ms':>9} {'svdvals x':>10} {'lowrank(q=10,niter=2) x':>24}")
    for n in sizes:
        m = masked_qkt(batch, n)
        full = median_s("torch.linalg.svd(m, full_matrices=False)", m, min_run)
        vals = median_s("torch.linalg.svdvals(m)", m, min_run)
        low = median_s(f"torch.svd_lowrank(m, q={min(10, n)}, niter=2)", m, min_run)
        print(f"{n:>5} {1e3 * full:>9.3f} {full / vals:>10.2f} {full / low:>24.2f}")
    print()
    print("nine metrics per batch of 64 windows vs one training step (seed claim: two-tier saves 40-60 %)")
    print(f"{'n_ctx':>5} {'train ms':>9} {'full ms':>8} {'two_tier ms':>12} {'saved':>6} {'full/train':>11} "
          f"{'two/train':>10}")
    for n in sizes[:3]:
        m = masked_qkt(batch, n)[:, None]                      # 64 windows of one trajectory (axis -3)
        env = {"torch": torch, "m": m[:, 0], "spectral": spectral, "step": _train_step(n)}
        t_full = float(Timer("spectral.trajectory_metrics(m, 2, 'full')", globals=env)
                       .blocked_autorange(min_run_time=min_run).median)
        t_two = float(Timer("spectral.trajectory_metrics(m, 2, 'two_tier')", globals=env)
                      .blocked_autorange(min_run_time=min_run).median)
        t_train = float(Timer("step()", globals=env).blocked_autorange(min_run_time=min_run).median)
        print(f"{n:>5} {1e3 * t_train:>9.2f} {1e3 * t_full:>8.2f} {1e3 * t_two:>12.2f} "
              f"{1 - t_two / t_full:>6.0%} {t_full / t_train:>11.2f} {t_two / t_train:>10.2f}")


def _train_step(n_ctx: int, vocab: int = 64, batch: int = 64):  # type: ignore[no-untyped-def]
    """One AdamW step of the drift study's model on random windows (the cost the metrics are set against)."""
    model = WalkTransformer(vocab, n_ctx, 32, 2, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, vocab, (batch, n_ctx + 1), generator=torch.Generator().manual_seed(0))

    def step() -> None:
        logits, _ = model(x[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


if __name__ == "__main__":
    main()
