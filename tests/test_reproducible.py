"""The same code, config and seed give the same run, in a fresh process each time.

Two `workbench run` processes per lab; their manifests may differ only in the run's id, its
times and the results the lab declares `measured` (engine.core.manifest.compare files those under
TIME). Each process seeds its own hash order, so a dict or set iterated into a file, or a
library that does so (safetensors' metadata did), shows here and not in an in-process rerun.
The slow test does the same for every ready quick lab and experiment, two whole sweeps in two
interpreters (3.4 min on the 2-core box with a warm model cache, the two side by side).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.manifest.compare import diff, is_measured
from tests import labkit
from tests.test_labs import SLOW

ROOT = Path(__file__).resolve().parents[1]
# (target, are its files reproducible too): checkpoints (safetensors with metadata); an MLflow
# registry, whose run ids and timestamps are MLflow's own; a timing lab (only `measured` may move).
CASES = [("phase-17/lab-04", True), ("phase-38/lab-00", False), ("phase-30/lab-03", False)]


def _run(target: str, home: Path) -> dict:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "workbench", "run", target, "--quick"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=600)
    (run_dir,) = (home / "runs").iterdir()
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def _fixed_checks(manifest: dict) -> list[dict]:
    return [c for c in manifest["checks"] if not is_measured(c["metric"], manifest["measured"])]


@pytest.mark.parametrize(("target", "files"), CASES, ids=[t for t, _ in CASES])
def test_two_processes_write_the_same_manifest(target: str, files: bool, tmp_path: Path) -> None:
    a, b = _run(target, tmp_path / "a"), _run(target, tmp_path / "b")
    grouped = diff(a, b, ignore=("id", "checks") + (() if files else ("artifacts",)))
    assert grouped["OTHER"] == [], f"{target}: differs between two runs: {grouped['OTHER'][:3]}"
    assert _fixed_checks(a) == _fixed_checks(b)
    assert all(k in ("started_at", "finished_at", "wall_seconds") or is_measured(k.split(".", 1)[1], a["measured"])
               for k, _, _ in grouped["TIME"])
    assert bool(a["measured"]) == (target == "phase-30/lab-03")


_SWEEP = """
import json, sys
from tests import labkit
out = {}
for t in json.loads(sys.argv[1]):
    out[t] = labkit.run_fresh(t)[0]
json.dump(out, open(sys.argv[2], "w"), default=str)
"""


def _quick_targets() -> list[str]:
    labs = [p.values[0] for p in labkit.targets(range(42), "lab", slow=SLOW) if not p.marks]
    experiments = [e.id for e in labkit.catalog().experiments.values()
                   if e.status == "ready" and e.entry and not e.needs and not e.id.startswith("selftest")]
    return labs + sorted(experiments)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_every_quick_lab_reproduces_outside_its_measured_keys(tmp_path: Path) -> None:
    targets = _quick_targets()
    procs = []
    for side in ("a", "b"):
        env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / f"home-{side}"), "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-c", _SWEEP, json.dumps(targets), str(tmp_path / f"{side}.json")]
        procs.append(subprocess.Popen(argv, cwd=ROOT, env=env))
    assert [p.wait(timeout=1700) for p in procs] == [0, 0]
    a, b = (json.loads((tmp_path / f"{side}.json").read_text()) for side in ("a", "b"))
    moved = {}
    for t in targets:
        fa, fb = (labkit.unmeasured(side[t], labkit.request(t).measured) for side in (a, b))
        keys = [k for k in sorted(set(fa) | set(fb))
                if json.dumps(fa.get(k), sort_keys=True) != json.dumps(fb.get(k), sort_keys=True)]
        if keys:
            moved[t] = keys
    assert moved == {}, f"results that differ between two processes and are not declared `measured`: {moved}"
