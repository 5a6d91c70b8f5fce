"""`workbench manifest diff` and `workbench verify`: every exit code, on real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.manifest import compare as mdiff
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    home = tmp_path_factory.mktemp("ws")
    for _ in range(2):
        assert run_cli("run", "selftest-empty", home=home).returncode == 0
    dirs = sorted((home / "runs").iterdir())
    return home, dirs


def test_flatten_and_categories() -> None:
    flat = mdiff.flatten({"versions": {"numpy": "2"}, "env": {"A": None}, "git": {"sha": "x"}, "wall_seconds": 1})
    assert flat == {"versions.numpy": "2", "env.A": None, "git.sha": "x", "wall_seconds": 1}
    assert [mdiff.category(k) for k in ("git_sha", "git.sha", "versions.numpy", "hardware.cpu", "env.X", "started_at", "seed")] == [
        "CODE", "CODE", "VERSIONS", "HARDWARE", "ENV", "TIME", "OTHER"]


def test_measured_results_are_time_and_other_results_are_not() -> None:
    a = {"measured": ["*_ms", "speedup"], "results_summary": {"step_ms": 1.0, "speedup": 3.0, "loss": 0.5, "n": 4}}
    b = {"measured": ["*_ms", "speedup"], "results_summary": {"step_ms": 1.4, "speedup": 2.9, "loss": 0.6, "n": 4}}
    grouped = mdiff.diff(a, b)
    assert [k for k, _, _ in grouped["TIME"]] == ["results_summary.speedup", "results_summary.step_ms"]
    assert grouped["OTHER"] == [("results_summary.loss", 0.5, 0.6)]
    assert mdiff.is_measured("copy_32_bk_tokens_per_s", ["*_tokens_per_s"]) and not mdiff.is_measured("ms", ["*_ms"])


def test_missing_key_is_reported() -> None:
    grouped = mdiff.diff({"env": {"OMP_NUM_THREADS": "8"}}, {"env": {}})
    assert grouped["ENV"] == [("env.OMP_NUM_THREADS", "8", mdiff.MISSING)]
    assert mdiff.format_diff(grouped)[0] == "[ENV] env.OMP_NUM_THREADS: 8 -> <missing>"


def test_identical_runs_exit_0(two_runs) -> None:  # type: ignore[no-untyped-def]
    home, dirs = two_runs
    out = run_cli("manifest", "diff", dirs[0].name, dirs[1].name, home=home)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[TIME]" in out.stdout and "[VERSIONS]" not in out.stdout


def test_version_drift_exits_1(two_runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, dirs = two_runs
    m = json.loads((dirs[1] / "manifest.json").read_text())
    m["versions"]["numpy"] = "0.0.1"
    drifted = tmp_path / "manifest.json"
    drifted.write_text(json.dumps(m))
    out = run_cli("manifest", "diff", str(dirs[0] / "manifest.json"), str(drifted), "--json", home=home)
    assert out.returncode == 1
    assert json.loads(out.stdout)["differences"]["VERSIONS"][0][0] == "versions.numpy"


def test_diff_of_unknown_run_exits_2(two_runs) -> None:  # type: ignore[no-untyped-def]
    home, dirs = two_runs
    assert run_cli("manifest", "diff", dirs[0].name, "no-such-run", home=home).returncode == 2


def test_module_entry_point_matches() -> None:
    out = subprocess.run([sys.executable, "-m", "engine.core.manifest", "only-one"], capture_output=True, text=True, check=False)
    assert out.returncode == 2


def test_verify_ok_then_corrupted_then_missing(tmp_path: Path) -> None:
    home = tmp_path
    assert run_cli("run", "selftest-empty", home=home).returncode == 0
    (run_dir,) = (home / "runs").iterdir()
    assert run_cli("verify", run_dir.name, home=home).returncode == 0
    results = run_dir / "results.json"
    results.write_text(results.read_text().replace("true", "false"))
    out = run_cli("verify", run_dir.name, home=home)
    assert out.returncode == 1 and "mismatch: results.json" in out.stdout
    (run_dir / "stderr.log").unlink()
    out = run_cli("verify", run_dir.name, home=home)
    assert out.returncode == 2 and "missing: stderr.log" in out.stdout
    assert run_cli("verify", "nonexistent", home=home).returncode == 2
