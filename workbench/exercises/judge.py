"""The judge: the lab's own hard checks on the learner's code, plus the probes against the reference.

Two ways in, one verdict:
- `learner_request(...)` plans the lab and attaches the exercise block, for `workbench check`
  (the child process substitutes, see substitute.prepare); `explain(report, ...)` turns the
  report and its stderr.log into one line a learner can act on.
- `judge_source(target, text)` does the same in this process, for tests (fast, no child).

Before anything runs, `preflight(ref, path)` reads the learner file without executing it:
a syntax error or a missing slot is `file:line: …` (exit 2 in the CLI); a slot whose body is
still the starter's `raise NotImplementedError` is reported as the first unimplemented slot.
"""

from __future__ import annotations

import ast
import re
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.content.loader import Catalog
from workbench.content.schema import Check
from workbench.exercises.catalog import ExerciseRef, find
from workbench.exercises.spec import parse_slot
from workbench.exercises.state import file_sha256, state_of
from workbench.runner.plan import Options, RunRequest, plan

PROBE_CHECK = Check(metric="probe_failures", op="==", value=0, name="probes: learner vs reference")
DEFAULT_TIMEOUT = 300.0  # seconds: a learner run never waits forever on an endless loop


@dataclass
class Preflight:
    unusable: str | None = None  # the file cannot be judged: syntax error, missing slot
    unimplemented: list[str] = field(default_factory=list)  # "Value.__add__ (scalar.py:30)"


def _is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    name = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(name, ast.Name) and name.id == "NotImplementedError"


def preflight(ref: ExerciseRef, path: Path) -> Preflight:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Preflight(f"{path}: no such file (run `workbench start {ref.target}` first)")
    except (OSError, UnicodeDecodeError) as exc:
        return Preflight(f"{path}: cannot be read: {exc}")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        return Preflight(f"{path}:{exc.lineno}: SyntaxError: {exc.msg}")
    top = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    out = Preflight()
    for text in ref.exercise.slots:
        slot = parse_slot(text)
        node: Any = top.get(slot.name)
        if slot.method:
            if not isinstance(node, ast.ClassDef):
                return Preflight(
                    f"{path}: slot {slot.qualname}:"
                    f" expected `class {slot.name}:` holding `def {slot.method}`, found none"
                )
            node = next(
                (
                    n
                    for n in node.body
                    if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == slot.method
                ),
                None,
            )
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return Preflight(
                f"{path}: slot {slot.qualname}: expected a function `def {slot.method or slot.name}(…)`, found none"
            )
        if _is_stub(node):
            out.unimplemented.append(f"{slot.qualname} ({path.name}:{node.lineno})")
    return out


def _dep_block(catalog: Catalog, conn: sqlite3.Connection | None, dep: str, deps: str) -> dict[str, Any]:
    ref = find(catalog, dep)
    passing = conn is not None and state_of(conn, ref).state == "passing"
    impl = "mine" if deps == "mine" and passing else "reference"
    return {"target": ref.target, "path": str(ref.path), "slots": list(ref.exercise.slots), "impl": impl,
            "sha256": file_sha256(ref.path) if impl == "mine" else None}


def exercise_block(catalog: Catalog, ref: ExerciseRef, path: Path, *, conn: sqlite3.Connection | None = None,
                   deps: str = "mine", predictions: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the child needs to substitute (and the manifest records): files, slots, probes, deps."""
    return {
        "target": ref.target,
        "path": str(path),
        "sha256": file_sha256(path),
        "slots": list(ref.exercise.slots),
        "probes": ref.exercise.probes,
        "deps": [_dep_block(catalog, conn, d, deps) for d in ref.exercise.uses],
        "predictions": predictions or {},
    }


def learner_request(catalog: Catalog, ref: ExerciseRef, opts: Options, block: dict[str, Any]) -> RunRequest:
    (req,) = plan(catalog, ref.target, opts)
    req.exercise = block
    if ref.exercise.probes:
        req.checks = [*req.checks, PROBE_CHECK]
    req.timeout = req.timeout or DEFAULT_TIMEOUT
    return req


# ------------------------------------------------------------------ explaining a child run

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)$')


def crash_line(stderr: str, learner_paths: set[str]) -> str | None:
    """`file:line in func: Type: message` for the innermost learner frame of the last traceback."""
    lines = stderr.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    block = lines[starts[-1]:]
    frame = None
    for ln in block:
        m = _FRAME.match(ln)
        if m and str(Path(m["file"]).resolve()) in learner_paths:
            frame = m
    tail = next((ln for ln in reversed(block) if ln.strip() and not ln.startswith(" ")), "")
    if frame is None:
        return None
    return f"{frame['file']}:{frame['line']} in {frame['func']}: {tail}"


# ------------------------------------------------------------------ in-process (tests)


@dataclass
class Verdict:
    target: str
    passed: bool
    kind: str  # passed | failed | unusable | crashed
    messages: list[str] = field(default_factory=list)
    unimplemented: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.target}: {self.kind}"]
        if self.unimplemented:
            lines.append(f"first unimplemented slot: {self.unimplemented[0]}")
        lines += self.messages[:5]
        lines += [
            f"check failed: {c['name']} (got {c['actual']!r})" for c in self.checks if c["hard"] and not c["passed"]
        ]
        return "\n".join(lines)


def _catalog() -> Catalog:
    from workbench.exercises.files import _catalog as cached

    return cached()


def judge_source(target: str, text: str, *, quick: bool = True, run_lab: bool = True,
                 stop_on_probe_failure: bool = True, seed: int | None = None) -> Verdict:
    """Judge learner source `text` for `target` in this process (deps: reference)."""
    from workbench.exercises.probing import run_probes
    from workbench.exercises.substitute import LearnerError, learner_frame, load, unload

    catalog = _catalog()
    ref = find(catalog, target)
    with tempfile.TemporaryDirectory(prefix="lynx-judge-") as tmp:
        path = Path(tmp) / ref.exercise.file
        path.write_text(text, encoding="utf-8")
        pre = preflight(ref, path)
        if pre.unusable:
            return Verdict(ref.target, False, "unusable", [pre.unusable])
        block = exercise_block(catalog, ref, path, deps="reference")
        try:
            loaded = load(block)
        except LearnerError as exc:
            return Verdict(ref.target, False, "unusable", [str(exc)], pre.unimplemented)
        try:
            (req,) = plan(catalog, ref.target, Options(quick=quick, seed=seed))
            messages = run_probes(loaded, int(req.config["seed"]))
            if (messages and stop_on_probe_failure) or not run_lab:
                return Verdict(
                    ref.target, not messages, "failed" if messages else "passed", messages, pre.unimplemented
                )
            import importlib

            importlib.import_module(str(req.entry).partition(":")[0])  # its aliases exist before we patch
            loaded.main.install()
            try:
                result, records = _call(req)
            except Exception as exc:  # noqa: BLE001 - their crash is the verdict
                frame = learner_frame(exc.__traceback__, loaded.paths)
                where = f"{frame[0]}:{frame[1]} in {frame[2]}: " if frame else ""
                return Verdict(
                    ref.target, False, "crashed", [f"{where}{type(exc).__name__}: {exc}", *messages], pre.unimplemented
                )
            finally:
                while loaded.main._depth > 0:
                    loaded.main.uninstall()
            from workbench.runner.checks import evaluate

            checks = evaluate(req.checks, result, records)
            failed = any(c["hard"] and not c["passed"] for c in checks) or bool(messages)
            return Verdict(
                ref.target, not failed, "failed" if failed else "passed", messages, pre.unimplemented, checks
            )
        finally:
            unload(loaded)


def _call(req: RunRequest) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Call the lab entry in-process through the one way a lab is called (workbench.runner.call)."""
    from engine.core.run import MemoryRecorder
    from workbench.runner.call import invoke

    rec = MemoryRecorder()
    result = invoke(str(req.entry), req.config, rec)
    return result, list(rec.records)
