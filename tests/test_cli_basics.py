"""CLI surface: --help stays light, list commands speak JSON, doctor reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli


def test_help_imports_no_heavy_modules() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "workbench.cli", "--help"],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "120"},
    )
    assert "run" in out.stdout and "manifest" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert not imported & {"torch", "textual", "numpy", "matplotlib", "plotext", "scipy"}


def test_phases_and_runs_json(tmp_path: Path) -> None:
    out = run_cli("phases", "--json", home=tmp_path)
    assert out.returncode == 0
    phases = json.loads(out.stdout)
    assert phases[0]["phase"] == "phase-00" and phases[0]["labs"]
    assert run_cli("run", "selftest-empty", home=tmp_path).returncode == 0
    runs = json.loads(run_cli("runs", "--json", home=tmp_path).stdout)
    assert runs[0]["target"] == "selftest-empty" and runs[0]["status"] == "passed"
    shown = json.loads(run_cli("show", runs[0]["id"], "--json", home=tmp_path).stdout)
    assert shown["id"] == runs[0]["id"]


def test_run_json_output(tmp_path: Path) -> None:
    out = run_cli("run", "selftest-empty", "--json", home=tmp_path)
    data = json.loads(out.stdout)
    assert data["status"] == "passed" and data["checks"][0]["passed"] is True


def test_doctor_reports_items(tmp_path: Path) -> None:
    out = run_cli("doctor", "--json", home=tmp_path)
    rows = json.loads(out.stdout)
    items = {r["item"]: r["result"] for r in rows}
    assert items["python >= 3.11"] == "PASS"
    assert items["numpy importable"] == "PASS"
    assert set(items.values()) <= {"PASS", "FAIL", "N/A", "OPTIONAL"}  # OPTIONAL (e.g. just) never fails
    assert out.returncode == (1 if "FAIL" in items.values() else 0)


def test_wheel_ships_all_content(tmp_path: Path) -> None:
    """`pip install .` (not -e) must find every phase, quiz and experiment: they ride in the wheel."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(root), "-w", str(tmp_path)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    import zipfile

    (wheel,) = tmp_path.glob("lynx_workbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("phases", "quizzes", "experiments"):
        shipped = {Path(n).name for n in names if n.startswith(f"lynx_content/{kind}/")}
        assert shipped == {p.name for p in (root / kind).glob("*.yaml")}, kind
    sources = {p.relative_to(root).as_posix() for pkg in ("engine", "workbench") for p in (root / pkg).rglob("*.py")}
    assert sources - names == set(), "modules missing from the wheel (a folder without __init__.py?)"
    assert "workbench/tui/app.tcss" in names
