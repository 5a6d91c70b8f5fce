"""INT8 kernel vs FP32 on this CPU, measured in one run (ratios, not absolute targets).

1. One n x n Linear on a (32, n) batch for n in --sizes: FP32 nn.Linear against
   engine.torchstack.quant.int8_kernel.Int8DynamicLinear (our per-row INT8 codes on torch's fbgemm/x86
   kernel, activations quantized per call). Also the fake-quant QuantizedLinear of phase 26,
   which dequantizes on every call, to show why it is slower. Target: INT8 faster at n >= 1024.
2. The spine model's forward pass (engine.lm.models.torch_gpt, the phase-18 config and a wide
   variant of the same family), FP32 against every Linear on the INT8 kernel.

Run: .venv/bin/python benchmarks/bench_int8.py [--sizes 256 1024 4096] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from engine.torchstack.quant.int8_kernel import cpu_has_vnni, int8_engine_available
from engine.torchstack.quant.qlinear import QuantizedLinear
from engine.torchstack.quant.speed import linear_speed, median_seconds


def fake_quant_ms(n: int, rows: int, repeats: int) -> float:
    lin = nn.Linear(n, n)
    q = QuantizedLinear(lin, "int8_per_channel")
    x = torch.randn(rows, n)
    return 1e3 * median_seconds(lambda: q(x), repeats)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048, 4096])
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    if not int8_engine_available():
        print("skipped: this torch build has no x86/fbgemm quantized engine")
        return 0
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, engine {torch.backends.quantized.engine}, VNNI {cpu_has_vnni()}, "
          f"threads {args.threads}, rows {args.rows}")
    print(f"{'n':>6} {'fp32 ms':>9} {'int8 ms':>9} {'speedup':>8} {'fake-quant ms':>14} {'rel err':>8}")
    big_ok = True
    for n in args.sizes:
        r = linear_speed(n, args.rows, args.repeats)
        fq = fake_quant_ms(n, args.rows, args.repeats)
        print(f"{n:>6} {r['fp32_ms']:>9.3f} {r['int8_ms']:>9.3f} {r['speedup']:>7.2f}x {fq:>14.3f} "
              f"{r['rel_err_vs_weight_only']:>8.4f}")
        if n >= 1024 and r["speedup"] <= 1.0:
            big_ok = False
    try:
        from engine.torchstack.quant.spine import spine_speed_rows
    except ImportError as exc:  # the spine model is optional for the matrix part
        print(f"spine model: skipped ({exc})")
    else:
        for row in spine_speed_rows(args.repeats):
            print(f"spine {row['name']:<24} fp32 {row['fp32_ms']:8.3f} ms  int8 {row['int8_ms']:8.3f} ms  "
                  f"speedup {row['speedup']:.2f}x")
    print("target INT8 faster than FP32 at n >= 1024:", "met" if big_ok else "NOT met")
    return 0 if big_ok else 1


if __name__ == "__main__":
    sys.exit(main())
