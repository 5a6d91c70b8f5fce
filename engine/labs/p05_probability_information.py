"""Phase 05 labs: entropy, KL and cross-entropy, stable log-softmax, calibration.

All deterministic. The break (`log_of_softmax`) computes cross-entropy as -log(softmax(z)[y])
in fp32 instead of -log_softmax(z)[y].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.scratch.probability import calibration as C
from engine.scratch.probability import info, logits
from engine.scratch.probability import toy_classifier as T

PAPER = {"A": [1, 0, 0, 0, 0], "B": [0.5, 0.5, 0, 0, 0], "C": [0.25, 0.25, 0.25, 0.25, 0],
         "D": [0.2] * 5, "E": [0.6, 0.1, 0.1, 0.1, 0.1]}


def entropy_by_hand(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: the five paper entropies, input validation, H <= log V over Dirichlet samples."""
    out: dict[str, Any] = {f"H_{k}": info.entropy(np.array(v, float)) for k, v in PAPER.items()}
    rejected = 0
    for bad in ([0.5, 0.6], [-0.1, 1.1], [[0.5, 0.5]], []):
        try:
            info.entropy(np.array(bad, float))
        except ValueError:
            rejected += 1
    rng = np.random.default_rng(cfg["seed"])
    worst = 0.0
    step = 0
    for v in [int(x) for x in cfg["vocab_sizes"]]:
        samples = rng.dirichlet(np.ones(v), int(cfg["n_samples"]))
        ratios = np.array([info.entropy(p / p.sum()) for p in samples]) / math.log(v)
        worst = max(worst, float(ratios.max()))
        hist, edges = np.histogram(ratios, bins=20, range=(0, 1))
        for i, h in enumerate(hist):
            rec.log(step, stage="hist", V=v, ratio_mid=float((edges[i] + edges[i + 1]) / 2), count=int(h))
            step += 1
    out.update({"invalid_rejected": rejected, "max_H_over_logV": worst,
                "uniform_600_minus_log600": abs(info.entropy(np.full(600, 1 / 600)) - math.log(600)),
                "H_D_bits": out["H_D"] / math.log(2)})
    return out


def kl_and_cross_entropy(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: H(p,q) = H(p) + KL(p||q), Gibbs' inequality, asymmetry, one-hot CE."""
    rng = np.random.default_rng(cfg["seed"])
    v = int(cfg["V"])
    worst_identity = 0.0
    for i in range(int(cfg["n_pairs"])):
        p, q = rng.dirichlet(np.ones(v)), rng.dirichlet(np.ones(v))
        gap = abs(info.entropy(p) + info.kl(p, q) - info.cross_entropy(p, q))
        worst_identity = max(worst_identity, gap)
        rec.log(i, stage="identity", gap=max(gap, 1e-18))
    kls = [info.kl(p, q) for p, q in ((rng.dirichlet(np.ones(600)), rng.dirichlet(np.ones(600))) for _ in range(1000))]
    p_a, uni = np.array([0.5, 0.5, 0, 0, 0]), np.full(5, 0.2)
    onehot, q = np.array([1.0, 0, 0, 0, 0]), np.array([0.6, 0.1, 0.1, 0.1, 0.1])
    return {
        "identity_max_gap": worst_identity, "kl_min_over_1000": float(min(kls)),
        "kl_self": max(abs(info.kl(p, p)) for p in rng.dirichlet(np.ones(v), 50)),
        "kl_A": info.kl(p_a, uni), "kl_B_is_inf": bool(np.isposinf(info.kl(uni, p_a))),
        "onehot_ce": info.cross_entropy(onehot, q), "onehot_ce_minus_log": abs(info.cross_entropy(onehot, q) + math.log(0.6)),
        "kl_onehot_equals_ce": abs(info.kl(onehot, q) - info.cross_entropy(onehot, q)),
    }


def log_sum_exp_lab(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: naive vs stable logsumexp/log-softmax/CE; scipy parity; the break's two cases."""
    from scipy import special

    sane = [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]
    wild = [[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -998.0]]
    naive_bad = sum(not np.isfinite(logits.logsumexp_naive(np.array(z))) for z in wild)
    naive_ok_sane = all(abs(float(logits.logsumexp_naive(np.array(z))) - float(special.logsumexp(z))) < 1e-12 for z in sane)
    rng = np.random.default_rng(cfg["seed"])
    families = {"uniform": np.zeros((8, 600)), "peaked": rng.standard_normal((8, 600)) * 20,
                "large": rng.standard_normal((8, 600)) + 1e4, "small": rng.standard_normal((8, 600)) * 1e-6,
                "negative": rng.standard_normal((8, 600)) - 1e4}
    parity = 0.0
    for i, (name, z) in enumerate(families.items()):
        ref = special.log_softmax(z, axis=-1)
        d1 = float(np.max(np.abs(logits.log_softmax(z) - ref) / np.maximum(1.0, np.abs(z))))
        d2 = float(np.max(np.abs((logits.logsumexp(z) - special.logsumexp(z, axis=-1)) / np.maximum(1.0, np.abs(special.logsumexp(z, axis=-1))))))
        parity = max(parity, d1, d2)
        rec.log(i, stage="parity", family=name, log_softmax_diff=max(d1, 1e-18), lse_rel_diff=max(d2, 1e-18))
    z = rng.standard_normal(600)
    shift = float(abs(logits.logsumexp(z + 123.0) - logits.logsumexp(z) - 123.0))
    shift_ls = float(np.max(np.abs(logits.log_softmax(z + 123.0) - logits.log_softmax(z))))
    # The break: float32 logits, CE via log(softmax) (broken) or log_softmax (healthy).
    ce = logits.cross_entropy_via_log_of_softmax if cfg.get("fault") == "log_of_softmax" else logits.cross_entropy_from_logits
    small = ce(np.array([1.2, 4.7, 3.1, 0.5, 2.9], np.float32), 2)
    huge = ce(np.array([10.0, 92.0, 30.0, -50.0, 40.0], np.float32), 3)
    zb = rng.standard_normal((64, 600)) * 3
    yb = rng.integers(0, 600, 64)
    batch_gap = abs(logits.cross_entropy_batch(zb, yb) - float(np.mean([logits.cross_entropy_from_logits(zb[i], yb[i]) for i in range(64)])))
    return {"naive_nonfinite_on_wild": int(naive_bad), "naive_ok_on_sane": naive_ok_sane, "scipy_max_diff": parity,
            "shift_invariance_err": shift, "log_softmax_shift_err": shift_ls, "batch_vs_loop_gap": batch_gap,
            "ce_small": small, "ce_huge": huge if math.isfinite(huge) else str(huge), "ce_huge_finite": math.isfinite(huge)}


def calibration(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: an over-confident toy tense classifier, ECE and reliability, temperature scaling."""
    seed = int(cfg["seed"])
    d = T.make_data(seed, int(cfg["n_train"]), int(cfg["n_val"]), int(cfg["n_test"]),
                    separation=float(cfg["separation"]))
    w, b, losses = T.train_softmax_regression(*d["train"], 5, int(cfg["epochs"]), float(cfg["lr"]),
                                              int(cfg["batch"]), seed)
    for e, loss in enumerate(losses):
        rec.log(e, stage="train", train_loss=loss)
    (xt, yt), (xv, yv) = d["test"], d["val"]
    zt, zv = xt @ w + b, xv @ w + b
    t_star = C.fit_temperature(zv, yv)
    before, after = C.scaled_probs(zt, 1.0), C.scaled_probs(zt, t_star)
    for tag, probs in (("before", before), ("after", after)):
        for r in C.reliability_bins(probs, yt, int(cfg["n_bins"])):
            rec.log(r["bin"], stage="reliability", scaling=tag, **r)
    acc = float((zt.argmax(1) == yt).mean())
    return {"test_acc": acc, "acc_after": float((after.argmax(1) == yt).mean()),
            "acc_unchanged": bool(np.array_equal(after.argmax(1), before.argmax(1))),
            "ece_before": C.ece(before, yt), "ece_after": C.ece(after, yt), "temperature": t_star,
            "nll_before": logits.cross_entropy_batch(zt, yt), "nll_after": logits.cross_entropy_batch(zt / t_star, yt),
            "mean_confidence": float(before.max(1).mean()), "final_train_loss": losses[-1]}

