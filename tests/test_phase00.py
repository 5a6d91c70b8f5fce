"""Phase 00 for real: every lab and the break pass, and a rerun gives byte-identical results."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def _results(home: Path) -> dict[str, bytes]:
    out = {}
    for run_dir in (home / "runs").iterdir():
        target = json.loads((run_dir / "manifest.json").read_text())["target"]["name"]
        out[target] = (run_dir / "results.json").read_bytes()
    return out


def test_phase00_runs_and_reruns_identically(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for home in (first, second):
        home.mkdir()
        out = run_cli("run", "phase-00", "--quick", home=home)
        assert out.returncode == 0, out.stdout + out.stderr
    assert "SKIPPED" in out.stdout and "phase-00/break-00" in out.stdout
    a, b = _results(first), _results(second)
    assert set(a) == {"phase-00/lab-01", "phase-00/lab-02", "phase-00/lab-03", "phase-00/lab-04", "phase-00/break-00"}
    assert a == b


def test_break_is_detected_and_healthy_is_not(tmp_path: Path) -> None:
    run_cli("run", "phase-00/lab-03", "--break", "--quick", home=tmp_path)
    # The runner also runs the healthy lab to judge the break, so the break's own run is the one
    # whose manifest names the fault.
    runs = {json.loads((d / "manifest.json").read_text())["config"].get("fault"): d
            for d in (tmp_path / "runs").iterdir()}
    assert set(runs) == {"no_hash_seed", None}, runs
    run_dir = next(d for fault, d in runs.items() if fault)
    result = json.loads((run_dir / "results.json").read_text())
    assert result["hash_orders_agree"] is False and result["rng_streams_agree"] is True
