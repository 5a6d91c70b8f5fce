"""Runner overhead: wall time of `workbench run selftest-empty` against `python -c pass`.

Baseline: a bare interpreter start, measured in the same run. Target: the workbench adds
under 1.5 s per run (CLI import, plan, child process, manifest, SQLite index).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

REPEATS = 5
TARGET_OVERHEAD_S = 1.5


def _time(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    samples = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> int:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "WORKBENCH_HOME": home}
        baseline = _time([sys.executable, "-c", "pass"], env, home)
        help_s = _time([sys.executable, "-m", "workbench.cli", "--help"], env, home)
        run_s = _time([sys.executable, "-m", "workbench.cli", "run", "selftest-empty"], env, home)
    overhead = run_s - baseline
    print(f"baseline  python -c pass            {baseline * 1000:8.1f} ms")
    print(f"workbench --help                    {help_s * 1000:8.1f} ms   ratio {help_s / baseline:5.1f}x  (target < 500 ms)")
    print(f"workbench run selftest-empty        {run_s * 1000:8.1f} ms   ratio {run_s / baseline:5.1f}x")
    print(f"overhead per run                    {overhead * 1000:8.1f} ms   (target < {TARGET_OVERHEAD_S * 1000:.0f} ms)")
    ok = overhead < TARGET_OVERHEAD_S and help_s < 0.5
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
