"""Randomized vs full SVD for the drift metric, timed against each other in the same run.

For batches of causally masked QK^T matrices (the matrix dcsbm-drift decomposes) of size n, times
torch.linalg.svd (full_matrices=False), torch.linalg.svdvals (values only) and
torch.svd_lowrank(q=10, niter=2), float32, and prints each one's speed-up over the full SVD.
The seed quotes about 2x at 64x64 and 10x at 256x256 on CPU for svd_lowrank. Accuracy is not
measured here; see experiments/dcsbm-svd-bench.yaml.

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


if __name__ == "__main__":
    main()
