"""`workbench exercises | start | check | hint | solution` and `run --mine`: the learner's loop.

Exit codes of `check` (and `run --mine`): 0 every hard check passed; 1 a check failed, their
code crashed or timed out; 2 not started, or the learner file cannot be used (syntax error,
missing slot, wrong signature) — shown as `file:line` and the error, never our traceback.
"""

from __future__ import annotations

import difflib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # the CLI starts light: these load inside the commands
    import sqlite3

    from workbench.content.loader import Catalog
    from workbench.exercises.catalog import ExerciseRef
    from workbench.runner.session import RunReport

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _console(err: bool = False) -> Console:
    return Console(highlight=False, stderr=err)


def _catalog() -> Catalog:
    from workbench.content import load_catalog

    return load_catalog()


def _ref(catalog: Catalog, target: str) -> ExerciseRef:
    from workbench.exercises.catalog import ExerciseNotFound, find

    try:
        return find(catalog, target)
    except ExerciseNotFound as exc:
        _console().print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None


def _conn() -> sqlite3.Connection:
    from workbench.store import connect

    return connect()


# ------------------------------------------------------------------ exercises


def list_exercises(phase: int | None, as_json: bool) -> int:
    from rich.table import Table

    from workbench.exercises.catalog import all_exercises
    from workbench.exercises.state import state_of

    catalog = _catalog()
    conn = _conn()
    try:
        rows: list[dict[str, Any]] = []
        for ref in all_exercises(catalog, phase):
            st = state_of(conn, ref)
            rows.append({"target": ref.target, "title": ref.lab.title, "file": str(ref.path),
                         "slots": list(ref.exercise.slots), "state": st.state, "hints_used": st.hints_used,
                         "hints_total": len(ref.exercise.hints), "solution_seen": st.solution_seen,
                         "solution_before_attempt": st.solution_before_attempt, "attempts": st.attempts,
                         "uses": list(ref.exercise.uses)})
    finally:
        conn.close()
    if as_json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    table = Table(title=f"exercises ({len(rows)})")
    for col in ("target", "title", "slots", "state", "hints", "solution"):
        table.add_column(col)
    style = {"passing": "green", "failing": "red", "started": "yellow", "not started": "dim"}
    for r in rows:
        seen = "seen before attempt" if r["solution_before_attempt"] else ("seen" if r["solution_seen"] else "")
        table.add_row(r["target"], escape(r["title"]), str(len(r["slots"])), f"[{style[r['state']]}]{r['state']}[/]",
                      f"{r['hints_used']}/{r['hints_total']}", seen)
    _console().print(table)
    return EXIT_OK


# ------------------------------------------------------------------ start / hint / solution


def start(target: str, solution: bool, force: bool) -> int:
    from workbench.exercises.files import FileExists, solution_for, starter_for, write_learner
    from workbench.exercises.state import record_start

    catalog = _catalog()
    ref = _ref(catalog, target)
    console = _console()
    text = solution_for(ref) if solution else starter_for(ref)
    try:
        backup = write_learner(ref.path, text, force)
    except FileExists as exc:
        console.print(f"[yellow]{escape(str(exc))}[/]")
        return EXIT_USAGE
    conn = _conn()
    try:
        record_start(conn, ref, solution, backup)
    finally:
        conn.close()
    if backup:
        console.print(f"kept your previous file as {escape(str(backup))}")
    what = "the reference solution (recorded: solution seen)" if solution else "the starter"
    console.print(f"wrote {what}: [bold]{escape(str(ref.path))}[/]")
    console.print(f"slots: {', '.join(s.split(':', 1)[1] for s in ref.exercise.slots)}")
    console.print(f"\n{escape(ref.exercise.todo.strip())}\n")
    console.print(f"next: edit the file, then `workbench check {ref.target}` (hints: `workbench hint {ref.target}`)")
    return EXIT_OK


def hint(target: str) -> int:
    from workbench.exercises.state import record_hint, state_of

    catalog = _catalog()
    ref = _ref(catalog, target)
    conn = _conn()
    try:
        used = state_of(conn, ref).hints_used
        hints = ref.exercise.hints
        number = min(used + 1, len(hints))
        record_hint(conn, ref, number)
    finally:
        conn.close()
    more = "" if number < len(hints) else " (the last one; next step: `workbench solution`)"
    _console().print(f"hint {number}/{len(hints)}{more}: {escape(hints[number - 1])}")
    return EXIT_OK


def solution(target: str, force: bool) -> int:
    from workbench.exercises.files import solution_for
    from workbench.exercises.state import record_solution_seen, state_of

    catalog = _catalog()
    ref = _ref(catalog, target)
    console = _console()
    conn = _conn()
    try:
        st = state_of(conn, ref)
        before = st.attempts == 0
        if before and not force:
            console.print(f"[yellow]no check attempt at {ref.target} yet.[/] The course asks for an attempt before the "
                          "solution; `--force` shows it anyway and records \"solution seen before attempt\".")
            return EXIT_USAGE
        record_solution_seen(conn, ref, before)
    finally:
        conn.close()
    ref_text = solution_for(ref)
    mine = ref.path.read_text(encoding="utf-8") if ref.path.exists() else ""
    diff = difflib.unified_diff(mine.splitlines(keepends=True), ref_text.splitlines(keepends=True),
                                fromfile=f"yours: {ref.path}", tofile=f"reference: {ref.target}")
    text = "".join(diff) or "(your file is identical to the reference)\n"
    sys.stdout.write(text)
    return EXIT_OK


# ------------------------------------------------------------------ predictions


def _predictions(ref: ExerciseRef, ask: bool) -> dict[str, Any]:
    """The learner's predictions for this exercise: from predictions.yaml, else asked once (tty only)."""
    from engine.core.atomic import write_text
    from workbench.content.yamlio import YamlError, load_yaml

    preds = ref.exercise.predictions
    if not preds:
        return {}
    path = ref.folder / "predictions.yaml"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = load_yaml(path)
            data = loaded if isinstance(loaded, dict) else {}
        except YamlError as exc:
            _console().print(f"[yellow]{escape(str(exc))}: predictions ignored[/]")
    mine = dict(data.get(ref.target) or {})
    missing = [p for p in preds if p.metric not in mine]
    if missing and ask and sys.stdin.isatty():
        console = _console()
        console.print("[bold]predict first[/] (asked once; kept in " + escape(str(path)) + ")")
        for p in missing:
            choices = f" [{' / '.join(p.choices)}]" if p.kind == "choice" else ""
            raw = typer.prompt(f"  {p.prompt}{choices}")
            if p.kind == "number":
                try:
                    mine[p.metric] = float(raw)
                except ValueError:
                    mine[p.metric] = raw
            else:
                mine[p.metric] = raw.strip()
        data[ref.target] = mine
        lines = []
        for tgt, values in sorted(data.items()):
            lines.append(f"{tgt}:")
            lines += [f"  {k}: {json.dumps(v)}" for k, v in values.items()]
        write_text(path, "\n".join(lines) + "\n")
    return {p.metric: mine[p.metric] for p in preds if p.metric in mine}


# ------------------------------------------------------------------ check


def check(target: str, *, quick: bool, deps: str, timeout: float | None, full_output: bool,
          as_json: bool = False, seed: int | None = None, sets: list[str] | None = None) -> int:
    from workbench.cli_run import LiveLine, check_table
    from workbench.exercises.judge import crash_line, exercise_block, learner_request, preflight
    from workbench.exercises.state import record_check, record_hint, state_of
    from workbench.runner.plan import Options, PlanError
    from workbench.runner.session import run_request

    catalog = _catalog()
    ref = _ref(catalog, target)
    console = _console(err=as_json)
    if not ref.path.exists():
        console.print(f"[yellow]{ref.target} is not started:[/] run `workbench start {ref.target}` to get {escape(str(ref.path))}")
        return EXIT_USAGE
    conn = _conn()
    try:
        pre = preflight(ref, ref.path)  # an unusable file still goes to the child, so the attempt is a recorded run
        predictions = _predictions(ref, ask=not as_json)
        block = exercise_block(catalog, ref, ref.path, conn=conn, deps=deps, predictions=predictions)
        try:
            req = learner_request(catalog, ref, Options(quick=quick, seed=seed, sets=list(sets or [])), block)
        except PlanError as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}")
            return EXIT_USAGE
        mine = [d["target"] for d in block["deps"] if d["impl"] == "mine"]
        dep_note = f"; on your {', '.join(mine)}" if mine else ""
        console.print(f"[bold]▶ {ref.target}[/] {escape(ref.lab.title)} — your {escape(ref.path.name)}{dep_note}")
        report = run_request(req, timeout=timeout, on_event=LiveLine(console, ref.target) if full_output and not as_json else None)
        run_id = report.manifest["id"] if report.manifest else None
        status = report.status
        code = EXIT_OK if status == "passed" else EXIT_FAILED
        lines: list[str] = []
        paths = {str(ref.path.resolve()), *(str(Path(d["path"]).resolve()) for d in block["deps"] if d["impl"] == "mine")}
        stderr = (report.run_dir / "stderr.log").read_text(encoding="utf-8", errors="replace") if report.run_dir else ""
        reason = report.reason or ""
        if reason.startswith("LearnerError: ") or (pre.unusable and status == "crashed"):
            lines.append(f"[red]{escape(reason.removeprefix('LearnerError: ') if reason.startswith('LearnerError: ') else str(pre.unusable))}[/]")
            code = EXIT_USAGE
        elif status == "crashed":
            where = crash_line(stderr, paths) or reason
            if not (pre.unimplemented and "NotImplementedError" in where):  # a stub is said once, below
                lines.append(f"[red]your code raised:[/] {escape(where)}")
        elif status == "timed_out":
            lines.append(f"[red]{escape(reason)}[/] — the lab's time limit; does a loop in {escape(ref.path.name)} never end?")
        if pre.unimplemented:
            lines.insert(0, f"[yellow]first unimplemented slot:[/] {escape(pre.unimplemented[0])}"
                            + (f" (and {len(pre.unimplemented) - 1} more)" if len(pre.unimplemented) > 1 else ""))
        probe_msgs = _probe_messages(report)
        if pre.unimplemented:
            probe_msgs = [m for m in probe_msgs if "not implemented yet" not in m]
        if probe_msgs:
            lines.append("[red]probes (yours vs the reference):[/]")
            lines += [f"  {escape(m)}" for m in probe_msgs[:5]]
        failed = [c for c in report.checks if c["hard"] and not c["passed"]]
        if code == EXIT_FAILED and ref.exercise.hints:
            st = state_of(conn, ref)
            number = max(1, st.hints_used)
            record_hint(conn, ref, number)
            lines.append(f"[cyan]hint {number}/{len(ref.exercise.hints)}:[/] {escape(ref.exercise.hints[number - 1])}")
        record_check(conn, ref, status if code != EXIT_USAGE else "unusable", run_id, block["sha256"])
    finally:
        conn.close()
    if as_json:
        print(json.dumps({"target": ref.target, "status": status, "exit_code": code, "run_id": run_id,
                          "checks": report.checks, "probe_messages": probe_msgs, "first_unimplemented":
                          pre.unimplemented[0] if pre.unimplemented else None}, indent=2))
        return code
    if report.checks:
        console.print(check_table([report]))
    if failed:
        first = failed[0]
        lines.insert(0, f"[red]first failing check:[/] {escape(first['name'])} — got {escape(json.dumps(first['actual']))}")
    for line in lines:
        console.print(line)
    preds = (report.manifest or {}).get("exercise", {}).get("predictions", [])
    for p in preds:
        console.print(f"prediction {escape(p['metric'])}: you said {escape(json.dumps(p['predicted']))}, measured {escape(json.dumps(p['measured']))}")
    if full_output and report.run_dir:
        console.print(f"[dim]{report.run_dir}[/dim]")
    verdict = {EXIT_OK: "[green]PASS[/] — every hard check holds on your code", EXIT_FAILED: "[red]FAIL[/]",
               EXIT_USAGE: "[red]cannot judge this file[/]"}[code]
    console.print(f"{verdict}  (run {run_id}, exit {code})")
    return code


def _probe_messages(report: RunReport) -> list[str]:
    if not report.run_dir:
        return []
    path = report.run_dir / "results.json"
    if path.exists():
        try:
            return list(json.loads(path.read_text(encoding="utf-8")).get("probe_messages") or [])
        except (json.JSONDecodeError, OSError):
            return []
    notes = (report.manifest or {}).get("notes") or []
    return [n.removeprefix("probe: ") for n in notes if n.startswith("probe: ")]


def watch(target: str, **kwargs: Any) -> int:
    """Re-run `check` whenever the learner file changes (polling its mtime), until Ctrl-C."""
    catalog = _catalog()
    ref = _ref(catalog, target)
    console = _console()
    last: float | None = None
    code = EXIT_USAGE
    console.print(f"watching {escape(str(ref.path))} (Ctrl-C to stop)")
    try:
        while True:
            try:
                mtime = ref.path.stat().st_mtime
            except FileNotFoundError:
                mtime = -1.0
            if mtime != last:
                last = mtime
                code = check(target, **kwargs)
                console.print("[dim]waiting for the next save…[/dim]")
            time.sleep(0.5)
    except KeyboardInterrupt:
        return code


# ------------------------------------------------------------------ registration


def register(app: typer.Typer) -> None:
    @app.command("exercises")
    def exercises_cmd(
        phase: Annotated[int | None, typer.Option(help="only this phase")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Every exercise: target, file, slots, state (not started / started / failing / passing), hints used, solution seen."""
        raise typer.Exit(list_exercises(phase, as_json))

    @app.command("start")
    def start_cmd(
        target: Annotated[str, typer.Argument(help="an exercise, e.g. phase-07/lab-01")],
        solution_: Annotated[bool, typer.Option("--solution", help="write the reference implementation instead (recorded)")] = False,
        force: Annotated[bool, typer.Option("--force", help="replace your file, keeping it as <file>.bak-<UTC>")] = False,
    ) -> None:
        """Write the starter file for an exercise under learner/phase-NN/ and say what to do first."""
        raise typer.Exit(start(target, solution_, force))

    @app.command("check")
    def check_cmd(
        target: Annotated[str, typer.Argument(help="an exercise, e.g. phase-07/lab-01")],
        watch_: Annotated[bool, typer.Option("--watch", help="re-run on every save until Ctrl-C")] = False,
        quick: Annotated[bool, typer.Option("--quick", help="the lab's quick overrides")] = False,
        deps: Annotated[str, typer.Option(help="mine (your passing earlier exercises) or reference")] = "mine",
        timeout: Annotated[float | None, typer.Option(help="seconds before the run is stopped (default: the lab's, else 300)")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Run the lab on your code and judge it: exit 0 pass, 1 a check failed, 2 not started / unusable file."""
        if deps not in ("mine", "reference"):
            typer.echo(f"--deps {deps!r}: expected mine or reference", err=True)
            raise typer.Exit(EXIT_USAGE)
        kwargs: dict[str, Any] = {"quick": quick, "deps": deps, "timeout": timeout, "full_output": False, "as_json": as_json}
        raise typer.Exit(watch(target, **kwargs) if watch_ else check(target, **kwargs))

    @app.command("hint")
    def hint_cmd(target: Annotated[str, typer.Argument(help="an exercise, e.g. phase-07/lab-01")]) -> None:
        """The next hint for an exercise (hints used are recorded)."""
        raise typer.Exit(hint(target))

    @app.command("solution")
    def solution_cmd(
        target: Annotated[str, typer.Argument(help="an exercise, e.g. phase-07/lab-01")],
        force: Annotated[bool, typer.Option("--force", help="show it before any check attempt (recorded)")] = False,
    ) -> None:
        """The reference for the slots, as a diff against your file."""
        raise typer.Exit(solution(target, force))
