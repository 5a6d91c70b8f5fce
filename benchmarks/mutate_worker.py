"""One mutant's verdict: run the named labs in quick mode and judge them by their own hard checks.

    PYTHONPATH=<mutated copy> python benchmarks/mutate_worker.py phase-07/lab-02 bk-lm ...

Run by benchmarks/mutate.py inside a mutated copy of the tree (the copy's engine/ and workbench/
come first on PYTHONPATH, its phases/ through LYNX_CONTENT_DIR). Each lab is planned, seeded,
called and checked as `workbench run --quick` does (workbench.runner.plan + checks.evaluate).
Prints one JSON line per lab: {"target", "verdict": passed|killed|crashed, "failed", "seconds"};
stops at the first lab that kills the mutant unless --all is given.
"""

from __future__ import annotations

import contextlib
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
    from engine.core.repro import seed_everything
    from engine.core.run import MemoryRecorder, to_json
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


def main(argv: list[str], out=None) -> int:  # type: ignore[no-untyped-def]
    out = out or sys.__stdout__
    run_all = "--all" in argv
    for target in [a for a in argv if a != "--all"]:
        row = judge(target)
        out.write("MUTATE " + json.dumps(row) + "\n")
        out.flush()
        if row["verdict"] != "passed" and not run_all:
            break
    return 0


PREIMPORT = ("numpy", "scipy.special", "scipy.stats", "yaml", "safetensors.numpy", "torch", "matplotlib")


def zygote() -> int:
    """Import the heavy third-party libraries once, then fork one child per request.

    A request (one JSON line on stdin) names the mutated tree, the environment, the working
    directory, the labs and an output file. The child starts a session of its own (so the harness
    can kill it and any server it spawned as one group), puts the tree first on sys.path and runs
    `main`; engine/ and workbench/ are never imported here, so every child imports the mutated copy.
    Replies on stdout: {"pid": ...} when forked, then {"done": pid, "status": ...}.
    """
    import importlib
    import os

    for name in PREIMPORT:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    import matplotlib

    matplotlib.use("Agg")
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.setsid()
                os.environ.clear()
                os.environ.update(req["env"])
                os.chdir(req["cwd"])
                sys.path.insert(0, req["tree"])
                devnull = os.open(os.devnull, os.O_WRONLY)
                with open(req["out"], "w", encoding="utf-8", buffering=1) as out:
                    os.dup2(devnull, 1)  # lab prints go nowhere; verdicts go to the file
                    os.dup2(devnull, 2)
                    main(req["labs"], out)
            except BaseException:  # noqa: BLE001 - the child must never return into the zygote's loop
                code = 3
            finally:
                os._exit(code)
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"done": pid, "status": status}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(zygote() if sys.argv[1:] == ["--zygote"] else main(sys.argv[1:]))
