"""The `workbench` command. One Typer app; torch, textual and numpy load only inside commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the CLI starts light: these load inside the commands that use them
    from rich.console import Console

    from workbench.content.loader import Catalog

app = typer.Typer(
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=False,
    invoke_without_command=True,
    help="Lynx Workbench: run the Lynx Cortex labs, breaks, quizzes and experiments. With no command, opens the TUI.",
)
manifest_app = typer.Typer(help="Compare run manifests.", no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")
from workbench.cli_exercises import register as _register_exercises  # noqa: E402  (typer and rich only)

_register_exercises(app)  # exercises, start, check, hint, solution
from workbench.cli_portal import portal_app  # noqa: E402  (typer only; the web stack loads inside its commands)

app.add_typer(portal_app, name="portal")
from workbench.cli_store import register as _register_store  # noqa: E402  (typer only)

_register_store(app)  # reindex
from workbench.cli_demo import register as _register_demo  # noqa: E402  (typer only; the stack loads inside)

_register_demo(app)  # demo
from workbench.sweep.cli import register as _register_sweep  # noqa: E402  (typer only; the runner loads inside)

_register_sweep(app)  # sweep


def _catalog(strict: bool = False) -> Catalog:
    from workbench.content import load_catalog

    catalog = load_catalog()
    if catalog.errors and strict:
        for line in catalog.errors:
            typer.echo(line, err=True)
        raise typer.Exit(2)
    return catalog


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _version(value: bool) -> None:
    if value:
        from workbench import __version__

        typer.echo(f"workbench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        from workbench.tui.app import run_app

        run_app()


@app.command()
def validate(
    as_json: Annotated[bool, typer.Option("--json", help="print the counts and problems as JSON")] = False,
) -> None:
    """Load every phase, quiz and experiment; print one line per problem (exit 2 if any)."""
    from workbench.content.metrics import check_problems

    catalog = _catalog()
    catalog.errors.extend(check_problems(catalog))  # metrics no lab provides (static; nothing is run)
    if as_json:
        from workbench.cli_views import validate_json

        raise typer.Exit(validate_json(catalog))
    for line in catalog.errors:
        typer.echo(line, err=True)
    n = (len(catalog.phases), len(catalog.quizzes), len(catalog.experiments))
    typer.echo(f"{n[0]} phases, {n[1]} quizzes, {n[2]} experiments; {len(catalog.errors)} problem(s)")
    raise typer.Exit(2 if catalog.errors else 0)


@app.command()
def run(
    target: Annotated[str, typer.Argument(help="phase-NN, phase-NN/lab-K, phase-NN/break-K, or an experiment id")],
    quick: Annotated[
        bool, typer.Option("--quick", help="use each lab's quick overrides (seconds, not minutes)")
    ] = False,
    breaks: Annotated[bool, typer.Option("--break", help="run the break(s) instead of the healthy lab")] = False,
    sets: Annotated[list[str] | None, typer.Option("--set", help="override a config key: k=v (repeatable)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file of config overrides")] = None,
    seed: Annotated[int | None, typer.Option(help="seed (default: the lab's, else 42)")] = None,
    lab: Annotated[
        int | None,
        typer.Option("--lab", help="with a phase target: just this lab (phase-07 --lab 2 = phase-07/lab-02)"),
    ] = None,
    device: Annotated[
        str, typer.Option(help="cpu, cuda (exit 2 when none is usable) or auto (cuda when present)")
    ] = "cpu",
    timeout: Annotated[float | None, typer.Option(help="seconds per lab before it is stopped")] = None,
    threads: Annotated[int | None, typer.Option(help="BLAS/OpenMP threads for the lab (default 1)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary instead of tables")] = False,
    mine: Annotated[
        bool, typer.Option("--mine", help="run an exercise lab on your own code (as `check`, full output)")
    ] = False,
) -> None:
    """Run labs, breaks or an experiment headless: live progress, then a check table."""
    if mine:
        from workbench.cli_exercises import check

        raise typer.Exit(
            check(
                target,
                quick=quick,
                deps="mine",
                timeout=timeout,
                full_output=True,
                as_json=as_json,
                seed=seed,
                sets=sets,
            )
        )
    from workbench.cli_run import run_target
    from workbench.runner.plan import Options, PlanError, lab_target

    try:
        target = lab_target(target, lab)
    except PlanError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    from engine.systems.hardware.device import NoDevice, resolve

    try:
        picked = resolve(device)
    except (ValueError, NoDevice) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if device == "auto":
        typer.echo(f"--device auto: picked {picked}", err=True)
    device = picked
    opts = Options(quick=quick, breaks=breaks, sets=sets or [], config_file=config, seed=seed, device=device)
    raise typer.Exit(run_target(_catalog(), target, opts, timeout=timeout, threads=threads, as_json=as_json))


@app.command()
def phases(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the phases with their labs (ready/planned) and last run status."""
    from workbench.cli_views import print_phases

    print_phases(_catalog(), as_json)


@app.command()
def runs(
    phase: Annotated[int | None, typer.Option(help="only this phase")] = None,
    target: Annotated[str | None, typer.Option(help="only targets starting with this")] = None,
    limit: Annotated[int, typer.Option()] = 30,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run history, newest first."""
    from workbench.cli_views import print_runs

    print_runs(phase, target, limit, as_json)


@app.command()
def show(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One run: its manifest, checks and artifacts."""
    from workbench.cli_views import print_run

    raise typer.Exit(print_run(run_id, as_json))


@app.command()
def verify(
    run_id: str, as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False
) -> None:
    """Re-hash a run's artifacts: exit 0 ok, 1 mismatch, 2 missing (file or run)."""
    from workbench.cli_views import verify_run

    raise typer.Exit(verify_run(run_id, as_json))


@manifest_app.command("diff")
def manifest_diff(
    a: Annotated[str, typer.Argument(help="run id or manifest.json path")],
    b: Annotated[str, typer.Argument(help="run id or manifest.json path")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Differences by category (CODE > VERSIONS > HARDWARE > ENV > TIME > OTHER); exit 1 on CODE or VERSIONS drift."""
    from workbench.cli_views import diff_manifests

    raise typer.Exit(diff_manifests(a, b, as_json))


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The automatable part of the course's environment checklist: PASS / FAIL / N/A per item."""
    from workbench.doctor import print_doctor

    raise typer.Exit(print_doctor(as_json))


@app.command()
def quiz(
    phase: Annotated[int, typer.Argument(help="phase number, e.g. 7")],
    answers: Annotated[
        Path | None, typer.Option("--answers", help="YAML map of item id -> answer; grades without prompting")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the graded attempt as JSON")] = False,
    lang: Annotated[str, typer.Option(help="en or es: language of the prompts")] = "en",
    as_of: Annotated[str | None, typer.Option("--as-of", help="today's date, YYYY-MM-DD (default: today, UTC)")] = None,
) -> None:
    """Take a phase's quiz; the attempt is stored and wrong answers seed review cards.

    Exit 0 pass, 1 below pass mark."""
    from workbench.quiz.commands import quiz_command

    raise typer.Exit(quiz_command(_catalog(), phase, answers, as_json=as_json, lang=lang, as_of=as_of))


@app.command()
def review(
    as_of: Annotated[str | None, typer.Option("--as-of", help="today's date, YYYY-MM-DD (default: today, UTC)")] = None,
    grades: Annotated[
        str | None,
        typer.Option("--grades", help="grades for the queue in order, e.g. 4,4,0 or good,good,again; no prompts"),
    ] = None,
    limit: Annotated[int, typer.Option(help="most cards reviewed per day")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print the reviews done (or the queue) as JSON")] = False,
) -> None:
    """Review due cards (SM-2): Again/Hard/Good/Easy = 0/2/4/5."""
    from workbench.quiz.commands import review_command

    raise typer.Exit(review_command(_catalog(), as_of=as_of, grades=grades, limit=limit, as_json=as_json))


@app.command()
def progress(
    phase: Annotated[int | None, typer.Argument(help="show one phase's Definition-of-Done in detail")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The 42-phase strip (not started / in progress / done) and what each phase still lacks."""
    from workbench.quiz.commands import progress_command

    raise typer.Exit(progress_command(_catalog(), phase, as_json=as_json))


@app.command()
def report(
    phase: Annotated[str, typer.Argument(help="phase: 7, 07 or phase-07")],
    as_json: Annotated[bool, typer.Option("--json", help="print where it was written (or why not) as JSON")] = False,
) -> None:
    """Write PHASE_NN_REPORT.md in the workspace from the runs and the quiz; refuses without a passed quiz."""
    from workbench.cli_views import phase_number, report_json
    from workbench.quiz.commands import report_command

    try:
        number = phase_number(phase)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if as_json:
        raise typer.Exit(report_json(_catalog(), number))

    raise typer.Exit(report_command(_catalog(), number))


@app.command()
def roofline(
    remeasure: Annotated[
        bool, typer.Option("--remeasure", help="measure again even if a cached result exists")
    ] = False,
    quick: Annotated[bool, typer.Option("--quick", help="shorter probes (noisier)")] = False,
    png: Annotated[Path | None, typer.Option("--png", help="where to write the PNG")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the roofs and points as JSON (no plot)")] = False,
) -> None:
    """This machine's roofline: measured bandwidth and peak, ops as dots; terminal plot and PNG."""
    from workbench.roofline import roofline_command
    from workbench.workspace import home

    raise typer.Exit(roofline_command(home(), remeasure=remeasure, quick=quick, png=png, as_json=as_json))


@app.command()
def tui(
    target: Annotated[
        str | None, typer.Argument(help="open this lab or experiment directly, e.g. phase-07/lab-02")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="today's date for reviews and quizzes, YYYY-MM-DD")
    ] = None,
) -> None:
    """Open the TUI (same as running `workbench` with no command), optionally at one lab."""
    from datetime import date

    from workbench.tui.app import run_app

    try:
        today = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        typer.echo(f"--as-of {as_of!r}: expected a date as YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None
    run_app(open_target=target, as_of=today)


def main() -> None:
    import sqlite3

    from workbench.store.db import StoreError

    try:
        app()
    except KeyboardInterrupt:
        sys.exit(3)
    except StoreError as exc:  # the index database: locked, corrupt beyond repair, disk full, read-only
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(4)
    except sqlite3.Error as exc:  # the same, met after the database was opened
        from workbench import workspace
        from workbench.store.db import describe

        print(f"error: {describe(exc, workspace.db_path())}", file=sys.stderr)
        sys.exit(4)
    except OSError as exc:  # the workspace itself: disk full, read-only, permissions
        print(f"error: {exc.filename or 'workspace'}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(4)


if __name__ == "__main__":
    main()
