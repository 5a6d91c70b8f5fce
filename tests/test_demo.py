"""`workbench demo --quick`: the capstone stack comes up as local processes, every acceptance row
passes, the eval file and the transcript are written, and nothing it started is left running."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from workbench.cli import app


def _ours() -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "lynx-demo-" in cmd:
            found.append(cmd)
    return found


@pytest.mark.slow
def test_demo_quick_passes_writes_its_files_and_tears_down(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["demo", "--quick"])
    assert res.exit_code == 0, res.output
    evals = list((tmp_path / "demo").glob("eval-*.json"))
    assert len(evals) == 1
    ev = json.loads(evals[0].read_text())
    skipped = [r["id"] for r in ev["rows"] if r["status"] == "skipped"]
    assert skipped == ([] if shutil.which("prometheus") else ["DE-006"])  # only the Prometheus row may skip
    assert ev["ok"] and ev["failed"] == 0 and ev["passed"] + len(skipped) == ev["total"] >= 14
    assert all(r["cited_chunks"] for r in ev["responses"])  # the server's retrieval cited rules
    assert [r["completion"] for r in ev["responses"]] and all(r["status"] == 200 for r in ev["responses"])
    lines = [json.loads(x) for x in (tmp_path / "demo" / "transcript.jsonl").read_text().splitlines()]
    assert lines[-1]["event"] == "demo_complete" and [x["line"] for x in lines] == list(range(1, len(lines) + 1))
    assert _ours() == []  # server, Prometheus and sandbox are gone
    assert not [p for p in (tmp_path / "demo").iterdir() if p.name.startswith("lynx-demo-")]  # scratch removed
