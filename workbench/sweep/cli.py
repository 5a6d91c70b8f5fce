"""The `workbench sweep` command (typer only at import; the runner loads inside)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def sweep(
        target: Annotated[str, typer.Argument(help="an experiment id or phase-NN/lab-K")],
        grid: Annotated[list[str] | None,
                        typer.Option("--grid", help="key=v1,v2,... (repeatable; the product is swept)")] = None,
        seeds: Annotated[str, typer.Option(help="seeds: 0,1,2 or 0-4")] = "0,1,2",
        quick: Annotated[bool, typer.Option("--quick", help="use the lab's quick overrides")] = False,
        sets: Annotated[list[str] | None, typer.Option("--set", help="a fixed override for every point: k=v")] = None,
        executor: Annotated[str, typer.Option(help="local (processes on this machine) or ray")] = "local",
        jobs: Annotated[int | None, typer.Option(help="local: runs at once (default: one per CPU core)")] = None,
        ray_address: Annotated[str | None,
                               typer.Option(help="ray: cluster address (default: RAY_ADDRESS or a local Ray)")] = None,
        device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
        fresh: Annotated[bool, typer.Option("--fresh", help="run every point again instead of resuming")] = False,
    ) -> None:
        """Run seeds x a config grid; each point is its own run and manifest; writes aggregate.json next to them."""
        from rich.console import Console
        from rich.markup import escape

        from workbench.sweep.core import Sweep, SweepError, parse_grid, parse_seeds, run_sweep

        console = Console(highlight=False)
        try:
            sw = Sweep(target, parse_grid(grid or []), parse_seeds(seeds), quick, list(sets or []), device)
            n = len(sw.points)
            console.print(f"[bold]sweep {sw.id}[/]: {n} points ({n // len(sw.seeds)} configs x {len(sw.seeds)} seeds), "
                          f"executor {executor}")

            def line(point, res, done, total):  # type: ignore[no-untyped-def]
                style = "green" if res["status"] == "passed" else "red"
                console.print(f"  [{done}/{total}] {escape(point.label)} seed={point.seed} "
                              f"[{style}]{res['status']}[/] [dim]{res['run_dir']}[/dim]")

            out = run_sweep(sw, executor=executor, jobs=jobs, fresh=fresh, on_point=line, ray_address=ray_address)
        except SweepError as exc:
            console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        import json

        statuses = [json.loads(p.read_text())["status"] for p in (out / "points").glob("*.json")]
        console.print(f"aggregate: {out / 'aggregate.json'} (table {out / 'aggregate.md'})")
        bad = [s for s in statuses if s != "passed"]
        if bad:
            console.print(f"[yellow]{len(bad)} of {len(statuses)} points did not pass: {sorted(set(bad))}[/]")
        raise typer.Exit(3 if set(bad) & {"crashed", "timed_out", "cancelled"} else (1 if bad else 0))
