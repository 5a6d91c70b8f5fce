"""Phase 39 labs on the capstone demo (engine/apps/tutor/demo.py): the stack as local processes.

lab-00 brings it up and down `runs` times from nothing; lab-02 loads it with a shadow stack on a
second port; lab-03 reads the threat replays; lab-04 records one demo (asciinema when present).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.apps.tutor.demo import TIMED_ROWS, DemoConfig, promoted_server, run_demo
from engine.core.run import Recorder
from engine.lm.train.data import load_corpus
from engine.systems.serve.api import ROUTE
from engine.systems.serve.client import closed_loop, request
from engine.systems.serve.proc import ServerProcess


def _demo_cfg(cfg: dict) -> DemoConfig:
    return DemoConfig.from_config(cfg["demo"])


# ---------------------------------------------------------------------- lab 00: cold start, N times
def cold_start(cfg: dict, rec: Recorder) -> dict:
    runs = int(cfg["runs"])
    evals = []
    for k in range(runs):
        ev = run_demo(rec.out_dir / f"run-{k}", _demo_cfg(cfg))
        evals.append(ev)
        up = next((r["value"] for r in ev["rows"] if r["id"] == "DE-001"), None)
        rec.log(k, stage="run", ok=int(ev["ok"]), passed=ev["passed"], total=ev["total"], stack_up_s=up or 0.0,
                seconds=ev.get("seconds", 0.0))
        rec.progress(k + 1, runs)
    clean = 0
    for ev in evals:  # consecutive from the first
        if not ev["ok"]:
            break
        clean += 1
    shas = {ev.get("responses_sha256") for ev in evals}
    ups = [r["value"] for ev in evals for r in ev["rows"] if r["id"] == "DE-001" and r["value"] is not None]
    untimed_clean = sum(all(r["status"] != "fail" for r in ev["rows"] if r["id"] not in TIMED_ROWS) for ev in evals)
    return {"runs": runs, "consecutive_clean_runs": clean, "clean_run_fraction": clean / runs,
            "untimed_clean_run_fraction": untimed_clean / runs,
            "demo_cold_exit": 0 if clean == runs else 1, "stack_up_seconds": max(ups) if ups else None,
            "responses_identical_across_runs": len(shas) == 1 and None not in shas,
            "rows_per_run": evals[0]["total"], "failed_rows": sorted({r["id"] for ev in evals for r in ev["rows"]
                                                                     if r["status"] == "fail"})}


# ---------------------------------------------------------------------- lab 02: load and shadow
async def _mirror(port: int, payloads: list[dict[str, Any]]) -> list[Any]:
    out = []
    for p in payloads:
        try:
            out.append(await request(port, "POST", ROUTE, p, timeout_s=60))
        except (TimeoutError, OSError):
            out.append(None)
    return out


def load_and_shadow(cfg: dict, rec: Recorder) -> dict:
    dcfg = _demo_cfg(cfg)
    scratch = Path(tempfile.mkdtemp(prefix="lynx-load-", dir=rec.out_dir))
    texts = [e.text for e in load_corpus()]
    n = int(cfg["max_requests"])
    payloads = [{"sentence": texts[i % len(texts)], "learner_id": f"w{i % int(cfg['workers'])}"} for i in range(n)]
    try:
        spec, _, _ = promoted_server(scratch, dcfg)
        spec["serve"]["rate_per_s"] = 0.0  # the load test measures latency, not the limiter
        shadow_spec = {**spec, "spans": str(scratch / "shadow-spans.jsonl"),
                       "serve": {**spec["serve"], "log_path": str(scratch / "shadow.log.jsonl")}}
        with ServerProcess(spec, scratch / "main") as main, ServerProcess(shadow_spec, scratch / "shadow") as shadow:
            samples, wall = closed_loop(main.port, ROUTE, payloads, int(cfg["workers"]), budget_s=float(cfg["duration_s"]))
            sent = [payloads[s.index] for s in samples]
            mirrored = asyncio.run(_mirror(shadow.port, sent[: int(cfg["shadow_requests"])]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ok = [s for s in samples if s.status == 200]
    lat = np.array([s.latency_s * 1e3 for s in ok]) if ok else np.array([np.nan])
    p50, p95, p99 = (float(np.percentile(lat, q)) for q in (50, 95, 99))
    by_index = {s.index: s.completion for s in ok}
    same = [m is not None and m.status == 200 and m.json().get("completion") == by_index.get(s.index)
            for s, m in zip(samples, mirrored, strict=False)]
    for q, v in (("p50", p50), ("p95", p95), ("p99", p99)):
        rec.log({"p50": 50, "p95": 95, "p99": 99}[q], stage="latency", percentile=q, latency_ms=v, stack="main")
    return {"requests": len(samples), "seconds": wall, "rps": len(samples) / wall if wall else 0.0,
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
            "error_rate": 1 - len(ok) / len(samples) if samples else 1.0,
            "shadow_requests": len(mirrored), "shadow_agreement": float(np.mean(same)) if same else 0.0}


# ---------------------------------------------------------------------- lab 03: threats
def security_run(cfg: dict, rec: Recorder) -> dict:
    """The demo's threat replays; the fault injection_filter_off serves without the input filter."""
    ev = run_demo(rec.out_dir / "demo", _demo_cfg(cfg), injection_filter=cfg["fault"] != "injection_filter_off")
    rows = {r["id"]: r for r in ev["rows"]}
    threats = {"DE-008": "injection", "DE-009": "oversize", "DE-010": "sandbox", "DE-016": "rate_limit"}
    lines = ev.get("threat_lines", {})
    for i, (rid, name) in enumerate(threats.items()):
        rec.log(i, stage="threat", threat=name, verified=int(rows.get(rid, {}).get("status") == "pass"),
                transcript_line=lines.get(name, 0))
    sandbox = rows.get("DE-010", {}).get("value") or {}
    oversize = rows.get("DE-009", {}).get("value") or [0, -1]
    return {"injection_status": (rows.get("DE-008", {}).get("value") or [0])[0],
            "oversize_status": oversize[0], "forward_calls_during_oversize": oversize[1],
            "rate_limited_status": 429 if rows.get("DE-016", {}).get("status") == "pass" else 0,
            "sandbox_kill_seconds": sandbox.get("seconds"), "sandbox_network_blocked": sandbox.get("network_blocked"),
            "sandbox_isolation": sandbox.get("isolation", "refused"),
            "threats_verified": sum(rows.get(r, {}).get("status") == "pass" for r in threats),
            "threat_transcript_lines": lines, "demo_ok": ev["ok"],
            "demo_failed_rows": [r["id"] for r in ev["rows"] if r["status"] == "fail"]}


# ---------------------------------------------------------------------- lab 04: recording
def record_demo(cfg: dict, rec: Recorder) -> dict:
    out_dir = rec.out_dir / "demo"
    recorder = "transcript"
    asciinema = shutil.which("asciinema")
    if asciinema:
        spec = rec.out_dir / "demo-config.json"
        spec.write_text(json.dumps(cfg["demo"]), encoding="utf-8")
        cmd = f"{sys.executable} -m engine.apps.tutor.run_once {spec} {out_dir}"
        t0 = time.perf_counter()
        subprocess.run([asciinema, "rec", "--overwrite", "--quiet", "--idle-time-limit", "2", "-c", cmd,
                        str(rec.out_dir / "demo.cast")], check=False, timeout=600,
                       cwd=Path(__file__).resolve().parents[2])
        recorder, seconds = "asciinema", time.perf_counter() - t0
    else:
        t0 = time.perf_counter()
        run_demo(out_dir, _demo_cfg(cfg))
        seconds = time.perf_counter() - t0
        rec.note("asciinema is not installed (Debian: apt-get install asciinema): the transcript is the recording")
    events = [json.loads(x) for x in (out_dir / "transcript.jsonl").read_text().splitlines()]
    last = events[-1] if events else {}
    failed = list(last.get("failed", []))
    return {"recorder": recorder, "transcript_lines": len(events), "seconds": seconds,
            "last_event_is_demo_complete": last.get("event") == "demo_complete",
            "transcript_ends_with_verdict": last.get("event") in ("demo_complete", "demo_failed"),
            "acceptance_rows_failed": len(failed) if last.get("event") else -1,
            "untimed_rows_failed": len([r for r in failed if r not in TIMED_ROWS]) if last.get("event") else -1,
            "acceptance_rows_passed": last.get("passed")}


# ---------------------------------------------------------------------- lab 01: one request, end to end
def end_to_end(cfg: dict, rec: Recorder) -> dict:
    from engine.apps.tutor.percentiles import monte_carlo, uniform_pair
    from engine.apps.tutor.rubric import weighted
    from engine.apps.tutor.walkthrough import grade_exam, serve_and_check

    contracts, identity = serve_and_check(_demo_cfg(cfg), rec.out_dir, int(cfg["identity_requests"]))
    for i, (name, ok) in enumerate(contracts.items()):
        rec.log(i, stage="contract", contract=name, passed=int(ok))
    lo, hi = (float(x) for x in cfg["uniform_ms"])
    uni = uniform_pair(lo, hi)
    mc = monte_carlo([lambda g, n: g.uniform(lo, hi, n)] * 2, int(cfg["mc_samples"]), int(cfg["seed"]))
    mu, sigma = (float(x) for x in cfg["lognormal"])
    logn = monte_carlo([lambda g, n: g.lognormal(mu, sigma, n)] * 2, int(cfg["mc_samples"]), int(cfg["seed"]) + 1)
    graded = grade_exam(cfg["exam"], case_sensitive=cfg.get("fault") == "case_sensitive_normalize")
    for k, (it, g) in enumerate(zip(cfg["exam"], graded, strict=True)):
        rec.log(k, stage="exam", item=it["id"], score=g["score"], **g["breakdown"])
    axis_mean = {a: float(np.mean([g["breakdown"][a] for g in graded])) for a in graded[0]["breakdown"]}
    (rec.out_dir / "exam-breakdown.json").write_text(json.dumps(graded, indent=1), encoding="utf-8")
    rec.artifact(rec.out_dir / "exam-breakdown.json", "per-item rubric breakdown")
    return {"contracts": contracts, "contract_tests_passed": sum(contracts.values()), "contract_tests": len(contracts),
            "cost_identity_max_rel_err": identity,
            "uniform_naive_p95_ms": uni["naive_sum_ms"], "uniform_true_p95_ms": uni["true_ms"],
            "uniform_percentile_gap_pct": uni["gap_pct"], "uniform_mc_true_p95_ms": mc["true_ms"],
            "uniform_mc_abs_diff_ms": abs(mc["true_ms"] - uni["true_ms"]),
            "lognormal_percentile_gap_pct": logn["gap_pct"],
            "rubric_reference_scores_ok": weighted({"correctness": 1, "spanish_gloss": 0, "schema": 1, "conciseness": 1})
            == 0.75 and abs(weighted({"correctness": 0, "spanish_gloss": 0, "schema": 1, "conciseness": 1}) - 0.15) < 1e-12,
            "exam_aggregate": float(np.mean([g["score"] for g in graded])),
            **{f"{a}_axis_mean": v for a, v in axis_mean.items()}}
