"""Phase 10 labs: variance through depth, init ablation, norm ablation, 50 residual blocks vs plain.

Fault `no_residual` (the phase's break): every Residual block returns f(x) instead of
x + f(x), so the "residual" network of lab 04 is the plain one.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn import BatchNorm1d, LayerNorm, Linear, Module, ReLU, RMSNorm, Sequential, init
from engine.scratch.nn.blocks import residual_stack
from engine.scratch.nn.fit import fit_minibatch
from engine.scratch.optim import SGD

FAULT = "no_residual"


# ---------------------------------------------------------------------- lab 01: variance walk
def _weight_std(kind: str, n_in: int) -> float:
    return {"uniform": math.sqrt(1 / 12), "xavier": math.sqrt(1 / n_in), "kaiming": math.sqrt(2 / n_in)}[kind]


def variance_walk(cfg: dict, rec: Recorder) -> dict:
    """Push N(0, 1) inputs through `depth` random square layers; record the variance at each layer.

    Series: uniform[-0.5, 0.5], Xavier N(0, 1/n), Kaiming N(0, 2/n), all linear (no activation,
    the course's setup), plus Xavier and Kaiming followed by ReLU. Theory: Var_l = Var_{l-1} *
    n * Var(W), halved after a ReLU (it zeroes half of a symmetric input).
    """
    depth, n, batch = int(cfg["depth"]), int(cfg["hidden"]), int(cfg["batch"])
    series = [("uniform", False), ("xavier", False), ("kaiming", False), ("xavier", True), ("kaiming", True)]
    out: dict[str, Any] = {}
    for i, (kind, relu) in enumerate(series):
        name = f"{kind}+relu" if relu else kind
        rng = np.random.default_rng(cfg["seed"] + i)  # each init seeded separately
        x = rng.normal(size=(batch, n))
        var, theory = float(x.var()), 1.0
        gain_per_layer = n * _weight_std(kind, n) ** 2 * (0.5 if relu else 1.0)
        rec.log(0, init=name, variance=var, theory=theory)
        deviations = []
        for layer in range(1, depth + 1):
            if kind == "uniform":
                w = rng.uniform(-0.5, 0.5, size=(n, n))
            else:
                w = rng.normal(0.0, _weight_std(kind, n), size=(n, n))
            pre = x @ w
            x = np.maximum(pre, 0.0) if relu else pre
            # the ReLU halves E[x^2], so track the second moment (what the next layer sees)
            new = float(np.mean(x * x)) if relu else float(x.var())
            if math.isfinite(new) and var > 0:
                deviations.append(abs(new / var / gain_per_layer - 1))
            var = new
            theory *= gain_per_layer
            rec.log(layer, init=name, variance=var if math.isfinite(var) else 1e308, theory=theory)
        key = name.replace("+", "_")
        out[f"{key}_final_variance"] = var
        out[f"{key}_theory_final"] = theory
        out[f"{key}_growth_per_layer"] = (var / 1.0) ** (1 / depth) if var > 0 and math.isfinite(var) else float("inf")
        out[f"{key}_mean_layer_deviation"] = float(np.mean(deviations))
    out["any_overflow"] = any(not math.isfinite(v) for k, v in out.items() if k.endswith("_final_variance"))
    out.update(init_vs_torch(cfg["seed"]))
    return out


def norms_vs_torch(seed: int) -> dict[str, float]:
    """LayerNorm, RMSNorm and BatchNorm1d (training step: output, input/weight/bias gradients, running
    statistics) against torch.nn.functional in float64."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    x0, g_up = rng.normal(1.0, 2.0, size=(6, 8)), rng.normal(size=(6, 8))
    w0, b0 = rng.normal(1.0, 0.3, size=8), rng.normal(0.0, 0.3, size=8)
    out: dict[str, float] = {}
    for name in ("layernorm", "rmsnorm", "batchnorm"):
        mod = {"layernorm": LayerNorm(8, dtype=np.float64), "rmsnorm": RMSNorm(8, dtype=np.float64),
               "batchnorm": BatchNorm1d(8, dtype=np.float64)}[name]
        mod.weight.data[...] = w0
        if hasattr(mod, "bias"):
            mod.bias.data[...] = b0
        x = Tensor(x0.copy(), requires_grad=True)
        y = mod(x)
        (y * Tensor(g_up)).sum().backward()
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        if name == "layernorm":
            ty = F.layer_norm(tx, (8,), tw, tb, eps=mod.eps)
        elif name == "rmsnorm":
            ty = F.rms_norm(tx, (8,), tw, eps=mod.eps)
        else:
            rm, rv = torch.zeros(8, dtype=torch.float64), torch.ones(8, dtype=torch.float64)
            ty = F.batch_norm(tx, rm, rv, tw, tb, training=True, momentum=mod.momentum, eps=mod.eps)
        (ty * torch.tensor(g_up)).sum().backward()
        err = max(float(np.abs(y.data - ty.detach().numpy()).max()), float(np.abs(x.grad - tx.grad.numpy()).max()),
                  float(np.abs(mod.weight.grad - tw.grad.numpy()).max()))
        if name != "rmsnorm":
            err = max(err, float(np.abs(mod.bias.grad - tb.grad.numpy()).max()))
        if name == "batchnorm":
            err = max(err, float(np.abs(mod.running_mean - rm.numpy()).max()), float(np.abs(mod.running_var - rv.numpy()).max()))
        out[f"{name}_vs_torch_err"] = err
    return out


def init_vs_torch(seed: int, shape: tuple[int, int] = (256, 512)) -> dict[str, float]:
    """engine.scratch.nn.init against torch.nn.init: gains and fans exactly, and each initialiser's spread.

    The draws use different generators, so the spread is compared with its closed form: std
    gain / sqrt(fan) (Kaiming), gain * sqrt(2 / (fan_in + fan_out)) (Xavier); uniform variants
    must stay inside their bound sqrt(3) * std and reach it. 131072 draws put the std within 1 %.
    """
    import torch

    out: dict[str, float] = {}
    names = [("linear", None), ("relu", None), ("tanh", None), ("sigmoid", None), ("leaky_relu", 0.2), ("selu", None)]
    out["gain_max_diff"] = max(abs(init.calculate_gain(n, a) - torch.nn.init.calculate_gain(n, a)) for n, a in names)
    w = Tensor(np.zeros(shape))
    fan_in, fan_out = init.fans(w.shape)
    t_in, t_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    out["fans_match_torch"] = float(fan_in == t_in and fan_out == t_out)
    rng = np.random.default_rng(seed)
    relu = math.sqrt(2.0)
    expected = {"kaiming_normal": relu / math.sqrt(fan_in), "kaiming_uniform": relu / math.sqrt(fan_in),
                "xavier_normal": math.sqrt(2.0 / (fan_in + fan_out)), "xavier_uniform": math.sqrt(2.0 / (fan_in + fan_out))}
    draw = {"kaiming_normal": lambda: init.kaiming_normal_(w, nonlinearity="relu", rng=rng),
            "kaiming_uniform": lambda: init.kaiming_uniform_(w, nonlinearity="relu", rng=rng),
            "xavier_normal": lambda: init.xavier_normal_(w, rng=rng),
            "xavier_uniform": lambda: init.xavier_uniform_(w, rng=rng)}
    for name, fn in draw.items():
        fn()
        out[f"{name}_std_rel_err"] = abs(float(w.data.std()) / expected[name] - 1)
        if name.endswith("uniform"):
            out[f"{name}_max_over_bound"] = float(np.abs(w.data).max()) / (math.sqrt(3.0) * expected[name])
    return out


# ---------------------------------------------------------------------- shared toy task and MLP
def _toy_data(seed: int, n_train: int, n_val: int, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian inputs; label 1 when the sum of the first 10 coordinates is positive (the course's task)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_train + n_val, dim)).astype(np.float32)
    y = (x[:, :10].sum(axis=1) > 0).astype(np.int64)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _init_linear(lin: Linear, kind: str, rng: np.random.Generator) -> None:
    if kind == "uniform":
        init.uniform_(lin.weight, -0.5, 0.5, rng)
    else:
        init.normal_(lin.weight, _weight_std(kind, lin.in_features), rng)


def _deep_mlp(depth: int, dim: int, hidden: int, kind: str, norm: str, seed: int) -> Sequential:
    """`depth` Linear layers (the last one to 2 logits), ReLU between, optional norm before each ReLU."""
    rng = np.random.default_rng(seed)
    layers: list[Module] = []
    n_in = dim
    for _ in range(depth - 1):
        lin = Linear(n_in, hidden, rng=rng)
        _init_linear(lin, kind, rng)
        layers.append(lin)
        if norm == "layernorm":
            layers.append(LayerNorm(hidden))
        elif norm == "rmsnorm":
            layers.append(RMSNorm(hidden))
        elif norm == "batchnorm":
            layers.append(BatchNorm1d(hidden))
        layers.append(ReLU())
        n_in = hidden
    head = Linear(n_in, 2, rng=rng)
    _init_linear(head, kind, rng)
    layers.append(head)
    return Sequential(*layers)


def _train(model: Module, cfg: dict, data: tuple, rec: Recorder, tag: dict[str, str],
           grad_of: Linear | None = None) -> dict[str, Any]:
    """Minibatch SGD with momentum (engine.scratch.nn.fit); stops at the first non-finite loss. Same batch order for every model."""
    opt = SGD(list(model.parameters()), lr=float(cfg["lr"]), momentum=float(cfg["momentum"]))
    res = fit_minibatch(model, opt, data, steps=int(cfg["steps"]), batch=int(cfg["batch"]), seed=cfg["seed"] + 1000,
                        log_every=int(cfg["log_every"]), log=lambda step, **m: rec.log(step, **m, **tag), grad_of=grad_of)
    if res["nan_step"] >= 0:
        rec.note(f"{tag}: loss is {res['stop_loss']} at step {res['nan_step']}; training stopped")
    return res


# ---------------------------------------------------------------------- lab 02: init ablation
def init_ablation(cfg: dict, rec: Recorder) -> dict:
    """Same data, architecture and optimizer; only the weight init differs: uniform, Xavier, Kaiming."""
    dim, depth, hidden = int(cfg["dim"]), int(cfg["depth"]), int(cfg["hidden"])
    data = _toy_data(cfg["seed"], int(cfg["n_train"]), int(cfg["n_val"]), dim)
    out: dict[str, Any] = {}
    for i, kind in enumerate(("uniform", "xavier", "kaiming")):
        model = _deep_mlp(depth, dim, hidden, kind, "none", cfg["seed"] + 1 + i)  # different weight seeds
        res = _train(model, cfg, data, rec, {"init": kind})
        out[f"{kind}_first_loss"] = res["first_loss"]
        out[f"{kind}_final_loss"] = res["final_loss"]
        out[f"{kind}_steps_to_nan"] = res["nan_step"]
        out[f"{kind}_val_acc"] = res["val_acc"]
        rec.progress(i + 1, 3)
    out["uniform_diverged"] = out["uniform_steps_to_nan"] >= 0 or out["uniform_first_loss"] > 10
    out["kaiming_beats_xavier"] = out["kaiming_final_loss"] < out["xavier_final_loss"]
    return out


# ---------------------------------------------------------------------- lab 03: norm ablation
def _time_norm(norm: Module, shape: tuple[int, int], repeats: int, seed: int) -> float:
    """Median seconds for one forward + backward of a norm layer alone."""
    x = Tensor(np.random.default_rng(seed).normal(size=shape).astype(np.float32), requires_grad=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        norm(x).sum().backward()
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) / 1e9


def norm_ablation(cfg: dict, rec: Recorder) -> dict:
    """Kaiming-initialised deep MLP with no norm, LayerNorm, RMSNorm or BatchNorm before each ReLU."""
    dim, depth, hidden = int(cfg["dim"]), int(cfg["depth"]), int(cfg["hidden"])
    data = _toy_data(cfg["seed"], int(cfg["n_train"]), int(cfg["n_val"]), dim)
    out: dict[str, Any] = {}
    variants = ("none", "layernorm", "rmsnorm", "batchnorm")
    for i, norm in enumerate(variants):
        model = _deep_mlp(depth, dim, hidden, "kaiming", norm, cfg["seed"] + 1)  # same weights for all
        res = _train(model, cfg, data, rec, {"norm": norm})
        out[f"{norm}_final_loss"] = res["final_loss"]
        out[f"{norm}_val_acc"] = res["val_acc"]
        rec.progress(i + 1, len(variants))
    ln, rms = out["layernorm_final_loss"], out["rmsnorm_final_loss"]
    out["ln_rms_loss_ratio"] = max(ln, rms) / max(min(ln, rms), 1e-12)
    # timing of the layers alone: logged (metrics.jsonl), never returned, so results stay deterministic
    shape = (int(cfg["time_rows"]), int(cfg["time_dim"]))
    repeats = int(cfg["time_repeats"])
    t_ln = _time_norm(LayerNorm(shape[1]), shape, repeats, cfg["seed"])
    t_rms = _time_norm(RMSNorm(shape[1]), shape, repeats, cfg["seed"])
    rec.log(0, timing="layernorm", norm_ms=t_ln * 1e3)
    rec.log(1, timing="rmsnorm", norm_ms=t_rms * 1e3)
    rec.log(2, rms_over_ln_time=t_rms / t_ln)
    out.update(norms_vs_torch(cfg["seed"]))
    return out


# ---------------------------------------------------------------------- lab 04: residual depth
def residual_depth(cfg: dict, rec: Recorder) -> dict:
    """50 pre-norm blocks with and without the skip connection; loss and layer-1 gradient norm."""
    dim, depth, h = int(cfg["dim"]), int(cfg["depth"]), int(cfg["hidden"])
    data = _toy_data(cfg["seed"], int(cfg["n_train"]), int(cfg["n_val"]), dim)
    out: dict[str, Any] = {}
    for i, variant in enumerate(("residual", "plain")):
        residual = variant == "residual" and cfg.get("fault") != FAULT
        net, first = residual_stack(depth, dim, h, residual, cfg["seed"] + 1)  # identical weights
        res = _train(net, cfg, data, rec, {"variant": variant}, grad_of=first.fc1)
        grads = res["grads"] or [float("nan")]
        out[f"{variant}_first_loss"] = res["first_loss"]
        out[f"{variant}_final_loss"] = res["final_loss"]
        out[f"{variant}_val_acc"] = res["val_acc"]
        out[f"{variant}_grad_layer1_first"] = grads[0]
        out[f"{variant}_grad_layer1_last"] = grads[-1]
        out[f"{variant}_grad_layer1_min"] = float(np.min(grads))
        rec.progress(i + 1, 2)
    out["n_params"] = residual_stack(depth, dim, h, True, 0)[0].num_parameters()
    out["residual_trains"] = out["residual_final_loss"] < 0.5 * out["residual_first_loss"]
    return out
