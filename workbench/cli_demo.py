"""`workbench demo [--quick] [--runs N] [--keep]`: bring the capstone stack up as local processes,
replay the scenario, print the acceptance table, tear everything down. Exit 0 only when every
acceptance row passed (and, with --runs, the answers were identical every run)."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def demo_command(quick: bool, runs: int, keep: bool) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from workbench.demo import run

    console = Console()

    def echo(msg: str, row: dict[str, Any] | None) -> None:
        if row is None:
            console.print(f"[bold]{escape(msg)}[/]")
            return
        extra = {k: v for k, v in row.items() if k in ("status", "latency_s", "stack_up_s", "killed_by", "seconds",
                                                        "statuses", "canonical_sha", "completion")}
        tail = " ".join(f"{k}={v}" for k, v in extra.items())
        console.print(f"[dim]{row['line']:>2}[/] [cyan]{row['block']:<10}[/] {escape(msg)} [dim]{escape(tail)}[/]",
                      soft_wrap=True)

    code, evals = run(quick, runs, keep, echo)
    last = evals[-1]
    table = Table(title="acceptance (DONE_ENOUGH rows that apply)")
    for col in ("row", "check", "value", ""):
        table.add_column(col)
    for r in last["rows"]:
        mark = {"pass": "[green]PASS[/]", "fail": "[red]FAIL[/]"}.get(r["status"], "[yellow]SKIP[/]")
        table.add_row(r["id"], escape(r["check"]), escape(str(r["value"]))[:60], mark)
    console.print(table)
    if runs > 1:
        same = len({e.get("responses_sha256") for e in evals}) == 1
        console.print(f"answers identical over {runs} runs: {'yes' if same else '[red]no[/]'}")
    if "error" in last:
        console.print(f"[red]demo failed:[/] {escape(last['error'])}")
    console.print(f"eval file: {last['eval_path']}")
    return code


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        quick: Annotated[bool, typer.Option("--quick", help="the quick config of phase-39 lab-00")] = False,
        runs: Annotated[int, typer.Option(min=1, max=10, help="run N times and require identical answers")] = 1,
        keep: Annotated[bool, typer.Option("--keep", help="keep the run's registry, logs and spans")] = False,
    ) -> None:
        """The capstone demo: registry, server, index, sandbox and Prometheus (when present) as local
        processes on 127.0.0.1; 3 tutor requests, 4 threat replays, acceptance rows, teardown."""
        raise typer.Exit(demo_command(quick, runs, keep))
