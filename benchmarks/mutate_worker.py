"""One mutant's verdict: run the named labs in quick mode and judge them by their own hard checks.

    PYTHONPATH=<mutated copy> python benchmarks/mutate_worker.py phase-07/lab-02 bk-lm ...

Run by benchmarks/mutate.py inside a mutated copy of the tree (the copy's engine/ and workbench/
come first on PYTHONPATH, its phases/ through LYNX_CONTENT_DIR). Each lab is planned, seeded,
called and checked as `workbench run --quick` does (workbench.runner.plan + checks.evaluate).
Prints one JSON line per lab: {"target", "verdict": passed|killed|crashed, "failed", "seconds"};
stops at the first lab that kills the mutant unless --all is given.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from functools import cache


@cache
def _catalog():  # type: ignore[no-untyped-def]
    from workbench.content import load_catalog

    return load_catalog()


def judge(target: str) -> dict:
    from engine.repro import seed_everything
    from engine.run import MemoryRecorder, to_json
    from workbench.runner.checks import evaluate
    from workbench.runner.plan import Options, plan

    t0 = time.perf_counter()
    try:
        (req,) = plan(_catalog(), target, Options(quick=True))
        module, _, name = (req.entry or "").partition(":")
        entry = getattr(importlib.import_module(module), name)
        seed_everything(req.config["seed"], torch="torch" in sys.modules)
        rec = MemoryRecorder()
        result = to_json(entry(dict(req.config), rec) or {})
        rows = evaluate(req.checks, result, rec.records)
    except BaseException as exc:  # noqa: BLE001 - a crash is a verdict, not a harness failure
        tail = traceback.format_exc().strip().splitlines()[-1]
        return {"target": target, "verdict": "crashed", "failed": [f"{type(exc).__name__}: {tail[:300]}"],
                "seconds": round(time.perf_counter() - t0, 2)}
    failed = [f"{r['name']} got {r['actual']!r}" for r in rows if r["hard"] and not r["passed"]]
    return {"target": target, "verdict": "killed" if failed else "passed", "failed": failed,
            "seconds": round(time.perf_counter() - t0, 2)}


def main(argv: list[str]) -> int:
    run_all = "--all" in argv
    for target in [a for a in argv if a != "--all"]:
        row = judge(target)
        sys.__stdout__.write("MUTATE " + json.dumps(row) + "\n")
        sys.__stdout__.flush()
        if row["verdict"] != "passed" and not run_all:
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
