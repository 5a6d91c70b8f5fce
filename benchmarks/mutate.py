"""Mutation harness: do the labs' own hard checks catch realistic one-line bugs in the engine?

    python -m benchmarks.mutate [--phase N] [--id MUTANT] [--json] [--jobs J] [--report PATH]
    just mutate

Mutants are data (tests/mutants/*.yaml): a file, an exact original snippet, its replacement, the
labs that must catch it, and the bug as a learner would describe it. Each mutant is applied in a
temporary copy of engine/, workbench/, phases/, experiments/, quizzes/ and docs/ (never the working tree);
benchmarks/mutate_worker.py then runs the named labs in quick mode with that copy first on
PYTHONPATH and records the verdict:

    killed     a hard check of one of the labs failed
    crashed    a lab raised (the runner's exit 3: a learner sees it fail too)
    survived   every named lab passed all its hard checks
    timeout    the labs did not finish within the mutant's time limit

The kill rate counts killed + crashed. A mutant whose original snippet is not found exactly once
is an error (exit 2), never a skip: refactors that move code must move its mutants too.

Model caches. Every mutant runs with its own empty model caches ($LYNX_CACHE, $XDG_CACHE_HOME),
so a lab that trains and caches a model (phases 18-22, 26-31) trains the mutated one. Quick-mode
training is small enough (seconds) that no shared cache of unmutated models is needed.
Before the mutants, a baseline pass runs every named lab unmutated: a lab that fails its own
checks without a bug would make its mutants meaningless, so that is an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
MUTANT_DIR = ROOT / "tests" / "mutants"
WORKER = ROOT / "benchmarks" / "mutate_worker.py"
COPIED = ("engine", "workbench", "phases", "experiments", "quizzes", "docs")  # docs: the derivation a lab renders
COPIED_FILES = ("pyproject.toml",)
DEFAULT_TIMEOUT_S = 420.0
KEYS = ("id", "file", "original", "replacement", "labs", "bug")


class MutantError(ValueError):
    """A mutant that cannot be applied: names its YAML file and mutant id."""


@dataclass
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    labs: list[str]
    bug: str
    source: str
    survivor: str | None = None  # why a surviving mutant is equivalent or out of reach of the labs
    timeout: float = DEFAULT_TIMEOUT_S

    @property
    def group(self) -> str:
        """The phase (phase-NN) or 'experiments' whose labs must kill it."""
        first = self.labs[0]
        return first.split("/")[0] if first.startswith("phase-") else "experiments"


@dataclass
class Verdict:
    mutant: Mutant
    verdict: str
    labs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        m = self.mutant
        return {"id": m.id, "group": m.group, "file": m.file, "labs": m.labs, "bug": m.bug, "verdict": self.verdict,
                "detected": self.verdict in ("killed", "crashed"), "runs": self.labs,
                "seconds": round(self.seconds, 1), "survivor_reason": m.survivor,
                "source": m.source}


def load_mutants(directory: Path = MUTANT_DIR) -> list[Mutant]:
    """Every mutant of every tests/mutants/*.yaml, validated (keys, unique ids)."""
    out: list[Mutant] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for i, item in enumerate(doc.get("mutants") or []):
            where = f"{path.relative_to(ROOT)}: mutant #{i + 1} ({item.get('id', '?')})"
            missing = [k for k in KEYS if k not in item]
            if missing:
                raise MutantError(f"{where}: missing {', '.join(missing)}")
            if item["id"] in seen:
                raise MutantError(f"{where}: id {item['id']!r} already used in {seen[item['id']]}")
            seen[item["id"]] = str(path.relative_to(ROOT))
            labs = item["labs"] if isinstance(item["labs"], list) else [item["labs"]]
            out.append(Mutant(id=str(item["id"]), file=item["file"], original=item["original"],
                              replacement=item["replacement"], labs=[str(x) for x in labs], bug=str(item["bug"]),
                              source=str(path.relative_to(ROOT)), survivor=item.get("survivor"),
                              timeout=float(item.get("timeout", DEFAULT_TIMEOUT_S))))
    return out


def snippet_problem(m: Mutant, root: Path = ROOT) -> str | None:
    """None when the mutant applies: its file exists and holds the original exactly once."""
    path = root / m.file
    where = f"{m.source}: mutant {m.id}"
    if not path.is_file():
        return f"{where}: file {m.file} does not exist"
    if m.original == m.replacement:
        return f"{where}: replacement equals the original"
    count = path.read_text(encoding="utf-8").count(m.original)
    if count != 1:
        return f"{where}: original snippet found {count} times in {m.file} (must be exactly once): {m.original!r}"
    return None


def copy_tree(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "runs", ".pytest_cache")
    for name in COPIED:
        shutil.copytree(ROOT / name, dest / name, ignore=ignore, symlinks=True)
    for name in COPIED_FILES:
        shutil.copy2(ROOT / name, dest / name)


def _env(tree: Path, cache: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LYNX_", "WORKBENCH_"))}
    env.update(PYTHONPATH=str(tree), LYNX_CONTENT_DIR=str(tree), LYNX_CACHE=str(cache / "lynx"),
               XDG_CACHE_HOME=str(cache / "xdg"), WORKBENCH_HOME=str(home), PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="120")
    return env


class Zygote:
    """One `mutate_worker.py --zygote` process: torch and friends imported once, a fork per mutant.

    Saves the interpreter start and the torch import (most of a quick lab's cost) for every mutant.
    `run` returns the worker's stdout-equivalent text and whether the labs ran past `timeout`.
    """

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LYNX_", "WORKBENCH_"))}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen([sys.executable, str(WORKER), "--zygote"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line)
        self.replies.put("")

    def _reply(self, timeout: float | None) -> dict | None:
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            return None
        if not line:
            raise RuntimeError("the mutation zygote exited")
        return json.loads(line)

    def run(self, env: dict[str, str], cwd: Path, tree: Path, labs: list[str], timeout: float) -> tuple[str, bool]:
        fd, name = tempfile.mkstemp(prefix="verdicts-", suffix=".txt", dir=cwd)  # baseline chunks share cwd
        os.close(fd)
        out = Path(name)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"env": env, "cwd": str(cwd), "tree": str(tree), "labs": labs,
                                          "out": str(out)}) + "\n")
        self.proc.stdin.flush()
        pid = self._reply(None)["pid"]  # type: ignore[index]
        done = self._reply(timeout)
        timed_out = done is None
        if timed_out:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            self._reply(None)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # any server a lab left behind
        return (out.read_text(encoding="utf-8") if out.exists() else ""), timed_out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


_ZYGOTES: dict[int, Zygote] = {}
_USE_ZYGOTE = True


def _zygote() -> Zygote:
    """The calling thread's zygote (one per parallel job)."""
    key = threading.get_ident()
    if key not in _ZYGOTES:
        _ZYGOTES[key] = Zygote()
    return _ZYGOTES[key]


def run_labs(tree: Path, labs: list[str], cache: Path, timeout: float, run_all: bool = False) -> tuple[str, list[dict]]:
    """Run the worker on `labs` in `tree`; the overall verdict and one row per lab it ran."""
    home = tree / "_home"
    home.mkdir(exist_ok=True)
    args = [*labs] + (["--all"] if run_all else [])
    env = _env(tree, cache, home)
    if _USE_ZYGOTE:
        stdout, timed_out = _zygote().run(env, home, tree, args, timeout)
    else:
        proc = subprocess.Popen([sys.executable, str(WORKER), *args], cwd=home, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, _ = proc.communicate()
            timed_out = True
    rows = [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("MUTATE ")]
    verdicts = [r["verdict"] for r in rows]
    if "killed" in verdicts:
        return "killed", rows
    if "crashed" in verdicts:
        return "crashed", rows
    if timed_out or len(rows) < len(labs):
        return "timeout", rows
    return "survived", rows


def run_mutant(m: Mutant) -> Verdict:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.id}-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        copy_tree(tree)
        target = tree / m.file
        text = target.read_text(encoding="utf-8")
        if text.count(m.original) != 1:  # checked up front too; the copy must match the working tree
            return Verdict(m, "error", [{"error": "snippet not found exactly once in the copy"}])
        mutated = text.replace(m.original, m.replacement)
        if m.file.endswith(".py"):
            try:
                compile(mutated, m.file, "exec")
            except SyntaxError as exc:  # a broken mutant, not a bug the labs should catch
                return Verdict(m, "error", [{"error": f"mutated file does not compile: {exc}"}])
        target.write_text(mutated, encoding="utf-8")
        verdict, rows = run_labs(tree, m.labs, Path(tmp) / "cache", m.timeout)
    return Verdict(m, verdict, rows, time.perf_counter() - t0)


def baseline(mutants: list[Mutant], jobs: int) -> list[dict]:
    """Run every named lab unmutated, with empty caches; returns the rows that did not pass."""
    labs = sorted({lab for m in mutants for lab in m.labs})
    with tempfile.TemporaryDirectory(prefix="mutant-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        copy_tree(tree)
        chunks: list[list[str]] = [[] for _ in range(max(1, jobs))]
        for i, lab in enumerate(labs):
            chunks[i % len(chunks)].append(lab)
        bad: list[dict] = []
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            futures = [pool.submit(run_labs, tree, chunk, Path(tmp) / f"cache{i}", 3600.0, True)
                       for i, chunk in enumerate(chunks) if chunk]
            for fut, chunk in zip(futures, [c for c in chunks if c], strict=True):
                _, rows = fut.result()
                done = {r["target"] for r in rows}
                bad += [r for r in rows if r["verdict"] != "passed"]
                bad += [{"target": t, "verdict": "timeout", "failed": []} for t in chunk if t not in done]
    return bad


def summarise(verdicts: list[Verdict]) -> dict[str, Any]:
    groups: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in verdicts:
        g = groups[v.mutant.group]
        g["mutants"] += 1
        g[v.verdict] += 1
        g["detected"] += v.verdict in ("killed", "crashed")
    per_group = {k: {**dict(g), "kill_rate": round(100.0 * g["detected"] / g["mutants"], 1)}
                 for k, g in sorted(groups.items())}
    n = len(verdicts)
    k = sum(v.verdict in ("killed", "crashed") for v in verdicts)
    return {"mutants": n, "killed": k, "kill_rate": round(100.0 * k / n, 1) if n else 0.0, "per_group": per_group,
            "counts": {s: sum(v.verdict == s for v in verdicts) for s in ("killed", "crashed", "survived", "timeout",
                                                                          "error")}}


def print_table(verdicts: list[Verdict], summary: dict[str, Any]) -> None:
    print(f"{'mutant':38} {'verdict':9} {'s':>6}  labs")
    for v in verdicts:
        lab = next((r["target"] for r in v.labs if r.get("verdict") in ("killed", "crashed")), ",".join(v.mutant.labs))
        print(f"{v.mutant.id[:38]:38} {v.verdict:9} {v.seconds:6.1f}  {lab}")
    print()
    print(f"{'group':14} {'mutants':>7} {'killed':>6} {'crashed':>7} {'survived':>8} {'timeout':>7} {'rate %':>7}")
    for name, g in summary["per_group"].items():
        print(f"{name:14} {g['mutants']:7d} {g.get('killed', 0):6d} {g.get('crashed', 0):7d} "
              f"{g.get('survived', 0):8d} {g.get('timeout', 0):7d} {g['kill_rate']:7.1f}")
    survivors = [v for v in verdicts if v.verdict in ("survived", "timeout")]
    if survivors:
        print("\nsurvivors:")
        for v in survivors:
            reason = v.mutant.survivor or "NO REASON RECORDED: strengthen the lab's checks or explain in the YAML"
            print(f"  {v.mutant.id}: {v.mutant.bug}\n      why: {reason}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phase", type=str, action="append", help="only mutants of this phase (number) or 'experiments'")
    ap.add_argument("--id", action="append", help="only this mutant (repeatable)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    ap.add_argument("--report", type=Path, default=ROOT / "runs" / "mutate-report.json")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated pass of the named labs")
    ap.add_argument("--no-zygote", action="store_true",
                    help="start a fresh interpreter per mutant instead of forking from a pre-imported one")
    args = ap.parse_args(argv)

    try:
        mutants = load_mutants()
    except MutantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.phase:
        wanted = {p if p == "experiments" else f"phase-{int(p):02d}" for p in args.phase}
        mutants = [m for m in mutants if m.group in wanted]
    if args.id:
        mutants = [m for m in mutants if m.id in set(args.id)]
    if not mutants:
        print("error: no mutants selected", file=sys.stderr)
        return 2
    problems = [p for m in mutants if (p := snippet_problem(m))]  # of the selected mutants: --phase N runs alone
    if problems:
        print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return 2

    global _USE_ZYGOTE
    _USE_ZYGOTE = not args.no_zygote
    t0 = time.perf_counter()
    log = sys.stderr if args.json else sys.stdout
    bad: list[dict] = []
    if not args.no_baseline:
        print(f"baseline: {len({lab for m in mutants for lab in m.labs})} labs unmutated ...", file=log, flush=True)
        bad = baseline(mutants, args.jobs)
        if bad:
            print("error: these labs fail unmutated, so their mutants prove nothing:", file=sys.stderr)
            for r in bad:
                print(f"  {r['target']}: {r['verdict']} {r.get('failed')}", file=sys.stderr)
            return 2
    t_base = time.perf_counter() - t0

    verdicts: list[Verdict] = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_mutant, m) for m in mutants]
        for i, fut in enumerate(futures, 1):
            v = fut.result()
            verdicts.append(v)
            print(f"[{i}/{len(mutants)}] {v.mutant.id}: {v.verdict} ({v.seconds:.0f} s)", file=log, flush=True)
    for z in _ZYGOTES.values():
        z.close()
    elapsed = time.perf_counter() - t0
    summary = summarise(verdicts)
    report = {**summary, "seconds": round(elapsed, 1), "baseline_seconds": round(t_base, 1), "jobs": args.jobs,
              "results": [v.row() for v in verdicts]}
    args.report.parent.mkdir(parents=True, exist_ok=True)
    tmp_report = args.report.with_suffix(".tmp")
    tmp_report.write_text(json.dumps(report, indent=1), encoding="utf-8")
    os.replace(tmp_report, args.report)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(verdicts, summary)
        print(f"\nreport: {args.report}   time: {elapsed / 60:.1f} min (baseline {t_base / 60:.1f} min), jobs {args.jobs}")
    print(f"mutants {summary['mutants']} killed {summary['killed']} ({summary['kill_rate']:.1f} %)",
          file=sys.stderr if args.json else sys.stdout)
    broken = [v for v in verdicts if v.verdict == "error"]
    for v in broken:
        print(f"error: {v.mutant.source}: mutant {v.mutant.id}: {v.labs[0].get('error')}", file=sys.stderr)
    return 2 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
