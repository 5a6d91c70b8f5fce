"""Headless `workbench run`: a live status line per lab, then one check table for all of them."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from workbench.content.loader import Catalog
from workbench.runner.plan import Options, PlanError, plan
from workbench.runner.session import (
    EXIT_CHECK_FAILED,
    EXIT_CRASHED,
    EXIT_INFRA,
    EXIT_OK,
    EXIT_USAGE,
    InfraError,
    RunReport,
    run_request,
)

_STYLE = {
    "passed": "green",
    "failed": "red",
    "detected": "green",
    "missed": "red",
    "crashed": "red",
    "timed_out": "red",
    "cancelled": "yellow",
    "skipped": "yellow",
    "planned": "yellow",
}
_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class Stop(threading.Event):
    """Set by the first SIGINT/SIGTERM/SIGHUP: cancel the run (its record is still written)."""

    reason: str | None = None


@contextmanager
def cancel_on_signals() -> Iterator[tuple[Stop, threading.Event]]:
    """(cancel, kill_now) events driven by signals while a headless run is in flight.

    The first SIGINT, SIGTERM or SIGHUP (Ctrl-C, `timeout`, a cancelled CI job, a dropped SSH
    session) cancels: the lab is interrupted and its manifest written with status `cancelled`.
    A second one within the grace period kills the lab's process group at once; the record is
    still written. Outside the main thread (tests, the TUI) no handler is installed."""
    cancel, kill_now = Stop(), threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel, kill_now
        return

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            kill_now.set()
        else:
            cancel.reason = f"cancelled by {signal.Signals(signum).name}"
            cancel.set()

    previous = {}
    for name in _SIGNALS:
        if hasattr(signal, name):
            previous[name] = signal.signal(getattr(signal, name), handler)
    try:
        yield cancel, kill_now
    finally:
        for name, old in previous.items():
            signal.signal(getattr(signal, name), old)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


class LiveLine:
    """The lab's progress as the TUI shows it (workbench.run_progress: one bar per lab, the
    sub-run, an ETA, the last metrics): a live line on a terminal, plain lines (at most ~4 a
    second) when the output is a pipe or a CI log."""

    def __init__(self, console: Console, target: str, req: Any = None, previous_wall: float | None = None) -> None:
        from workbench.run_progress import RunProgress

        self.console, self.target, self.last = console, target, 0.0
        series_key = next((c.series_by for c in getattr(req, "charts", []) if c.series_by), None)
        self.progress = RunProgress(dict(getattr(req, "config", {}) or {}), series_key, previous_wall)
        self.metrics = ""
        self.live: Any = None

    def _line(self) -> str:
        from workbench.run_progress import fmt_seconds, summary

        parts = [f"{self.target}: {fmt_seconds(self.progress.elapsed())}", summary(self.progress), self.metrics]
        return " · ".join(p for p in parts if p)

    def __call__(self, event: dict[str, Any]) -> None:
        now = time.monotonic()
        self.progress.feed(event)
        if event.get("type") == "note":
            self._print(f"  [dim]{self.target}: {escape(str(event.get('text', '')))}[/dim]")
            return
        if event.get("type") == "metric":
            shown = [
                f"{k}={_fmt(v)}"
                for k, v in event.items()
                if k not in ("type", "step") and isinstance(v, (int, float)) and not isinstance(v, bool)
            ][:3]
            self.metrics = " ".join(shown)
        if event.get("type") not in ("metric", "progress") or now - self.last < 0.25:
            return
        self.last = now
        if self.console.is_terminal:
            from rich.live import Live
            from rich.text import Text

            if self.live is None:
                self.live = Live(console=self.console, refresh_per_second=4, transient=True)
                self.live.start()
            self.live.update(Text("  " + self._line(), style="dim", no_wrap=True, overflow="ellipsis"))
        else:
            self.console.print(f"  [dim]{escape(self._line())}[/dim]", soft_wrap=True)

    def _print(self, text: str) -> None:
        (self.live.console if self.live is not None else self.console).print(text)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _previous_wall(target: str) -> float | None:
    """The last finished run's wall time of `target`, for the first ETA (None without an index)."""
    from workbench.run_progress import previous_wall

    try:
        from workbench.store import connect

        conn = connect()
    except Exception:  # noqa: BLE001 - no workspace index yet: no estimate
        return None
    try:
        return previous_wall(conn, target)
    finally:
        conn.close()


def exit_code(reports: list[RunReport]) -> int:
    statuses = {r.status for r in reports}
    if any(r.infra_error for r in reports):
        return EXIT_INFRA
    if statuses & {"crashed", "timed_out", "cancelled"}:
        return EXIT_CRASHED
    if statuses & {"failed", "missed"}:
        return EXIT_CHECK_FAILED
    if reports and statuses <= {"planned"}:
        return EXIT_USAGE
    return EXIT_OK


def check_table(reports: list[RunReport]) -> Table:
    table = Table(title="checks", show_lines=False, expand=False)
    for col in ("run", "check", "actual", "", "hard"):
        table.add_column(col)
    for rep in reports:
        label = rep.request.target + (f" (break: {rep.request.break_title})" if rep.request.kind == "break" else "")
        if rep.request.kind == "break" and rep.status in ("detected", "missed"):
            label += f" {rep.status.upper()}"
        if not rep.checks:
            table.add_row(
                label,
                f"[{_STYLE.get(rep.status, 'white')}]{rep.status.upper()}[/] {escape(rep.reason or '')}",
                "",
                "",
                "",
            )
            continue
        for i, chk in enumerate(rep.checks):
            mark = "[green]PASS[/]" if chk["passed"] else ("[red]FAIL[/]" if chk["hard"] else "[yellow]soft-fail[/]")
            table.add_row(
                label if i == 0 else "",
                escape(chk["name"]),
                escape(_fmt(chk["actual"])),
                mark,
                "hard" if chk["hard"] else "soft",
            )
    return table


def run_target(
    catalog: Catalog, target: str, opts: Options, *, timeout: float | None, threads: int | None, as_json: bool
) -> int:
    console = Console(highlight=False, stderr=as_json)
    try:
        requests = plan(catalog, target, opts)
    except PlanError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_USAGE
    if catalog.errors:
        for problem in catalog.errors:
            console.print(f"[yellow]content problem:[/] {escape(problem)}")
    reports: list[RunReport] = []
    with cancel_on_signals() as (cancel, kill_now):
        for req in requests:
            console.print(f"[bold]▶ {req.target}[/] {req.title}  [dim]config {req.config_hash}[/dim]")
            line = None if as_json else LiveLine(console, req.target, req, _previous_wall(req.target))
            try:
                report = run_request(req, timeout=timeout, threads=threads, cancel=cancel, kill_now=kill_now,
                                     on_event=line)
            except InfraError as exc:
                if line is not None:
                    line.close()
                console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
                return EXIT_INFRA
            if line is not None:
                line.close()
            reports.append(report)
            style = _STYLE.get(report.status, "white")
            where = f"  [dim]{report.run_dir}[/dim]" if report.run_dir else ""
            console.print(
                f"  [{style}]{report.status}[/]{escape(' — ' + report.reason) if report.reason else ''}{where}"
            )
            if report.infra_error:
                console.print(f"[red]error:[/] {escape(report.infra_error)}", soft_wrap=True)
            if report.status == "cancelled":
                break
    code = exit_code(reports)
    if as_json:
        print(json.dumps([_as_dict(r) for r in reports] if len(reports) != 1 else _as_dict(reports[0]), indent=2))
    else:
        console.print(check_table(reports))
        console.print(f"exit {code}")
    return code


def _as_dict(rep: RunReport) -> dict[str, Any]:
    return {
        "target": rep.request.target,
        "kind": rep.request.kind,
        "status": rep.status,
        "exit_code": rep.exit_code,
        "reason": rep.reason,
        "run_id": rep.manifest["id"] if rep.manifest else None,
        "run_dir": str(rep.run_dir) if rep.run_dir else None,
        "checks": rep.checks,
        "break": rep.manifest.get("break") if rep.manifest else None,
        "infra_error": rep.infra_error,
        "results_summary": rep.manifest["results_summary"] if rep.manifest else {},
    }
