"""The lab contract: typed config declared once in YAML, a strict cfg, one way to call a lab,
breaks judged by the runner (detected / missed, healthy compared), `--lab N`, `seeded`.

Each test reproduces a failure found before the fix (issue 12's closing note lists them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from workbench.content import load_catalog
from workbench.runner.call import call_lab
from workbench.runner.plan import Options, PlanError, lab_target, plan
from workbench.runner.strict import StrictConfig, UndeclaredKey

FIXTURE = """\
id: 96
slug: contract
title: Contract fixture
goal: exercise the lab contract
labs:
  - id: lab-00
    title: typed
    entry: "engine.labs.selftest:sleep"
    types: {limit: int | null}
    config: {seconds: 0.2, interval: 0.05, lr: 0.05, steps: 3, name: adam, sizes: [1, 2], opt: {beta: 0.9}, limit: null}
    quick: {steps: 1}
  - id: lab-01
    title: flag
    entry: "engine.labs.selftest:flag"
    seeded: false
    checks: [{metric: level, op: "==", value: 1.0}]
breaks:
  - {id: break-00, lab: lab-01, title: the flag flips, fault: flip, expect: [{metric: broken, op: "==", value: true}]}
  - {id: break-01, lab: lab-01, title: a symptom the healthy lab shows too, fault: flip, expect: [{metric: level, op: "==", value: 1.0}]}
  - {id: break-02, lab: lab-01, title: a fault nobody honours, fault: nothing, expect: [{metric: broken, op: "==", value: true}]}
"""


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    root = tmp_path / "content"
    (root / "phases").mkdir(parents=True)
    (root / "phases" / "phase-96-contract.yaml").write_text(FIXTURE)
    monkeypatch.setenv("LYNX_CONTENT_DIR", str(root))
    cat = load_catalog(root)
    assert cat.errors == []
    return cat


def _plan(catalog, target: str = "phase-96/lab-00", **opts):  # type: ignore[no-untyped-def]
    (req,) = plan(catalog, target, Options(**opts))
    return req


def test_unknown_key_is_refused_naming_the_valid_keys(catalog) -> None:  # type: ignore[no-untyped-def]
    # Before: silently accepted, exit 0, and hashed into the config.
    with pytest.raises(PlanError, match=r"'nosuchkey' is not a config key .*valid: interval, limit, lr, name, opt"):
        _plan(catalog, sets=["nosuchkey=1"])
    with pytest.raises(PlanError, match=r"'opt.gamma' is not a config key of opt \(valid: beta\)"):
        _plan(catalog, sets=["opt.gamma=1"])


@pytest.mark.parametrize(
    ("pair", "expected"),
    [("lr=abc", "lr = 'abc': expected a number, got text"), ("steps=2.5", "expected an integer"),
     ("name=3", "expected text"), ("sizes=[a]", "expected a list of numbers"), ("opt.beta=yes", "expected a number"),
     ("limit=x", "expected an integer or null")],
)
def test_wrong_type_is_refused_naming_the_expected_type(catalog, pair: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    # Before: `--set lr=abc` reached the lab, which crashed (exit 3).
    with pytest.raises(PlanError, match=expected.replace("[", r"\[").replace("(", r"\(")):
        _plan(catalog, sets=[pair])


def test_good_overrides_are_typed_and_ints_widen_to_floats(catalog, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("lr: 1\nopt: {beta: 0.5}\n")
    req = _plan(catalog, config_file=cfg_file, sets=["limit=7", "sizes=[3, 4.5]"], quick=True)
    assert req.config["lr"] == 1.0 and isinstance(req.config["lr"], float)
    assert req.config["opt"] == {"beta": 0.5} and req.config["limit"] == 7 and req.config["steps"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: fast\n")
    with pytest.raises(PlanError, match=r"bad.yaml \(for phase-96/lab-00\): lr = 'fast': expected a number"):
        _plan(catalog, config_file=bad)


def test_cli_exit_2_for_unknown_key_and_wrong_type(catalog, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("run", "phase-96", "--lab", "0", "--set", "nosuchkey=1", home=workspace)  # --lab N: phase-96/lab-00
    assert out.returncode == 2 and "--set (for phase-96/lab-00): 'nosuchkey' is not a config key (valid: interval, limit, lr" in out.stdout
    out = run_cli("run", "phase-96/lab-00", "--set", "lr=abc", home=workspace)
    assert out.returncode == 2 and "expected a number" in out.stdout
    assert not (workspace / "runs").exists(), "nothing ran"


def test_yaml_types_are_checked_at_load(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "phases").mkdir(parents=True)
    text = FIXTURE.replace("    types: {limit: int | null}\n", "").replace("quick: {steps: 1}", "quick: {steps: 1.5}")
    (root / "phases" / "phase-96-contract.yaml").write_text(text)
    errors = load_catalog(root).errors
    assert any("labs[0].config.limit: a null default says nothing about its type" in e for e in errors), errors


def test_strict_config_refuses_python_side_defaults() -> None:
    # Before: cfg.get("steps", 100) for a key missing from the YAML ran on a default nobody saw.
    cfg = StrictConfig({"lr": 0.1, "opt": {"beta": 0.9}, "seed": 1})
    assert cfg.get("lr", 5) == 0.1 and cfg["opt"]["beta"] == 0.9
    with pytest.raises(UndeclaredKey, match=r"'steps' is not declared .*declared: lr, opt, seed"):
        cfg.get("steps", 100)
    with pytest.raises(UndeclaredKey, match="config.opt: key 'gamma'"):
        cfg["opt"].get("gamma", 0.99)
    with pytest.raises(KeyError):
        cfg["steps"]
    assert json.loads(json.dumps(cfg)) == {"lr": 0.1, "opt": {"beta": 0.9}, "seed": 1}


def test_every_shipped_default_is_in_the_manifest_config() -> None:
    """The resolved config of every shipped lab is its YAML config (plus run keys) and nothing reads
    outside it: call_lab passes a StrictConfig, so a lab test that reads an undeclared key fails."""
    catalog = load_catalog()
    req = _plan(catalog, "phase-10/lab-03")
    assert {"n_train", "n_val", "time_dim", "time_rows"} <= set(req.config)  # were Python-only defaults
    assert req.config["steps"] == 400  # the YAML's, where Python said 1000


def test_lab_short_form() -> None:
    assert lab_target("phase-07", 2) == "phase-07/lab-02" and lab_target("7", 3) == "phase-07/lab-03"
    assert lab_target("phase-07/lab-01", None) == "phase-07/lab-01"
    with pytest.raises(PlanError, match="--lab 2: give a phase"):
        lab_target("phase-07/lab-01", 2)


def test_call_lab_judges_breaks_as_detected_or_missed(catalog) -> None:  # type: ignore[no-untyped-def]
    assert call_lab("phase-96/lab-01", catalog=catalog).status == "passed"
    assert call_lab("phase-96/break-00", catalog=catalog).status == "detected"
    assert call_lab("phase-96/break-02", catalog=catalog).status == "missed"


def test_runner_reports_break_verdicts_and_compares_the_healthy_run(catalog, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    # Before: a break run said "passed"; whether the healthy lab shows the symptom was only a test's business.
    out = run_cli("run", "phase-96", "--break", "--json", home=workspace)
    assert out.returncode == 1, out.stderr  # break-01 and break-02 are missed
    reports = {r["target"]: r for r in json.loads(out.stdout)}
    assert reports["phase-96/break-00"]["status"] == "detected"
    brk = reports["phase-96/break-00"]["break"]
    assert brk["title"] == "the flag flips" and brk["verdict"] == "detected" and brk["healthy_shows_break"] is False
    assert brk["healthy_run"]
    assert reports["phase-96/break-01"]["status"] == "missed"
    assert reports["phase-96/break-01"]["break"]["healthy_shows_break"] is True
    assert reports["phase-96/break-02"]["status"] == "missed"
    manifest = json.loads((Path(reports["phase-96/break-00"]["run_dir"]) / "manifest.json").read_text())
    assert manifest["break"]["id"] == "break-00" and manifest["seeded"] is False
    assert "detected" in run_cli("runs", home=workspace).stdout
    rows = json.loads(run_cli("runs", "--json", home=workspace).stdout)
    assert {r["verdict"] for r in rows if r["kind"] == "break"} == {"detected", "missed"}
    assert "the flag flips (break of lab-01)" in {r["title"] for r in rows if r["kind"] == "break"}
