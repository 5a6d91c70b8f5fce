"""Phase 19 labs: instrument a training run, draw its dashboard, diagnose failures, overfit, inject spikes.

The subject is phase 18's Mini-GPT on the verb sentences (engine.lm.dynamics.subjects), except
for the 8,000-step overfit run, which trains the small character MLP to stay within minutes
on two cores (`subject: minigpt` in its config runs it on the Mini-GPT instead).
Fault `no_grad_clip` (the phase's break): clipping is switched off in the spike-injection lab.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.core.threads import blas_threads
from engine.lm.dynamics import charlm, dashboard
from engine.lm.dynamics.inspect import Inspector
from engine.lm.dynamics.loop import resolve, train
from engine.lm.dynamics.stats import Welford, clip_grad_norm, detect_spikes, welford_update
from engine.scratch.autograd.tensor import Tensor

FAULT = "no_grad_clip"


# ---------------------------------------------------------------------- lab 00: hooks
def _welford_error(rng: np.random.Generator) -> float:
    """Largest |difference| between chunked Welford and NumPy over mean, var(ddof 1), min, max, L2."""
    worst = 0.0
    for shift in (0.0, 1e6):  # the shifted case is where the naive sum-of-squares formula fails
        data = rng.normal(shift, 3.0, size=5000)
        state: Welford | None = None
        for single in data[:3]:  # scalar updates, then arrays of uneven sizes
            state = welford_update(state, float(single))
        for chunk in np.array_split(data[3:], 37):
            state = welford_update(state, chunk)
        assert state is not None
        ref = (data.mean(), data.var(ddof=1), data.min(), data.max(), float(np.sqrt((data ** 2).sum())))
        got = (state.mean, state.var(), state.min, state.max, state.l2)
        worst = max(worst, *(abs(g - r) / max(1.0, abs(r)) for g, r in zip(got, ref, strict=True)))
    return worst


def _hooks_remove_cleanly(cfg: dict[str, Any]) -> dict[str, Any]:
    from engine.lm.dynamics.inspect import HookHandle
    from engine.lm.dynamics.subjects import make_subject

    subj = make_subject(resolve({"seed": cfg["seed"], "subject": cfg["subject"]}))
    model = subj.model
    batch = subj.next_batch()
    before = subj.loss(batch)[1].copy()
    ins = Inspector(model)
    calls = {"n": 0}

    def count(*_a: Any) -> None:
        calls["n"] += 1

    subj.attach(ins)
    free = next(m for m in model.modules() if m is not model and "forward" not in m.__dict__)
    extra = HookHandle(free, count, "forward")
    loss, hooked, _ = subj.loss(batch)
    loss.backward()
    ins.after_backward()
    n_hooked = calls["n"]
    snap = ins.snapshot()
    extra.remove()
    ins.remove_all()
    after = subj.loss(batch)[1]
    no_instance_forward = all("forward" not in m.__dict__ for m in model.modules())
    try:
        text = json.dumps(snap, allow_nan=True)
        leaves_plain = _all_plain(json.loads(text))
    except TypeError:
        leaves_plain = False
    return {
        "hooks_removed_cleanly": bool(n_hooked >= 1 and calls["n"] == n_hooked and no_instance_forward
                                      and len(snap["activations"]) > 0 and len(snap["grads"]) > 0
                                      and np.array_equal(before, hooked) and np.array_equal(before, after)),
        "snapshot_json_serializable": bool(leaves_plain),
    }


def _all_plain(x: Any) -> bool:
    if isinstance(x, dict):
        return all(_all_plain(v) for v in x.values())
    if isinstance(x, list):
        return all(_all_plain(v) for v in x)
    return isinstance(x, (int, float, str)) or x is None


def _partition_checks() -> dict[str, Any]:
    rows = np.array([1.0, 2.0, 3.0, 5.0])
    reg, irr = charlm.partition_loss(rows, np.array([True, True, False, False]))
    only_reg = charlm.partition_loss(rows, np.ones(4, dtype=bool))
    return {"partition_regular": reg, "partition_irregular": irr,
            "partition_nan_when_absent": bool(math.isnan(only_reg[1]) and only_reg[0] == 2.75)}


def hooks_overhead(cfg: dict, rec: Recorder) -> dict:
    """Welford against NumPy, clean hook removal, JSON snapshots, and the Inspector's cost per step."""
    rng = np.random.default_rng(cfg["seed"])
    out: dict[str, Any] = {"welford_max_abs_err": _welford_error(rng)}
    out.update(_hooks_remove_cleanly(cfg))
    out.update(_partition_checks())
    steps = int(cfg["overhead_steps"])
    pairs = int(cfg["pairs"])
    bare = {"seed": cfg["seed"], "steps": steps, "inspector": False, "stats_every": 10**9, "eval_every": 10**9,
            "subject": cfg["subject"]}
    hooked = {**bare, "inspector": True, "stats_every": int(cfg["stats_every"])}
    ratios = []
    for i in range(pairs):  # alternate the order so drift in machine load hits both sides
        t = {}
        for name, c in ((("bare", bare), ("hooked", hooked)) if i % 2 == 0 else (("hooked", hooked), ("bare", bare))):
            t0 = time.perf_counter()
            train(c)
            t[name] = time.perf_counter() - t0
        ratios.append((t["hooked"] - t["bare"]) / t["bare"])
        rec.log(i, pair=i, bare_s=t["bare"], hooked_s=t["hooked"], overhead=ratios[-1])
        rec.progress(i + 1, pairs)
    out["hook_overhead_fraction"] = statistics.median(ratios)
    out["overhead_pairs"] = pairs
    rec.note(f"Inspector overhead over {steps} steps, median of {pairs} pairs: {out['hook_overhead_fraction']:.1%}")
    return out


# ---------------------------------------------------------------------- lab 01: dashboard
def _train_with_dashboard(cfg: dict[str, Any], rec: Recorder | None, subdir: str, run_name: str,
                          series: str | None = None, *, dpi: int) -> tuple[Any, dict[str, Any]]:
    run_cfg = resolve(cfg)
    out_dir = rec.out_dir / subdir if rec is not None else None
    assert out_dir is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "inspector.log.jsonl"
    hist, subj = train(run_cfg, rec, log_path=log_path, series=series)
    baseline = subj.ngram_baseline()
    final_val = hist.val_loss[-1] if hist.val_loss else math.nan
    meta = {"run": run_name, "config hash": _hash(run_cfg), "seed": run_cfg["seed"],
            "subject": subj.name, "hardware": "CPU (NumPy)", "final val perplexity": f"{math.exp(min(final_val, 700.0)):.4g}"
            if math.isfinite(final_val) else "nan", "ngram_baseline": baseline, "grad_clip": run_cfg["grad_clip"]}
    t0 = time.perf_counter()
    dashboard.read_log(log_path)
    parse_s = time.perf_counter() - t0
    info = dashboard.render(log_path, out_dir / "dashboard.html", meta, dpi=dpi)
    info.update(parse_seconds=parse_s, baseline=baseline, html=out_dir / "dashboard.html")
    return hist, info


def _hash(cfg: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


def dashboard_lab(cfg: dict, rec: Recorder) -> dict:
    """Train the healthy run with the Inspector on, then render the seven-panel HTML dashboard."""
    run = {"seed": cfg["seed"], "steps": int(cfg["steps"]), "log_every": 5,
           "subject": cfg["subject"]}
    hist, info = _train_with_dashboard(run, rec, "healthy", "phase-19 healthy run", dpi=int(cfg["dpi"]))
    page = info["html"].read_text(encoding="utf-8")
    rec.artifact(info["html"], "dashboard")
    reg = [x for x in hist.loss_regular[-50:] if math.isfinite(x)]
    irr = [x for x in hist.loss_irregular[-50:] if math.isfinite(x)]
    return {
        "panels_rendered": info["panels"],
        "html_has_script_or_remote_url": not dashboard.is_self_contained(page),
        "html_bytes": info["bytes"],
        "parse_seconds": info["parse_seconds"],
        "log_rows": info["rows"],
        "final_train_loss": hist.train_loss[-1],
        "final_val_loss": hist.val_loss[-1],
        "best_val_loss": min(hist.val_loss),
        "ngram_baseline_val_loss": info["baseline"],
        "best_val_beats_ngram": bool(min(hist.val_loss) < info["baseline"]),
        "irregular_minus_regular_last50": statistics.mean(irr) - statistics.mean(reg),
        "final_dead_heads": int(sum(hist.stats[-1].get("dead_heads", {}).values())),
        # linear warmup from step 0: lr_0 = lr_max / warmup (the schedule the run actually used)
        "lr_step0_over_closed_form": hist.lr[0] * resolve(run)["warmup"] / resolve(run)["lr_max"],
    }


# ---------------------------------------------------------------------- lab 02: three failures
FAILURES = {"bad_init": {"init_scale": 100.0}, "no_warmup": {"warmup": 0}, "broken_mask": {"leak": True}}


def three_failures(cfg: dict, rec: Recorder) -> dict:
    """Three faulty runs and one healthy control; dashboards go to 01-03 in a seeded, shuffled order."""
    steps = int(cfg["steps"])
    base = {"seed": cfg["seed"], "steps": steps, "warmup": max(steps // 10, 1), "log_every": 5, "stats_every": 10,
            "eval_every": 10, "subject": cfg["subject"], "lr_max": float(cfg["lr_max"])}
    shuffle_seed = cfg.get("shuffle_seed")
    order = list(FAILURES)
    np.random.default_rng(cfg["seed"] if shuffle_seed is None else int(shuffle_seed)).shuffle(order)
    healthy, _ = _train_with_dashboard(base, rec, "control", "control (healthy)", series="control",
                                     dpi=int(cfg["dpi"]))
    runs = {}
    for i, name in enumerate(order, start=1):
        hist, info = _train_with_dashboard({**base, **FAILURES[name]}, rec, f"{i:02d}", f"break-it {i:02d}",
                                           series=f"{i:02d}", dpi=int(cfg["dpi"]))
        runs[name] = hist
        rec.artifact(info["html"], f"dashboard {i:02d}")
    answers = rec.out_dir / "answers"
    answers.mkdir(exist_ok=True)
    (answers / "mapping.json").write_text(json.dumps({f"{i:02d}": n for i, n in enumerate(order, 1)}, indent=1))
    rec.artifact(answers / "mapping.json", "answers (open after writing the diagnoses)")
    rec.note("Write one diagnosis per directory 01-03 before opening answers/mapping.json.")

    def first_layer(h: Any) -> float:
        acts = h.stats[0]["activations"]
        return float(acts.get("block_0_out", acts.get("hidden_1", math.nan)))

    def sigma(h: Any) -> float:
        return float(max(h.stats[0]["spectral"].values()))

    bad, nw, mask = runs["bad_init"], runs["no_warmup"], runs["broken_mask"]
    first = min(20, steps)
    return {
        "bad_init_step0_activation_ratio": first_layer(bad) / first_layer(healthy),
        "bad_init_step0_grad_norm_ratio": bad.pre[0] / healthy.pre[0],
        "bad_init_sigma1_ratio": sigma(bad) / sigma(healthy),
        "no_warmup_lr_at_step_0": nw.lr[0],
        "control_lr_at_step_0": healthy.lr[0],
        "no_warmup_early_loss_max": max(nw.train_loss[:first]),
        "no_warmup_early_grad_max_ratio": max(nw.pre[1:first]) / max(healthy.pre[1:first]),
        "broken_mask_final_train_loss": mask.train_loss[-1],
        "broken_mask_final_val_loss": mask.val_loss[-1],
        "control_final_val_loss": healthy.val_loss[-1],
        "control_final_train_loss": healthy.train_loss[-1],
        "broken_mask_train_over_control_train": mask.train_loss[-1] / healthy.train_loss[-1],
        "broken_mask_dead_heads": int(sum(mask.stats[-1].get("dead_heads", {}).values())),
        "control_dead_heads": int(sum(healthy.stats[-1].get("dead_heads", {}).values())),
        "shuffled_dirs": 3,
    }


# ---------------------------------------------------------------------- lab 03: overfit
def overfit(cfg: dict, rec: Recorder) -> dict:
    """Train long at a high peak LR, evaluate often, and find where validation loss turns up."""
    t = dict(cfg["training"])
    run = {"seed": cfg["seed"], "steps": int(t.get("total_steps", 8000)), "batch_size": int(t.get("batch_size", 32)),
           "warmup": int(t.get("warmup_steps", 100)), "lr_max": float(t.get("lr_max", 3e-3)),
           "lr_min": float(t.get("lr_min", 3e-4)), "weight_decay": float(t.get("weight_decay", 0.1)),
           "grad_clip": t.get("grad_clip", 1.0), "betas": list(t.get("betas", [0.9, 0.95])),
           "eps": float(t.get("eps", 1e-8)), "eval_every": int(t.get("eval_every", 50)),
           "stats_every": int(t.get("eval_every", 50)), "log_every": int(t.get("eval_every", 50)),
           "subject": cfg["subject"]}
    hist, subj = train(run, rec)
    vs, vl = hist.val_steps, hist.val_loss
    i_min = int(np.argmin(vl))
    det = overfit_detector(vs, vl, patience=int(cfg["patience"]), tol=float(cfg["tol"]))
    with blas_threads(1):
        train_full = subj.train_loss_full()  # the whole train split at the end, not the last batch
    best = rec.out_dir / "best_val.safetensors"
    if hist.best_val_state is not None:
        from engine.core import tensorfile

        tensorfile.save({k: np.ascontiguousarray(v) for k, v in hist.best_val_state.items()}, best)
        rec.artifact(best, "best-validation checkpoint")
    i_train = int(np.argmin(hist.train_loss))
    return {
        "t_val_min": vs[i_min],
        "val_loss_at_t_val_min": vl[i_min],
        "t_train_min": hist.steps[i_train],
        "final_train_loss_full_split": train_full,
        "final_val_loss": vl[-1],
        "final_gap": vl[-1] - train_full,
        "detector_step": det,
        "detector_vs_curve_steps": abs(det - vs[i_min]) if det is not None else 10**9,
        "val_rise_after_min": vl[-1] - vl[i_min],
        "detector_hand_case_failures": _detector_case_failures(),
    }


# Hand-made validation curves and the step the detector must report (patience 3, tol 0.02); None = never fires.
DETECTOR_CASES: list[tuple[list[float], int | None]] = [
    ([3.0, 2.0, 1.0, 1.1, 1.2, 1.3], 3),            # three rises after the best at step 3
    ([3.0, 2.0, 1.0, 1.1, 1.2], None),              # only two: not yet
    ([2.0, 1.0, 1.05, 1.01, 1.05, 1.05], None),     # 1.01 is within tol of the best: the count starts again
    ([2.0, 1.0, 1.01, 1.015, 1.019, 1.0], None),    # noise within tol never counts
    ([2.0, 1.0, 0.9, 1.0, 1.1, 1.2], 3),            # the best moved to step 3
]


def _detector_case_failures() -> int:
    return sum(overfit_detector(list(range(1, len(v) + 1)), v, 3, 0.02) != want for v, want in DETECTOR_CASES)


def overfit_detector(steps: list[int], val: list[float], patience: int = 5, tol: float = 0.02) -> int | None:
    """Online rule: once val has stayed `tol` (relative) above its best for `patience` evaluations,
    report the step of that best. Returns None if it never fires."""
    best, best_step, bad = math.inf, None, 0
    for s, v in zip(steps, val, strict=True):
        if v < best:
            best, best_step, bad = v, s, 0
        elif v > best * (1 + tol):
            bad += 1
            if bad >= patience:
                return best_step
        else:
            bad = 0
    return None


# ---------------------------------------------------------------------- lab 04: spike injection
def spike_injection(cfg: dict, rec: Recorder) -> dict:
    """Baseline and three injections from the same seed; measure each spike and its recovery."""
    k, total = int(cfg["injection_step"]), int(cfg["total_steps"])
    clip = None if cfg["fault"] == FAULT else float(cfg["grad_clip"])
    only = cfg["injection"]
    kinds = ["none", "scale", "bad_batch", "v_corrupt"] if only in (None, "none", "all") else ["none", only]
    base = {"seed": cfg["seed"], "steps": total, "injection_step": k, "grad_clip": clip, "warmup": min(100, k // 2),
            "stats_every": 10**9, "eval_every": 10**9, "subject": cfg["subject"],
            "lr_max": float(cfg["lr_max"])}
    runs = {}
    for j, kind in enumerate(kinds):
        runs[kind], _ = train({**base, "injection": kind}, rec, series=kind)
        rec.progress(j + 1, len(kinds))
    ref = runs["none"]
    out: dict[str, Any] = {"grad_clip": "none" if clip is None else clip, "injection_step": k}
    for kind in kinds[1:]:
        h = runs[kind]
        window = h.pre[max(0, k - 20):k]
        out[f"{kind}_preclip_ratio"] = h.pre[k] / statistics.median(window)
        out[f"{kind}_postclip_norm"] = h.post[k]
        out[f"{kind}_loss_jump"] = max(a - b for a, b in zip(h.train_loss[k:k + 10], ref.train_loss[k:k + 10],
                                                              strict=True))
        out[f"{kind}_recovery_steps"] = _recovery(h.train_loss, ref.train_loss, k)
        out[f"{kind}_loss_spike_flagged"] = bool(any(h.spikes[k:k + 3]))
        out[f"{kind}_grad_spike_flagged"] = k in detect_spikes(h.pre, window=50, k=5.0)
        out[f"{kind}_final_loss_delta"] = statistics.mean(h.train_loss[-20:]) - statistics.mean(ref.train_loss[-20:])
    all_runs = list(runs.values())
    out["postclip_equals_preclip"] = bool(all(np.array_equal(h.pre, h.post) for h in all_runs))
    out["baseline_spikes_flagged"] = int(sum(ref.spikes))
    out["spike_detector_hand_case_failures"] = _spike_case_failures()
    out["clip_hand_case_err"] = _clip_case_error()
    # a second spike while the first is still in the window: the median and MAD ignore the first
    # outlier (a mean/std rule would be blinded by it)
    out["spike_after_spike_flagged"] = detect_spikes([1.0, 1.1, 0.9, 1.0, 1.05, 50.0, 8.0], window=5, k=5.0) == [5, 6]
    return out


def _spike_case_failures() -> int:
    """The detector on hand-made series (window 5, k 5): where it must fire and where it must stay silent."""
    cases = [([1.0, 1.1, 0.9, 1.0, 1.05, 9.0], [5]),                 # a clear spike once the window is full
             ([9.0, 1.0, 1.0], []),                                  # silent before the window is full
             ([1.0] * 5 + [1.0 + 1e-12, 1.0], []),                   # rounding noise on a flat window
             ([1.0, 1.1, 0.9, 1.0, 1.05, float("nan")], [5]),        # a NaN loss is always a spike
             ([1.0, 1.1, 0.9, 1.0, 1.05, 1.0, 1.02, 50.0, 1.0], [7])]  # the window slides past the spike
    return sum(detect_spikes(v, window=5, k=5.0) != want for v, want in cases)


def _clip_case_error() -> float:
    """clip_grad_norm on gradients of global norm 5 at max_norm 1: (5, 1) and each gradient scaled by 1/5."""
    a, b = Tensor(np.zeros(2)), Tensor(np.zeros(2))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([0.0, 4.0])
    pre, post = clip_grad_norm([a, b], 1.0)
    small = Tensor(np.zeros(1))
    small.grad = np.array([0.5])
    kept = clip_grad_norm([small], 1.0)
    return max(abs(pre - 5.0), abs(post - 1.0), float(np.abs(a.grad - [0.6, 0.0]).max()),
               float(np.abs(b.grad - [0.0, 0.8]).max()), abs(kept[0] - 0.5), abs(kept[1] - 0.5), abs(small.grad[0] - 0.5))


def _recovery(loss: list[float], ref: list[float], k: int, rel: float = 0.1, hold: int = 5) -> int:
    """Steps after k until the injected run's loss stays within `rel` of the baseline for `hold` steps."""
    for t in range(k, len(loss) - hold + 1):
        if all(math.isfinite(loss[s]) and loss[s] <= ref[s] * (1 + rel) for s in range(t, t + hold)):
            return t - k
    return len(loss) - k
