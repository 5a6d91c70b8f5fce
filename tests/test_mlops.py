"""engine.systems.mlops: registry invariants, assignment, statistics against scipy/closed forms, drift, gate, costs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from engine.labs.p38_mlops import write_bundle
from engine.systems.mlops import costs, drift, gate, traffic
from engine.systems.mlops.registry import Registry, RegistryError, canonical_sha
from engine.systems.mlops.variants import degrade_participles, eval_report, standard_variants


def test_registry_sha_invariants_and_rollback(tmp_path: Path) -> None:
    v = standard_variants(0)
    a = write_bundle(tmp_path / "a", v["fp32"], 1)
    b = write_bundle(tmp_path / "b", v["lora"], 1)
    assert canonical_sha(a, None) != canonical_sha(a, "x")  # the parent is part of the identity
    reg = Registry(tmp_path / "reg")
    sa = reg.register_pending(a, "v0.1.0", None)
    assert reg.register_pending(a, "v0.1.0", None) == sa and len(reg.index()) == 1
    with pytest.raises(RegistryError):
        reg.register_pending(b, "v0.1.0", sa)
    with pytest.raises(RegistryError):
        reg.register_pending(b, sa, None)  # a tag is a semver, never a SHA or another tag
    sb = reg.register_pending(b, "v0.2.0", sa)
    reg.promote("v0.1.0")
    reg.promote("v0.2.0")
    assert reg.lineage(sb)[:2] == [sb, sa] and reg.lineage(sb)[2].startswith("corpus:")
    champion = reg.client.get_model_version_by_alias(reg.name, "champion")  # MLflow's own view
    assert champion.tags["canonical_sha"] == sb and champion.run_id
    assert reg.client.get_run(champion.run_id).data.tags["parent_sha"] == sa
    path, sha = reg.fetch("champion", tmp_path / "got")
    assert sha == sb and (path / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert reg.rollback() == sa and reg.production() == sa
    assert reg.client.get_model_version_by_alias(reg.name, "champion").tags["canonical_sha"] == sa
    with pytest.raises(RegistryError):
        reg.rollback()
    (reg._local(reg.client.get_model_version_by_alias(reg.name, "champion")) / "config.json").write_text('{"x": 1}')
    with pytest.raises(RegistryError, match="SHA"):  # a tampered artifact is caught on fetch
        reg.fetch("champion", tmp_path / "tampered")


def test_assignment_is_sticky_and_balanced() -> None:
    arms = [traffic.assign(f"r{i}", "s") for i in range(4000)]
    assert arms == [traffic.assign(f"r{i}", "s") for i in range(4000)]
    assert abs(arms.count("A") / 4000 - 0.5) < 0.03


def test_ztest_matches_scipy_and_sample_size() -> None:
    r = traffic.two_proportion_ztest(70, 100, 80, 100)
    pool = 150 / 200
    z = 0.1 / math.sqrt(pool * (1 - pool) * 0.02)
    assert r["z"] == pytest.approx(z) and r["p"] == pytest.approx(2 * stats.norm.sf(z))
    assert traffic.sample_size_per_arm(0.75, 0.03, rounded_z=True) == 3267
    assert traffic.sample_size_per_arm(0.75, 0.03) == 3271


def test_psi_is_symmetric_kl_sum_and_buckets_partition() -> None:
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(15)), rng.dirichlet(np.ones(15))
    assert drift.psi(p, q, eps=0) == pytest.approx(stats.entropy(p, q) + stats.entropy(q, p))
    counts = np.arange(2000, 0, -1, dtype=float)
    b = drift.token_buckets(counts)
    assert np.bincount(b).tolist()[:10] == [4] * 5 + [40] * 5 and b.max() == 14


def test_drift_check_exit_codes(tmp_path: Path) -> None:
    assert drift.drift_check({"token_psi": 0.09, "grid_psi": 0.2}, tmp_path) == 0
    assert drift.drift_check({"token_psi": 0.3, "kl": 9.0}, tmp_path) == 1
    assert (tmp_path / "alerts.jsonl").read_text().count("\n") == 1


def test_gate_blocks_degraded_participles() -> None:
    v = standard_variants(0)
    base = eval_report(v["fp32"])
    assert gate.compare_baseline(base, eval_report(v["lora"]), 2.0)[0] == 0
    code, failing, table = gate.compare_baseline(base, eval_report(degrade_participles(v["fp32"], 0.1, 3)), 2.0)
    assert code == 2 and any(f["bucket"] == "tense.past_participle" for f in failing) and "past_participle" in table


def test_cost_table_guard_and_order() -> None:
    rows = [{"name": "x", "sha": "b" * 64, "accuracy": 0.9, "tokens_per_second": 100.0, "tokens_per_answer": 2.0},
            {"name": "y", "sha": "a" * 64, "accuracy": 0.2, "tokens_per_second": 100.0, "tokens_per_answer": 2.0}]
    t = costs.render_table(rows, 0.05, 0.3)
    assert t == costs.render_table(json.loads(json.dumps(rows[::-1])), 0.05, 0.3)
    assert "| y | aaaaaaaaaaaa | 0.200 | 100 | not-deployment-ready |" in t
    assert costs.cost_per_correct(3600.0, 10.0, 0.5, 1.0) == pytest.approx(0.2)
