"""Read-only CLI views: phases, run history, one run, verify, manifest diff; --json for each.

Conventions shared by the commands: a phase is `7`, `07` or `phase-07`; tables never cut a
run id (ids are what you paste into the next command); --json prints one JSON document.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.core.manifest import compare as mdiff
from engine.core.manifest import shape as manifests
from workbench.content.loader import Catalog
from workbench.store import connect
from workbench.store.runs import get_manifest, index_disagreements, latest_by_lab, list_runs


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def print_phases(catalog: Catalog, as_json: bool) -> None:
    conn = connect()
    rows: list[dict[str, Any]] = []
    for number in sorted(catalog.phases):
        phase = catalog.phases[number]
        latest = latest_by_lab(conn, number)
        labs = [
            {"id": lab.id, "status": lab.status, "last": latest.get(f"{phase.key}/{lab.id}", {}).get("status")}
            for lab in phase.labs
        ]
        rows.append({"phase": phase.key, "title": phase.title, "labs": labs, "breaks": [b.id for b in phase.breaks]})
    conn.close()
    if as_json:
        _print_json(rows)
        return
    table = Table(title="Lynx Cortex phases")
    for col in ("phase", "title", "labs ready/planned", "last runs"):
        table.add_column(col)
    for row in rows:
        ready = sum(1 for lab in row["labs"] if lab["status"] == "ready")
        last = " ".join(f"{lab['id']}:{lab['last']}" for lab in row["labs"] if lab["last"])
        table.add_row(row["phase"], row["title"], f"{ready}/{len(row['labs']) - ready}", last)
    Console().print(table)
    for line in catalog.errors:
        Console(stderr=True).print(f"[yellow]content problem:[/] {line}")


def print_runs(phase: int | None, target: str | None, limit: int, as_json: bool) -> None:
    conn = connect()
    rows = list_runs(conn, phase=phase, target=target, limit=limit)
    conn.close()
    if as_json:
        _print_json(rows)
        return
    # The id is what the next command needs, so it is never cut: its column is as wide as the
    # longest id, and the target (already in the id) goes on a dim second line of the same cell;
    # a break's title follows, wrapped to the id's width (not cut at it).
    table = Table(title="runs")
    width = max((len(r["id"]) for r in rows), default=2)
    table.add_column("id / target", no_wrap=True, overflow="ellipsis", min_width=width, max_width=width)
    for col in ("status", "checks", "wall s"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        shown = r["target"] + (f" — break: {r['title'] or ''}" if r["kind"] == "break" else "")
        lines = textwrap.wrap(shown, width=max(width, 8), break_on_hyphens=False) or [shown]
        status = r["status"] + ("[yellow]*[/]" if r["quarantined"] else "")
        table.add_row(r["id"] + "".join(f"\n[dim]{escape(line)}[/]" for line in lines), status,
                      f"{r['checks_passed']}/{r['checks_passed'] + r['checks_failed']}", f"{r['wall_seconds'] or 0:.2f}")
    console = Console()
    console.print(table)
    if any(r["quarantined"] for r in rows):
        console.print("[yellow]*[/] quarantined: run from a dirty tree")


def resolve_manifest(ref: str) -> tuple[dict[str, Any], Path] | None:
    """A run id (or unique prefix) from the store, or a path to a manifest.json / run dir."""
    path = Path(ref)
    if path.is_dir():
        path = path / "manifest.json"
    if path.is_file():
        return manifests.load(path), path.parent
    conn = connect()
    found = get_manifest(conn, ref)
    conn.close()
    if found is None:
        return None
    return found[0], Path(found[1])


def print_run(run_id: str, as_json: bool) -> int:
    found = resolve_manifest(run_id)
    if found is None:
        Console(stderr=True).print(f"[red]no run {run_id!r}[/] (see `workbench runs`)")
        return 2
    manifest, run_dir = found
    if as_json:
        _print_json(manifest)
        return 0
    console = Console(highlight=False)
    console.print(f"[bold]{manifest['id']}[/]  {manifest['target']['name']}  status [bold]{manifest['status']}[/]")
    console.print(f"dir {run_dir}\nseed {manifest['seed']}  config {manifest['config_hash']}  wall {manifest['wall_seconds']} s")
    git = manifest.get("git") or {}
    console.print(f"git {git.get('sha', 'n/a')} dirty={git.get('dirty')}  quarantined={manifest.get('quarantined')}")
    if manifest.get("error"):
        console.print(f"[red]error:[/] {manifest['error']}")
    table = Table(title="checks")
    for col in ("check", "actual", "result"):
        table.add_column(col)
    for c in manifest["checks"]:
        table.add_row(escape(c["name"]), escape(str(c["actual"])), "PASS" if c["passed"] else ("FAIL" if c["hard"] else "soft-fail"))
    console.print(table)
    for k, v in manifest["results_summary"].items():
        console.print(f"  {k} = {v}")
    for a in manifest["artifacts"]:
        console.print(f"  [dim]{a['role']:>9}[/] {a['path']} ({a['bytes']} B)")
    return 0


def verify_run(run_id: str, as_json: bool = False) -> int:
    found = resolve_manifest(run_id)
    console = Console(highlight=False)

    def missing(why: str) -> int:
        if as_json:
            _print_json({"run": run_id, "exit_code": 2, "result": "missing", "problems": [why]})
        else:
            console.print(f"[red]missing:[/] {why}")
        return 2

    if found is None:
        return missing(f"no run {run_id!r}")
    manifest, run_dir = found
    on_disk = run_dir / "manifest.json"
    if not on_disk.is_file():
        return missing(f"{on_disk} (the index still lists this run)")
    manifest = manifests.load(on_disk)  # the file is the record; the index is compared with it below
    code, problems = manifests.verify(run_dir, manifest)
    conn = connect()
    disagree = index_disagreements(conn, manifest)
    conn.close()
    if disagree:
        problems += disagree
        code = max(code, 1)
    elif disagree is None:
        problems.append("not in the index (`workbench reindex` adds it)")
    if as_json:
        _print_json({"run": manifest["id"], "exit_code": code, "result": ["ok", "mismatch", "missing"][min(code, 2)],
                     "artifacts": len(manifest["artifacts"]), "problems": problems})
        return code
    for line in problems:
        console.print(line, soft_wrap=True)
    console.print(f"{len(manifest['artifacts'])} artifacts: " + ("ok" if code == 0 else ("MISMATCH" if code == 1 else "MISSING")))
    return code


def diff_manifests(a: str, b: str, as_json: bool) -> int:
    found = {ref: resolve_manifest(ref) for ref in (a, b)}
    manifests = []
    for ref, f in found.items():
        if f is None:
            Console(stderr=True).print(f"[red]no run or manifest {ref!r}[/]")
            return 2
        manifests.append(f[0])
    grouped = mdiff.diff(manifests[0], manifests[-1], ignore=("id", "artifacts"))
    code = mdiff.drift_exit_code(grouped)
    if as_json:
        _print_json({"exit_code": code, "differences": {k: [list(d) for d in v] for k, v in grouped.items()}})
    else:
        print("\n".join(mdiff.format_diff(grouped)))
    return code


def phase_number(text: str) -> int:
    """`7`, `07` or `phase-07` -> 7; anything else raises ValueError with the accepted forms."""
    raw = text.strip().lower().removeprefix("phase-").removeprefix("phase")
    if not raw.isdigit():
        raise ValueError(f"{text!r} is not a phase: use 7, 07 or phase-07")
    return int(raw)


def validate_json(catalog: Catalog) -> int:
    _print_json({"phases": len(catalog.phases), "quizzes": len(catalog.quizzes), "experiments": len(catalog.experiments),
                 "problems": list(catalog.errors), "exit_code": 2 if catalog.errors else 0})
    return 2 if catalog.errors else 0


def report_json(catalog: Catalog, number: int) -> int:
    """`workbench report N --json`: the report is written as usual; the outcome is printed as JSON."""
    from engine.core.atomic import write_text
    from workbench import workspace
    from workbench.progress.report import ReportRefused, build_report

    conn = connect()
    try:
        report = build_report(catalog, conn, number, workspace.home())
    except ReportRefused as exc:
        _print_json({"phase": number, "written": False, "reason": str(exc), "exit_code": 1})
        return 1
    finally:
        conn.close()
    write_text(report.path, report.text)
    _print_json({"phase": number, "written": True, "path": str(report.path), "exit_code": 0})
    return 0
