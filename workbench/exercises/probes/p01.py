"""Phase 01 probes: reading the machine's numbers (sizes, SIMD width, peak) and a bandwidth sweep's summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree


def profile(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    texts = [
        "32K",
        "512 KiB",
        "32 MiB (1 instance)",
        "1.5M",
        "2G",
        "64",
        " 48 KiB (2 instances)",
        "",
        None,
        "unknown",
        "8 MB",
    ]
    out = agree(learner, reference, "parse_size", [(f"{t!r}", (t,)) for t in texts])
    flag_sets = [
        set(),
        {"sse", "sse2"},
        {"sse2", "avx"},
        {"avx2", "fma"},
        {"avx512f", "avx2", "avx"},
        {"neon"},
        {"asimd"},
        {"mmx"},
    ]
    out += agree(learner, reference, "simd_fp32_lanes", [(f"flags {sorted(f)}", (f,)) for f in flag_sets])
    profiles = []
    for _ in range(12):
        prof = {"clock_ghz": float(rng.choice([0.0, 2.1, 3.5])) or None, "fma": bool(rng.integers(0, 2)),
                "physical_cores": int(rng.integers(1, 33)), "usable_cpus": int(rng.integers(1, 33)),
                "fp32_lanes": int(rng.choice([1, 4, 8, 16]))}
        profiles.append((f"profile {prof}", (prof,)))
    out += agree(learner, reference, "derived_peak_gflops", profiles, rtol=1e-12)
    return out


def bandwidth(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    grids = [(1024, 2**20, 2), (1024, 1024, 2), (4096, 10**6, 4), (1000, 999, 2), (3, 3**7, 3)]
    out = agree(learner, reference, "size_grid", [(f"size_grid{g}", g) for g in grids])
    for _ in range(6):
        sizes = [1024 * 2**k for k in range(int(rng.integers(4, 16)))]
        rows = [{"bytes": s, "gbs": float(rng.uniform(1, 50))} for s in sizes]
        llc = int(rng.choice([32 * 1024, 256 * 1024, 8 * 2**20]))
        out += agree(
            learner, reference, "dram_bandwidth", [(f"{len(rows)} sizes up to {sizes[-1]} B, LLC {llc} B", (rows, llc))]
        )
        lo, hi = sorted(int(x) for x in rng.choice(sizes + [0, 10**9], size=2, replace=False))
        out += agree(learner, reference, "plateau", [(f"{len(rows)} sizes, window [{lo}, {hi})", (rows, lo, hi))])
        if out:
            return out
    rows = [{"bytes": 1024 * 2**k, "gbs": 10.0 + k} for k in range(6)]
    out += agree(learner, reference, "plateau", [("a window that catches exactly one size", (rows, 4096, 8192)),
                                                  ("a window that catches nothing", (rows, 3, 4))])
    return out
