"""`workbench sweep`: grid x seeds through the runner, one manifest per point, resumable, aggregated."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from workbench.sweep.core import Sweep, SweepError, aggregate, parse_grid, parse_seeds, run_sweep


def test_grid_and_seed_parsing() -> None:
    assert parse_grid(["lr=1e-3,3.0e-3", "ffn=moe,mlp"]) == {"lr": [0.001, 0.003], "ffn": ["moe", "mlp"]}
    assert parse_grid(["models=[a,b],[c]"]) == {"models": [["a", "b"], ["c"]]}
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5") == [3, 4, 5]
    for bad in (["lr"], ["seed=1,2"], ["a=1", "a=2"], ["x="]):
        with pytest.raises(SweepError):
            parse_grid(bad)
    with pytest.raises(SweepError, match="seeds"):
        parse_seeds("a,b")
    sw = Sweep("selftest-stream", {"rate": [50, 100], "seconds": [1]}, [0, 1])
    assert [(p.values["rate"], p.seed) for p in sw.points] == [(50, 0), (50, 1), (100, 0), (100, 1)]
    assert len({p.key for p in sw.points}) == 4 and sw.id == Sweep("selftest-stream", sw.grid, [0, 1]).id
    assert sw.id != Sweep("selftest-stream", sw.grid, [0, 2]).id


def test_unknown_key_stops_the_sweep_before_any_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    with pytest.raises(SweepError, match="nope"):
        run_sweep(Sweep("selftest-stream", {"nope": [1]}, [0]))
    with pytest.raises(SweepError, match="unknown target"):
        run_sweep(Sweep("no-such-experiment", {}, [0]))
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(importlib.util.find_spec("ray") is not None, reason="ray is installed here")
def test_ray_executor_without_ray_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["sweep", "selftest-stream", "--quick", "--seeds", "0", "--executor", "ray"])
    assert res.exit_code == 2 and "pip install" in res.output and "ray" in res.output


def test_resume_and_aggregate_with_a_fake_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep's bookkeeping without child processes: run_point writes a fake run directory."""
    import workbench.sweep.core as core

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    calls: list[tuple[float, int]] = []

    def fake(target: str, options: dict, home: str) -> dict:
        rate = float(options["sets"][-1].split("=")[1])
        calls.append((rate, options["seed"]))
        run = Path(home) / "runs" / f"{rate}-{options['seed']}"
        run.mkdir(parents=True)
        (run / "manifest.json").write_text("{}")
        (run / "results.json").write_text(json.dumps({"score": rate + options["seed"], "flag": True, "name": "x"}))
        rows = [{"type": "metric", "step": s, "loss": rate / (s + 1)} for s in range(3)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return {"status": "passed", "exit_code": 0, "reason": None, "run_id": run.name, "run_dir": str(run),
                "config_hash": "h"}

    monkeypatch.setattr(core, "run_point", fake)
    monkeypatch.setattr(core, "validate", lambda sweep: (None, []))  # planning is covered by the test above
    sw = Sweep("selftest-stream", {"rate": [10, 20]}, [0, 1, 2], quick=True)
    out = run_sweep(sw, jobs=3)
    assert sorted(calls) == [(10, 0), (10, 1), (10, 2), (20, 0), (20, 1), (20, 2)]
    agg = json.loads((out / "aggregate.json").read_text())
    by = {p["values"]["rate"]: p for p in agg["points"]}
    s = by[20]["metrics"]["score"]
    assert (s["n"], s["mean"], s["std"]) == (3, 21.0, 1.0) and s["ci_low"] <= 21.0 <= s["ci_high"]
    assert set(by[20]["metrics"]) == {"score"}  # bools and strings are not averaged
    assert by[10]["curves"]["loss"]["mean"] == [10.0, 5.0, 10.0 / 3]
    assert (out / "charts" / "loss.png").exists()
    calls.clear()
    run_sweep(sw, jobs=3)
    assert calls == []  # resumed: every point has its record and manifest
    next(iter(Path(by[10]["runs"][0]).glob("manifest.json"))).unlink()  # a run whose manifest vanished reruns
    import shutil

    shutil.rmtree(by[10]["runs"][0])
    run_sweep(sw, jobs=3)
    assert len(calls) == 1 and calls[0][0] == 10


@pytest.mark.slow
def test_sweep_runs_each_point_once_resumes_and_aggregates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    sw = Sweep("selftest-stream", {"rate": [40, 80]}, [0, 1], quick=True, sets=["seconds=1"])
    seen: list[tuple[int, int]] = []
    out = run_sweep(sw, jobs=2, on_point=lambda p, res, done, total: seen.append((p.values["rate"], p.seed)))
    assert sorted(seen) == [(40, 0), (40, 1), (80, 0), (80, 1)]
    records = [json.loads(p.read_text()) for p in (out / "points").glob("*.json")]
    run_dirs = {r["run_dir"] for r in records}
    assert len(run_dirs) == 4 and all(r["status"] == "passed" for r in records)
    for rec in records:  # each point is an ordinary run with its own manifest, config and seed
        manifest = json.loads((Path(rec["run_dir"]) / "manifest.json").read_text())
        assert manifest["config"]["rate"] == rec["values"]["rate"] and manifest["config"]["seed"] == rec["seed"]
    agg = json.loads((out / "aggregate.json").read_text())
    by = {p["values"]["rate"]: p for p in agg["points"]}
    assert by[40]["metrics"]["events"]["mean"] == 40 and by[80]["metrics"]["events"]["n"] == 2
    assert by[80]["metrics"]["events"]["ci_low"] == by[80]["metrics"]["events"]["ci_high"] == 80
    assert len(by[40]["curves"]["loss"]["step"]) == 40 and (out / "charts" / "loss.png").exists()
    assert "| rate=40 | 2 | events | 40 |" in (out / "aggregate.md").read_text()

    seen.clear()  # the same command again: nothing left to run
    run_sweep(sw, jobs=2, on_point=lambda p, res, done, total: seen.append((p.values["rate"], p.seed)))
    assert seen == []
    victim = next((out / "points").glob("*.json"))
    lost = json.loads(victim.read_text())
    victim.unlink()  # a point whose record is gone (killed sweep) runs again, alone
    run_sweep(sw, jobs=2, on_point=lambda p, res, done, total: seen.append((p.values["rate"], p.seed)))
    assert seen == [(lost["values"]["rate"], lost["seed"])]
    assert len(list((tmp_path / "runs").iterdir())) == 5
    assert aggregate(out)["points"][0]["metrics"]["events"]["n"] == 2
