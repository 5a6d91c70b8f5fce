"""`workbench demo`: the capstone scenario (engine.apps.tutor.demo) with its config read from
phase-39 lab-00's YAML, narrated to the terminal, its eval-<date>.json and transcript.jsonl under
<workspace>/demo/, and an idempotency check over several runs (the responses' SHA must repeat)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CONFIG_LAB = "phase-39/lab-00"


def demo_config(quick: bool) -> dict[str, Any]:
    """The `demo:` block of phase-39 lab-00's config (with its quick overlay when asked)."""
    from workbench.content import load_catalog
    from workbench.runner.plan import Options, plan

    root = Path(__file__).resolve().parents[2]
    (req,) = plan(load_catalog(root), CONFIG_LAB, Options(quick=quick))
    return dict(req.config["demo"])


def run(quick: bool, runs: int, keep: bool, echo: Any) -> tuple[int, list[dict[str, Any]]]:
    """Run the demo `runs` times; exit code 0 when every run passed and the answers repeated."""
    from engine.apps.tutor.demo import DemoConfig, run_demo
    from workbench import workspace

    cfg = DemoConfig.from_config(demo_config(quick))
    out_dir = workspace.home() / "demo"
    evals = []
    for k in range(runs):
        if runs > 1:
            echo(f"run {k + 1}/{runs}", None)
        evals.append(run_demo(out_dir, cfg, on_event=lambda row: echo(row["msg"], row), keep=keep))
    shas = {e.get("responses_sha256") for e in evals}
    same = len(shas) == 1 and None not in shas
    ok = all(e["ok"] for e in evals) and same
    return (0 if ok else 1), evals
