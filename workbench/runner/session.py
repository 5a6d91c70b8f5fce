"""One run, start to finish: run dir → child process → checks → charts → manifest → index.

This is the only code path that runs a lab; the CLI and the TUI both call `run_request`.
Whatever happens to the lab (crash, timeout, Ctrl-C), the manifest, metrics and stderr
are written before this returns.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import workbench
from engine.core.atomic import write_json
from engine.core.manifest import provenance
from engine.core.manifest import shape as manifests
from workbench import workspace
from workbench.runner.call import healthy_shows_break, judge
from workbench.runner.execute import Event, child_env, execute
from workbench.runner.plan import RunRequest

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_CRASHED, EXIT_INFRA = 0, 1, 2, 3, 4
HEALTHY_CACHE_SIZE = 8  # finished lab runs kept in memory, so a break can be compared with its healthy run
_healthy: dict[tuple[str, str], tuple[dict[str, Any], list[dict[str, Any]], str]] = {}


@dataclass
class RunReport:
    request: RunRequest
    status: str  # passed | failed | detected | missed | crashed | timed_out | cancelled | skipped | planned
    exit_code: int
    run_dir: Path | None = None
    manifest: dict[str, Any] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    infra_error: str | None = None  # the run dir is complete but the index could not be written (exit 4)


def _nvcc() -> bool:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    return bool(shutil.which("nvcc") or (home and os.path.exists(os.path.join(home, "bin", "nvcc"))))


def skip_reason(req: RunRequest) -> str | None:
    """Why this machine cannot run the request, or None. Never pretends: a skip says why."""
    if "gpu" in req.needs:
        if provenance.gpu_info() is None:
            return "needs a CUDA GPU and none is visible (nvidia-smi not found); run it on a GPU box"
        from engine.systems.hardware.device import cuda_unavailable_reason

        why = cuda_unavailable_reason()
        if why:
            return f"needs a CUDA GPU: {why}"
    if "triton" in req.needs and importlib.util.find_spec("triton") is None:
        return "needs the triton package: pip install -e '.[gpu]' (about 1 GB; runs under its interpreter without a GPU)"
    if "nvcc" in req.needs and not _nvcc():
        return "needs the CUDA compiler nvcc (the CUDA toolkit; set CUDA_HOME or put nvcc on PATH)"
    if "network" in req.needs:
        return "needs network access, which labs never assume; run it by hand where you have it"
    if "docker" in req.needs and not shutil.which("docker"):
        return "needs a Docker engine"
    if "prometheus" in req.needs and not shutil.which("prometheus"):
        return "needs the prometheus binary on PATH (Debian: apt-get install prometheus)"
    if "manual" in req.needs:
        return "a manual exercise: follow the chapter and tick it in the phase checklist"
    return None


def _utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_dir(req: RunRequest) -> tuple[str, Path]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{stamp}-{req.slug}-{secrets.token_hex(3)}"
    path = workspace.runs_dir() / run_id
    path.mkdir(parents=True)
    return run_id, path


def run_request(
    req: RunRequest,
    *,
    timeout: float | None = None,
    threads: int | None = None,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    kill_now: threading.Event | None = None,
    record: bool = True,
    compare_healthy: bool = True,
) -> RunReport:
    """Run one request in a child process; write its run directory and manifest, and index it.

    A break is compared with its healthy lab (same options, fault off): the healthy run is taken
    from this process's recent runs when one matches, else run first (and recorded) here.
    `compare_healthy=False` skips that (a caller running both side by side compares them itself;
    the manifest then says `healthy_shows_break: null`).
    Raises InfraError when the run directory cannot be written at all (exit 4)."""
    if req.status == "planned":
        return RunReport(req, "planned", EXIT_USAGE, reason="not implemented yet (status: planned); nothing was run")
    reason = skip_reason(req)
    if reason:
        if req.substitute:
            reason += f"; the CPU substitute is `workbench run {req.substitute}`"
        return RunReport(req, "skipped", EXIT_OK, reason=reason)

    healthy = None
    if req.kind == "break" and req.healthy is not None and compare_healthy:
        healthy = _healthy_outcome(req.healthy, timeout=timeout, threads=threads, cancel=cancel, kill_now=kill_now, record=record)
        if cancel is not None and cancel.is_set():
            return RunReport(req, "cancelled", EXIT_CRASHED, reason="cancelled before the break ran")

    try:
        run_id, run_dir = new_run_dir(req)
        extra = {"exercise": req.exercise} if req.exercise else {}
        write_json(run_dir / "request.json", {"target": req.target, "entry": req.entry, "config": req.config, **extra})
    except OSError as exc:
        raise InfraError(f"cannot write a run directory under {workspace.runs_dir()}: {exc.strerror or exc}") from None
    env = child_env(req.config["seed"], provenance.thread_env(threads))
    started, t0 = _utc(), time.perf_counter()
    outcome = execute(run_dir, env, timeout=timeout or req.timeout, on_event=on_event, cancel=cancel, kill_now=kill_now)
    wall = time.perf_counter() - t0

    records = outcome.records or read_metrics(run_dir)
    checks: list[dict[str, Any]] = []
    break_info = None
    if outcome.status == "done":
        checks, status = judge(req, outcome.result, records)
        code = EXIT_OK if status in ("passed", "detected") else EXIT_CHECK_FAILED
        if req.kind != "break":
            _remember_healthy((req.target, req.config_hash), (outcome.result, records, run_id))
    else:
        status, code = outcome.status, EXIT_CRASHED
    if req.kind == "break":
        break_info = _break_info(req, status, healthy)
        if status == "detected" and break_info["healthy_shows_break"]:
            status, code = "missed", EXIT_CHECK_FAILED
            outcome.error = outcome.error or "the healthy lab meets the break's expectations too, so they do not detect it"
    try:
        _render_charts(req, records, run_dir, status)
    except OSError as exc:
        outcome.notes.append(f"charts not written: {exc.strerror or exc}")
    target = {"name": req.target, "kind": req.kind, "phase": req.phase, "lab": req.lab_id, "title": req.title}
    manifest = manifests.build(
        run_id=run_id,
        target=target,
        status=status,
        config=req.config,
        config_hash=req.config_hash,
        env=env,
        started_at=started,
        finished_at=_utc(),
        wall_seconds=wall,
        checks=checks,
        result=outcome.result,
        artifacts=manifests.collect_artifacts(run_dir, outcome.artifacts),
        error=outcome.error,
        notes=outcome.notes,
        seeded=req.seeded,
        measured=req.measured,
        break_info=break_info,
        versions={"workbench": workbench.__version__},
    )
    manifest["impl"] = "learner" if req.exercise else "reference"
    manifest["checkpoints"] = outcome.checkpoints  # cached models/adapters the lab used (name, kind, key, sha256, path)
    if req.exercise:
        from workbench.exercises.record import manifest_block

        manifest["exercise"] = manifest_block(req.exercise, outcome.result)
    try:
        manifests.write(run_dir, manifest)
    except OSError as exc:
        raise InfraError(f"cannot write {run_dir / 'manifest.json'}: {exc.strerror or exc}") from None
    report = RunReport(req, status, code, run_dir, manifest, checks, reason=outcome.error)
    if record:
        import sqlite3

        from workbench.store import StoreError, connect
        from workbench.store.db import describe
        from workbench.store.runs import record_run

        try:
            conn = connect()
            try:
                record_run(conn, manifest, str(run_dir))
            finally:
                conn.close()
        except (StoreError, sqlite3.Error, OSError) as exc:
            why = str(exc) if isinstance(exc, StoreError) else describe(exc, workspace.db_path())
            report.infra_error = f"run saved in {run_dir} but not indexed: {why}; `workbench reindex` adds it later"
            report.exit_code = EXIT_INFRA
    return report


class InfraError(RuntimeError):
    """The workspace itself failed (disk full, read-only, ...): exit 4, one line."""


def _remember_healthy(key: tuple[str, str], value: tuple[dict[str, Any], list[dict[str, Any]], str]) -> None:
    _healthy.pop(key, None)
    _healthy[key] = value
    while len(_healthy) > HEALTHY_CACHE_SIZE:
        _healthy.pop(next(iter(_healthy)))


def _healthy_outcome(healthy: RunRequest, **run_opts: Any) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
    """(result, records, run id) of the healthy lab for a break: a recent run in this process, else a new run."""
    key = (healthy.target, healthy.config_hash)
    if key not in _healthy:
        report = run_request(healthy, **run_opts)
        if report.status not in ("passed", "failed"):
            return None
    return _healthy.get(key)


def _break_info(req: RunRequest, status: str, healthy: tuple[dict[str, Any], list[dict[str, Any]], str] | None) -> dict[str, Any]:
    """The manifest's `break` record: which break, its verdict, and whether the healthy lab shows it too."""
    shows = healthy_shows_break(req, healthy[0], healthy[1]) if healthy else None
    return {
        "id": req.break_id,
        "title": req.break_title,
        "fault": req.config.get("fault"),
        "lab": req.lab_id,
        "verdict": status if status in ("detected", "missed") else None,
        "healthy_run": healthy[2] if healthy else None,
        "healthy_shows_break": shows,
    }


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    import json

    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a killed writer may leave half a line
    return rows


def _render_charts(req: RunRequest, records: list[dict[str, Any]], run_dir: Path, status: str | None = None) -> None:
    """PNGs whose titles say what the run was (target, break, status) with the injected fault marked."""
    if not req.charts or not records:
        return
    from workbench.charts.png import render_png
    from workbench.charts.spec import caption, marks_for

    what = req.target + (" (break)" if req.kind == "break" else "")
    for i, chart in enumerate(req.charts):
        slug = "".join(c if c.isalnum() else "-" for c in chart.title.lower()).strip("-")
        render_png(chart, records, run_dir / "charts" / f"{i:02d}-{slug}.png",
                   title_suffix=caption("", what, status), marks=marks_for(chart, req.config, "injected"))
