"""Phase 38 labs: registry round trip, shadow and A/B routing, drift, cost per quality unit, CI gate.

The registered "models" are tutor variants with seeded error profiles (engine.systems.mlops.variants): the
phase adds no model code, only the machinery around models, and every number a check reads is
computed by that machinery on data generated here. Latencies in lab-01 are drawn from seeded
log-normal service times so results.json is reproducible; the shadow call itself runs in a real
worker thread. Fault `keep_one_artifact` (the break) prunes releases down to one.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core import tensorfile
from engine.core.run import Recorder
from engine.lm.text.verbs import conjugate
from engine.systems.mlops import costs, drift, gate, rollout, traffic
from engine.systems.mlops.registry import Registry, RegistryError, canonical_json
from engine.systems.mlops.variants import (
    CELLS,
    Variant,
    degrade_participles,
    eval_report,
    grader_sha,
    standard_variants,
)
from engine.torchstack.quant.quantize import quantize_symmetric_per_channel

CORPUS_HASH = __import__("hashlib").sha256(canonical_json([[*c, conjugate(*c)] for c in CELLS])).hexdigest()


def write_bundle(root: Path, variant: Variant, seed: int) -> Path:
    """A registry bundle: weights as safetensors plus the four JSON documents the SHA covers."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((32, 32)).astype(np.float32)
    if variant.name == "int8":
        q, scale = quantize_symmetric_per_channel(torch.from_numpy(w), bits=8)  # per output row
        tensors = {"w_q": q.numpy(), "scale": scale.float().numpy()}
    elif variant.name == "lora":
        tensors = {"lora_a": rng.standard_normal((32, 4)).astype(np.float32), "lora_b": np.zeros((4, 32), np.float32)}
    else:
        tensors = {"w": w}
    tensorfile.save(tensors, root / "model.safetensors")
    docs = {"tokenizer.json": {"vocab": sorted({conjugate(*c) for c in CELLS})},
            "config.json": {"variant": variant.name, "d_model": 32},
            "eval_report.json": eval_report(variant),
            "train_manifest.json": {"corpus_hash": CORPUS_HASH, "seed": seed}}
    for name, doc in docs.items():
        (root / name).write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return root


def build_registry(root: Path, seed: int, keep: int = 5) -> tuple[Registry, dict[str, str], dict[str, Any]]:
    """Register FP32 -> v0.1.0, INT8 -> v0.2.0, LoRA -> v0.3.0 (children of FP32), promoting in turn."""
    variants = standard_variants(seed)
    reg = Registry(root / "registry")
    shas: dict[str, str] = {}
    facts: dict[str, Any] = {}
    for semver, name in (("v0.1.0", "fp32"), ("v0.2.0", "int8"), ("v0.3.0", "lora")):
        bundle = write_bundle(root / "bundles" / name, variants[name], seed)
        shas[name] = reg.register_pending(bundle, semver, None if name == "fp32" else shas["fp32"])
        reg.promote(semver)
        reg.prune(keep)
        if name == "int8":  # idempotence and the semver invariant, checked mid-flight
            rows = len(reg.index())
            facts["reregister_is_noop"] = reg.register_pending(bundle, semver, shas["fp32"]) == shas[name] and len(reg.index()) == rows
            try:
                reg.register_pending(bundle, "v0.1.0", shas["fp32"])
                facts["semver_conflict_raises"] = False
            except RegistryError:
                facts["semver_conflict_raises"] = True
    return reg, shas, facts


# ---------------------------------------------------------------------- lab 00: registry
def registry_roundtrip(cfg: dict, rec: Recorder) -> dict:
    keep = 1 if cfg.get("fault") == "keep_one_artifact" else int(cfg["keep_releases"])
    reg, shas, facts = build_registry(rec.out_dir, int(cfg["seed"]), keep)
    chain = reg.lineage(shas["lora"])
    (rec.out_dir / "lineage.mmd").write_text("graph TD\n" + "\n".join(f"  {a[:12]} --> {b[:19]}" for a, b in zip(chain, chain[1:], strict=False)) + "\n")
    rec.artifact(rec.out_dir / "lineage.mmd", "lineage graph")
    (rec.out_dir / "registry_index.json").write_text(json.dumps(reg.index(), indent=1))
    rec.artifact(rec.out_dir / "registry_index.json", "registry index")
    try:
        back = reg.rollback()
        ok = back == shas["int8"] and reg.production() == shas["int8"]
    except RegistryError as exc:
        rec.note(f"rollback failed: {exc}")
        ok = False
    for i, row in enumerate(reg.index()):
        rec.log(i, event=row["event"], seq=i)
    champion = reg.client.get_model_version_by_alias(reg.name, "champion")
    try:
        _, fetched = reg.fetch("champion", rec.out_dir / "fetched")
    except RegistryError:
        fetched = ""
    mlflow_facts = {"mlflow_runs": len(reg.client.search_runs([reg.experiment_id])),
                    "champion_alias_sha": champion.tags["canonical_sha"][:16],
                    "champion_is_production": champion.tags["canonical_sha"] == reg.production(),
                    "fetched_champion_verified": fetched == reg.production()}
    rec.note("browse the registry from the run's directory: mlflow ui --backend-store-uri "
             f"sqlite:///{(reg.root / 'mlflow.db').relative_to(rec.out_dir).as_posix()}")
    shuffled = json.loads(json.dumps(eval_report(standard_variants(int(cfg["seed"]))["fp32"])), object_pairs_hook=lambda kv: dict(reversed(kv)))
    return {"bundles_registered": len(set(reg.tags().values())), **facts, **mlflow_facts,
            "lineage_reaches_corpus": chain[-1] == f"corpus:{CORPUS_HASH}" and chain[1] == shas["fp32"],
            "lineage_depth": len(chain) - 1, "rollback_succeeded": ok, "index_rows": len(reg.index()),
            "sha_fp32": shas["fp32"][:16], "sha_lora": shas["lora"][:16],
            "canonical_json_key_order_free": canonical_json(shuffled) == canonical_json(json.loads((rec.out_dir / "bundles/fp32/eval_report.json").read_text()))}


# ---------------------------------------------------------------------- lab 01: shadow + A/B
def _ab_report(salt: str, v: dict[str, Any], need_course: int, need_exact: int) -> str:
    arms, z, mw = v["arms"], v["z"], v["mw"]
    improved, regressed = v["improved"], v["regressed"]
    lines = [f"# Shadow + A/B report (salt {salt})", "", f"A/B arms: A n={len(arms['A'])}, B n={len(arms['B'])}",
             f"accuracy diff B-A = {z['diff']:+.3f}, z = {z['z']:.2f}, p = {z['p']:.3f}, 95% CI [{z['ci_low']:+.3f}, {z['ci_high']:+.3f}]",
             f"latency Mann-Whitney U = {mw['u']:.0f}, p = {mw['p']:.2g}",
             f"shadow: improved {improved}, regressed {regressed}, neutral {v['shadow_ok'] - improved - regressed}",
             f"per-arm sample size for a 3-point difference at p=0.75: {need_course} (1.96+0.84), {need_exact} (exact quantiles)", "",
             "| bucket | accuracy |", "|---|---|",
             *[f"| {k} | {'-' if a is None else f'{a:.3f}'} |" for k, a in sorted(v["buckets"].items())]]
    return "\n".join(lines) + "\n"


def shadow_ab(cfg: dict, rec: Recorder) -> dict:
    rng = np.random.default_rng(cfg["seed"])
    v = standard_variants(int(cfg["seed"]))
    current, cand = v["fp32"], v["lora"]
    salt, n_shadow = str(cfg["salt"]), int(cfg["shadow_requests"])
    log, isolated = rollout.shadow_traffic(current, cand, n_shadow, rng, crash_at=n_shadow // 3)
    log += rollout.ab_traffic(current, cand, int(cfg["ab_requests"]), rng, salt)
    path = rec.artifact(rec.out_dir / "traffic.log", "JSONL traffic log")
    path.write_text("".join(json.dumps(r) + "\n" for r in log), encoding="utf-8")
    verdict = rollout.analyse(log, salt)
    for i, (k, val) in enumerate(verdict["buckets"].items()):
        tense, arm = k.rsplit(".", 1)
        rec.log(i, tense=tense, arm=arm, accuracy=val if val is not None else float("nan"))
    need_exact = traffic.sample_size_per_arm(0.75, 0.03)
    need_course = traffic.sample_size_per_arm(0.75, 0.03, rounded_z=True)
    (rec.out_dir / "report.md").write_text(_ab_report(salt, verdict, need_course, need_exact), encoding="utf-8")
    rec.artifact(rec.out_dir / "report.md", "A/B report")
    baseline = eval_report(current)
    arms, z = verdict["arms"], verdict["z"]
    return {"traffic_log_entries": len(log), "assignment_sticky": verdict["sticky"],
            "salt_changes_assignment": verdict["salt_matters"],
            "candidate_exception_isolated": isolated, "grader_sha_matches_baseline": baseline["grader_sha"] == grader_sha(),
            "arm_a": len(arms["A"]), "arm_b": len(arms["B"]), "ab_diff": z["diff"], "ab_z": z["z"], "ab_p": float(z["p"]),
            "ab_ci_low": z["ci_low"], "ab_ci_high": z["ci_high"], "latency_mwu_p": verdict["mw"]["p"],
            "shadow_improved": verdict["improved"], "shadow_regressed": verdict["regressed"],
            "sample_size_per_arm": need_course, "sample_size_per_arm_exact": need_exact}


# ---------------------------------------------------------------------- lab 02: drift
def drift_detection(cfg: dict, rec: Recorder) -> dict:
    rng = np.random.default_rng(cfg["seed"])
    vocab, alpha = int(cfg["vocab"]), float(cfg["smoothing"])
    p, r = drift.zipf(vocab), drift.ood(vocab)
    train = np.bincount(rng.choice(vocab, int(cfg["train_tokens"]), p=p), minlength=vocab).astype(np.float64)
    bucket = drift.token_buckets(train)
    cell = np.arange(vocab) % 15  # each token id is one form, so one tense x person cell
    ref_err = {"kl": 0.0, "psi": 0.0}

    def measure(rho: float, n: int) -> dict[str, float]:
        q = np.bincount(drift.mixture_sample(rng, p, r, rho, n), minlength=vocab).astype(np.float64)
        got = drift.drift_scores(train, q, bucket, cell, alpha)
        kl_gap, psi_gap = drift.scipy_gaps(train, q, got, bucket, cell, alpha)
        ref_err["kl"], ref_err["psi"] = max(ref_err["kl"], kl_gap), max(ref_err["psi"], psi_gap)
        return got

    sweep = {}
    for i, rho in enumerate(cfg["rhos"]):
        sweep[rho] = measure(float(rho), 1000)
        rec.log(i, stage="rho_sweep", rho=float(rho), **sweep[rho])
    sizes = {}
    for i, n in enumerate(cfg["sample_sizes"]):
        sizes[n] = measure(0.15, int(n))
        rec.log(i, stage="size_sweep", sample_size=int(n), **sizes[n])
        if n < drift.MIN_SAMPLE:
            rec.note(f"{n} tokens: insufficient samples, a nightly check would skip this")
    rhos = sorted(sweep)
    tok = [sweep[k]["token_psi"] for k in rhos]
    kls = [sweep[k]["kl"] for k in rhos]
    quiet = drift.drift_check({f"{k}": v for k, v in sweep[rhos[0]].items()}, rec.out_dir / "drift_quiet")
    loud = drift.drift_check({f"{k}": v for k, v in sweep[rhos[-1]].items()}, rec.out_dir / "drift_alert")
    rec.artifact(rec.out_dir / "drift_alert" / "drift_report.json", "drift report at the largest mix")
    biggest = max(sizes)
    return {"token_psi_monotone_in_rho": all(a < b for a, b in zip(tok, tok[1:], strict=False)), "token_psi_rho0": tok[0],
            "token_psi_rho50": sweep[0.5]["token_psi"] if 0.5 in sweep else tok[-1], "kl_rho0_1000": kls[0],
            "kl_monotone_in_rho": all(a < b for a, b in zip(kls, kls[1:], strict=False)), "kl_at_largest_sample": sizes[biggest]["kl"],
            "largest_sample": int(biggest), "grid_psi_rho50": sweep[rhos[-1]]["grid_psi"],
            "psi_level_rho15": drift.level(sweep[0.15]["token_psi"]) if 0.15 in sweep else "",
            "drift_check_exits_nonzero_on_alert": loud == 1 and quiet == 0,
            "kl_vs_scipy_max_abs_err": ref_err["kl"], "psi_vs_scipy_max_abs_err": ref_err["psi"]}


# ---------------------------------------------------------------------- lab 03: FinOps
def _tokens_per_second(variant: Variant, runs: int) -> tuple[float, float]:
    tokens = sum(len(variant.answer(c).split()) for c in CELLS)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(20):
            for c in CELLS:
                variant.answer(c)
        times.append(time.perf_counter() - t0)
    return 20 * tokens / statistics.median(times), tokens / len(CELLS)


def cost_table(cfg: dict, rec: Recorder) -> dict:
    seed = int(cfg["seed"])
    reg, shas, _ = build_registry(rec.out_dir, seed)
    variants = dict(standard_variants(seed))
    variants["broken"] = Variant("broken", frozenset(CELLS[: int(0.75 * len(CELLS))]))
    shas["broken"] = "f" * 64  # never registered: it exists to exercise the guard
    rows = []
    for name, v in variants.items():
        tps, per_answer = _tokens_per_second(v, int(cfg["runs"]))
        rows.append({"name": name, "sha": shas[name], "accuracy": eval_report(v)["accuracy"], "tokens_per_second": tps,
                     "tokens_per_answer": per_answer})
    meas = rec.artifact(rec.out_dir / "throughput.json", "measured throughput (input of the table)")
    meas.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    rate, floor = float(cfg["rate_usd_per_hour"]), float(cfg["min_accuracy"])
    first = costs.render_table(rows, rate, floor)
    second = costs.render_table(list(reversed(json.loads(meas.read_text(encoding="utf-8")))), rate, floor)
    (rec.out_dir / "COSTS.md").write_text(first, encoding="utf-8")
    rec.artifact(rec.out_dir / "COSTS.md", "cost per quality unit table")
    lines = {r["name"]: line for r in rows for line in first.splitlines() if line.startswith(f"| {r['name']} |")}
    for i, r in enumerate(rows):
        rec.log(i, model=r["name"], accuracy=r["accuracy"])
    return {"costs_table_deterministic": first.encode() == second.encode(), "table_rows": len(lines),
            "low_accuracy_guard_works": "not-deployment-ready" in lines["broken"]
            and not any("not-deployment-ready" in v for k, v in lines.items() if k != "broken"),
            "registered_models": len(set(reg.tags().values()))}


# ---------------------------------------------------------------------- lab 04: CI gate
def deploy_gate(cfg: dict, rec: Recorder) -> dict:
    seed = int(cfg["seed"])
    v = standard_variants(seed)
    baseline = eval_report(v["fp32"])
    (rec.out_dir / "eval_baseline.json").write_text(json.dumps({**baseline, "tolerance_pp": cfg["tolerance_pp"]}, indent=1))
    rec.artifact(rec.out_dir / "eval_baseline.json", "gate baseline")
    tol = float(cfg["tolerance_pp"])
    healthy, _, _ = gate.compare_baseline(baseline, eval_report(v["lora"]), tol)
    int8, int8_fail, _ = gate.compare_baseline(baseline, eval_report(v["int8"]), tol)
    degraded = degrade_participles(v["fp32"], float(cfg["degrade_fraction"]), seed + 7)
    code, failing, table = gate.compare_baseline(baseline, eval_report(degraded), tol)
    (rec.out_dir / "gate_failures.md").write_text(table + "\n", encoding="utf-8")
    rec.artifact(rec.out_dir / "gate_failures.md", "failing buckets of the degraded candidate")
    for i, f in enumerate(failing):
        rec.log(i, bucket=f["bucket"], drop_pp=f["drop_pp"])
    pp = next((f for f in failing if f["bucket"] == "tense.past_participle"), None)
    return {"healthy_candidate_exit": healthy, "degraded_candidate_exit": code, "past_participle_bucket_flagged": pp is not None,
            "past_participle_drop_pp": pp["drop_pp"] if pp else 0.0, "failing_buckets": len(failing),
            "int8_candidate_exit": int8, "int8_failing_buckets": len(int8_fail)}
