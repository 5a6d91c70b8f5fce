"""The run pipeline end to end on the synthetic labs: every way a run can end leaves a manifest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli
from workbench.content import load_catalog
from workbench.runner.plan import Options, PlanError, parse_sets, plan
from workbench.runner.session import run_request

FIXTURE = """\
id: 98
slug: runner
title: Runner fixture
goal: exercise the runner
labs:
  - {id: lab-00, title: empty, entry: "engine.labs.selftest:empty", checks: [{metric: ok, op: "==", value: true}]}
  - {id: lab-01, title: crash, entry: "engine.labs.selftest:crash", config: {steps_before: 3}}
  - {id: lab-02, title: sleep, entry: "engine.labs.selftest:sleep", config: {seconds: 60, interval: 0.05, nested: {k: a}}, timeout: 2,
     charts: [{title: loss, y: [loss]}]}
  - {id: lab-03, title: failing check, entry: "engine.labs.selftest:empty", checks: [{metric: ok, op: "==", value: false}]}
  - {id: lab-04, title: gpu only, entry: "engine.labs.selftest:empty", needs: [gpu]}
  - {id: lab-05, title: later, status: planned}
"""


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    root = tmp_path / "content"
    (root / "phases").mkdir(parents=True)
    (root / "phases" / "phase-98-runner.yaml").write_text(FIXTURE)
    monkeypatch.setenv("LYNX_CONTENT_DIR", str(root))
    cat = load_catalog(root)
    assert cat.errors == []
    return cat


def _one(catalog, target: str, **opts):  # type: ignore[no-untyped-def]
    (req,) = plan(catalog, target, Options(**opts))
    return req


def _manifest(report) -> dict:  # type: ignore[no-untyped-def]
    return json.loads((report.run_dir / "manifest.json").read_text())


def test_config_precedence_and_sets(catalog, tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("seconds: 5\ninterval: 0.5\n")
    req = _one(catalog, "phase-98/lab-02", config_file=cfg_file, sets=["interval=1e-2", "nested.k=v"], seed=7)
    assert req.config["seconds"] == 5 and req.config["interval"] == pytest.approx(0.01)
    assert req.config["nested"] == {"k": "v"} and req.config["seed"] == 7 and req.config["fault"] is None
    assert parse_sets(["a.b=3"]) == {"a": {"b": 3}}
    with pytest.raises(PlanError):
        parse_sets(["novalue"])


def test_passing_run_writes_everything(catalog, workspace: Path) -> None:
    report = run_request(_one(catalog, "phase-98/lab-00"))
    assert report.status == "passed" and report.exit_code == 0
    m = _manifest(report)
    for key in ("schema_version", "id", "target", "status", "seed", "config", "config_hash", "git", "versions",
                "hardware", "env", "started_at", "finished_at", "wall_seconds", "checks", "results_summary", "artifacts"):
        assert key in m, key
    assert m["env"]["PYTHONHASHSEED"] == "42" and m["env"]["OMP_NUM_THREADS"] == "1"
    assert set(m["env"]) == {"PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"}
    assert {a["path"] for a in m["artifacts"]} >= {"results.json", "stderr.log", "request.json"}
    assert json.loads((report.run_dir / "results.json").read_text()) == {"ok": True}


def test_failed_hard_check_exits_1(catalog, workspace: Path) -> None:
    report = run_request(_one(catalog, "phase-98/lab-03"))
    assert report.status == "failed" and report.exit_code == 1
    assert _manifest(report)["checks"][0]["passed"] is False


def test_crash_keeps_stderr_metrics_and_manifest(catalog, workspace: Path) -> None:
    report = run_request(_one(catalog, "phase-98/lab-01"))
    assert report.status == "crashed" and report.exit_code == 3
    m = _manifest(report)
    assert m["status"] == "crashed" and "selftest crash" in m["error"]
    assert "RuntimeError: selftest crash" in (report.run_dir / "stderr.log").read_text()
    assert len((report.run_dir / "metrics.jsonl").read_text().splitlines()) == 3


def test_timeout_is_recorded(catalog, workspace: Path) -> None:
    report = run_request(_one(catalog, "phase-98/lab-02"))
    assert report.status == "timed_out" and report.exit_code == 3
    m = _manifest(report)
    assert m["status"] == "timed_out" and "timed out after 2" in m["error"]
    assert (report.run_dir / "metrics.jsonl").read_text().count("\n") > 5
    assert any(a["role"] == "chart" for a in m["artifacts"]), "partial metrics still give a chart"


def test_cancel_event_cancels(catalog, workspace: Path) -> None:
    cancel = threading.Event()
    seen = []

    def on_event(event: dict) -> None:
        seen.append(event)
        if len(seen) == 10:
            cancel.set()

    report = run_request(_one(catalog, "phase-98/lab-02"), timeout=60, on_event=on_event, cancel=cancel)
    assert report.status == "cancelled" and report.exit_code == 3
    assert _manifest(report)["status"] == "cancelled"


def test_killed_lab_is_crashed_with_signal(catalog, workspace: Path) -> None:
    def on_event(event: dict) -> None:
        if event.get("step") == 3:
            os.kill(event["pid"], signal.SIGKILL)

    report = run_request(_one(catalog, "phase-98/lab-02"), timeout=60, on_event=on_event)
    assert report.status == "crashed"
    assert "killed by signal 9" in _manifest(report)["error"]


def test_skip_and_planned_never_run(catalog, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.core.manifest.provenance.gpu_info", lambda: None)
    gpu = run_request(_one(catalog, "phase-98/lab-04"))
    assert gpu.status == "skipped" and "GPU" in (gpu.reason or "") and gpu.run_dir is None
    planned = run_request(_one(catalog, "phase-98/lab-05"))
    assert planned.status == "planned" and planned.exit_code == 2


def test_ctrl_c_on_the_cli_cancels_and_exits_3(catalog, workspace: Path) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(workspace)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "phase-98/lab-02", "--timeout", "60"],
        cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not list((workspace / "runs").glob("*/metrics.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 3
    (manifest_path,) = (workspace / "runs").glob("*/manifest.json")
    assert json.loads(manifest_path.read_text())["status"] == "cancelled"


def test_planned_target_on_cli_exits_2(catalog, workspace: Path) -> None:
    out = run_cli("run", "phase-98/lab-05", home=workspace)
    assert out.returncode == 2 and "planned" in out.stdout
