"""Phase 04 labs: softmax/CE gradients, a tiny-MLP Jacobian, optimizers on Rosenbrock, LR schedules.

All deterministic. The break (`no_momentum`) sets the momentum coefficient to 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.scratch.calculus import jacobian as J
from engine.scratch.calculus import optim_steps as O
from engine.scratch.optim import schedules as S

Z = np.array([2.0, 1.0, 0.5, -1.0, 0.0])


def softmax_gradient(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: J_softmax = diag(p) - p p^T and dCE/dz = p - onehot(y), both vs central differences."""
    z = np.asarray(cfg["z"], dtype=np.float64)
    h = float(cfg["h"])
    jac, jac_fd = J.softmax_jacobian(z), J.softmax_jacobian_fd(z, h)
    ce_errs = []
    for y in range(z.size):
        err = float(np.max(np.abs(J.ce_grad(z, y) - J.ce_grad_fd(z, y, h))))
        ce_errs.append(err)
        rec.log(y, stage="ce", y=y, loss=J.ce_loss(z, y), max_abs_err=err)
    # fp32 needs a larger step: rounding error ~ eps/h dominates at h = 1e-5.
    z32 = z.astype(np.float32)
    fd32 = J.numerical_jacobian(lambda v: J.stable_softmax(v.astype(np.float32)).astype(np.float64), z32.astype(np.float64), 1e-3)
    for i, hh in enumerate(np.logspace(-12, -1, 23)):
        rec.log(i, stage="h_sweep", h=float(hh), jac_err=max(float(np.max(np.abs(jac - J.softmax_jacobian_fd(z, hh)))), 1e-17))
    return {
        "jacobian_max_err": float(np.max(np.abs(jac - jac_fd))), "jacobian_symmetric": bool(np.allclose(jac, jac.T, atol=0)),
        "jacobian_rows_sum_zero": float(np.max(np.abs(jac.sum(axis=1)))), "ce_grad_max_err": max(ce_errs),
        "fp32_jacobian_err_h1e-3": float(np.max(np.abs(jac - fd32))),
        "ce_grad_sums_to_zero": float(abs(J.ce_grad(z, 0).sum())),
    }


def mlp_jacobian(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: dy/dW1 of a 3-4-2 ReLU MLP, analytical vs numerical; the ReLU kink shown."""
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal(3)
    w1, b1 = rng.standard_normal((4, 3)), rng.standard_normal(4)
    w2, b2 = rng.standard_normal((2, 4)), rng.standard_normal(2)
    ana = J.analytical_jacobian_w1(x, w1, b1, w2, b2)
    num = J.numerical_jacobian_w1(x, w1, b1, w2, b2)
    err = float(np.max(np.abs(ana - num)))
    for j in range(ana.shape[1]):
        rec.log(j, stage="jacobian", column=j, analytical=float(ana[0, j]), numerical=float(num[0, j]))
    kink_b1 = b1.copy()
    kink_b1[0] = -w1[0] @ x  # hidden unit 0 sits exactly on the ReLU kink
    ana_k = J.analytical_jacobian_w1(x, w1, kink_b1, w2, b2)
    num_k = J.numerical_jacobian_w1(x, w1, kink_b1, w2, b2)
    kink_err = float(np.max(np.abs(ana_k - num_k)))
    # the FD value at the kink is the average of the two one-sided slopes: half the active-side value
    half = float(np.max(np.abs(num_k[:, :3] - 0.5 * np.outer(w2[:, 0], x))))
    return {"shape": list(ana.shape), "max_err": err, "kink_max_err": kink_err, "kink_fd_is_half_slope_err": half,
            "active_units": int(np.sum(w1 @ x + b1 > 0))}


OPTIMIZERS = {
    "SGD": (O.sgd_step, 2e-3, {}),
    "Momentum": (O.momentum_step, 2e-3, {"beta": 0.9}),
    "Adam": (O.adam_step, 5e-2, {}),
    "AdamW": (O.adamw_step, 5e-2, {"weight_decay": 0.0}),
}


def rosenbrock_race(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: four optimizers from (-1.5, 2) for 2000 steps; a contour PNG of the paths.

    Also the break probe: momentum from (-1.5, 1.5) at lr 1e-3 for 5000 steps, where removing
    the momentum term leaves the loss at step 1000 above 1 instead of near 1e-5.
    """
    from engine.torchstack.parity import rosenbrock_paths_vs_torch  # torch loads only for this lab

    beta = 0.0 if cfg.get("fault") == "no_momentum" else float(cfg["beta"])
    n = int(cfg["n_steps"])
    every = int(cfg["log_every"])
    runs: dict[str, dict[str, Any]] = {}
    for name, (fn, lr, kw) in OPTIMIZERS.items():
        kw = dict(kw, beta=beta) if name == "Momentum" else kw
        runs[name] = r = O.run(fn, lr, n, (-1.5, 2.0), **kw)
        for t in range(0, n + 1, every):
            rec.log(t, stage="race", optimizer=name, x=float(r["path"][t, 0]), y=float(r["path"][t, 1]),
                    loss=max(float(r["loss"][t]), 1e-30))
    wd = {w: O.run(O.adamw_step, 5e-2, n, (-1.5, 2.0), weight_decay=w)["distance"] for w in (0.01, 0.1)}
    probe = O.run(O.momentum_step, 1e-3, int(cfg["probe_steps"]), (-1.5, 1.5), beta=beta)
    for t in range(0, len(probe["loss"]) - 1, 25):
        rec.log(t, stage="probe", x0=float(probe["path"][t, 0]), loss=max(float(probe["loss"][t]), 1e-30),
                grad_norm=float(probe["grad_norm"][t]))
    d = {k: v["distance"] for k, v in runs.items()}
    return {
        "dist_sgd": d["SGD"], "dist_momentum": d["Momentum"], "dist_adam": d["Adam"], "dist_adamw": d["AdamW"],
        "sgd_over_adam": d["SGD"] / max(d["Adam"], 1e-300),
        "adamw_wd0_max_diff": float(np.max(np.abs(runs["AdamW"]["path"] - runs["Adam"]["path"]))),
        "dist_adamw_wd_0.01": wd[0.01], "dist_adamw_wd_0.1": wd[0.1],
        "momentum_beta": beta, "probe_loss_step0": float(probe["loss"][0]),
        "probe_loss_step1000": float(probe["loss"][1000]), "probe_loss_final": float(probe["loss"][-1]),
        **{f"torch_{k}_max_diff": v for k, v in rosenbrock_paths_vs_torch().items()},
    }


def lr_schedules(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: constant, step decay, cosine, warmup-cosine and WSD over 10,000 steps (eta_0 = 1)."""
    total, warm, stable = int(cfg["total"]), int(cfg["warmup"]), int(cfg["stable"])
    eta0, eta_min = 1.0, float(cfg["eta_min"])
    scheds = {
        "constant": S.constant(eta0),
        "step_decay": S.step_decay(eta0, int(cfg["step"]), float(cfg["gamma"])),
        "cosine": S.cosine(eta0, total, eta_min),
        "warmup_cosine": S.warmup_cosine(eta0, warm, total, eta_min),
        "wsd": S.wsd(eta0, warm, stable, total - warm - stable, eta_min),
    }
    curves = {k: np.array([f(t) for t in range(total + 1)]) for k, f in scheds.items()}
    for t in range(0, total + 1, int(cfg["log_every"])):
        for k, c in curves.items():
            rec.log(t, stage="schedules", schedule=k, lr=float(c[t]))
    names = list(curves)
    min_gap = min(float(np.max(np.abs(curves[a] - curves[b]))) for i, a in enumerate(names) for b in names[i + 1:])
    w, c = curves["wsd"], curves["warmup_cosine"]
    return {
        "constant_spread": float(np.ptp(curves["constant"])),
        "warmup_start": float(c[0]), "warmup_start_times_warmup_over_base": float(c[0]) * warm / eta0,
        "warmup_peak": float(c[warm]), "warmup_peak_step": int(np.argmax(c)),
        "cosine_end": float(curves["cosine"][total]), "warmup_cosine_end": float(c[total]),
        "step_decay_drop": float(curves["step_decay"][999] / curves["step_decay"][1000]),
        "wsd_stable_flat": bool(np.all(w[warm:warm + stable] == eta0)), "wsd_end": float(w[total]),
        "wsd_rising": bool(np.all(np.diff(w[:warm]) > 0)), "wsd_falling": bool(np.all(np.diff(w[warm + stable:]) <= 0)),
        "min_pairwise_gap": min_gap,
    }
