"""Phase 08 labs: tensor ops against torch, gradcheck on random broadcast shapes, a tensor MLP.

Fault `skip_unbroadcast` (the phase's break): backward hands the full broadcast gradient to a
parent that was broadcast, instead of summing it back to the parent's shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.labs._tense_data import phrase_dataset
from engine.scratch.autograd.gradcheck import GradcheckError, numerical_grad, tensor_gradcheck
from engine.scratch.autograd.op_table import ce_formula_err, matmul_formula_err, max_ties_err, op_error, op_table
from engine.scratch.autograd.tensor import Tensor, cross_entropy, no_grad, set_unbroadcast
from engine.scratch.optim.plain import descend

FAULT = "skip_unbroadcast"


@contextlib.contextmanager
def _fault(cfg: dict) -> Iterator[None]:
    with set_unbroadcast(cfg.get("fault") != FAULT):
        yield


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def tensor_ops_vs_torch(cfg: dict, rec: Recorder) -> dict:
    """Lab 01: each op's value and input gradients against torch float64 (or central differences)."""
    torch = _torch() if cfg["use_torch"] else None
    tol = float(cfg["tol"]) if torch is not None else 1.0
    rng = np.random.default_rng(cfg["seed"])
    ops = op_table(torch)
    agree, worst, shape_bugs = 0, 0.0, 0
    with _fault(cfg):
        for step, (name, (f, tf, shapes)) in enumerate(ops.items()):
            err, shapes_ok = op_error(f, tf, [rng.uniform(-2, 2, size=s) for s in shapes], step, torch)
            shape_bugs += not shapes_ok
            agree += int(err <= tol)
            worst = max(worst, err)
            rec.log(step, stage="ops", op=name, log10_err=float(np.log10(max(err, 1e-17))) if np.isfinite(err) else 3.0)
    return {
        "oracle": "torch-float64" if torch is not None else "gradcheck",
        "ops_checked": len(ops),
        "ops_agree": agree,
        "all_agree": agree == len(ops),
        "max_abs_err": worst if np.isfinite(worst) else "inf",
        "grad_shape_bugs": shape_bugs,
        "ce_formula_err": ce_formula_err(rng),
        "matmul_formula_err": matmul_formula_err(rng),
        "max_ties_err": max_ties_err(torch) if torch is not None else 0.0,
    }


def _broadcast_pair(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape = tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(1, 4)))
    other = tuple(n if rng.random() < 0.5 else 1 for n in shape)
    other = other[int(rng.integers(0, len(other) + 1)):]
    return (shape, other) if rng.random() < 0.5 else (other, shape)


def gradcheck_properties(cfg: dict, rec: Recorder) -> dict:
    """Lab 02: N random broadcastable shape pairs x a random op, each gradchecked in float64."""
    rng = np.random.default_rng(cfg["seed"])
    n = int(cfg["n_cases"])
    ops: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
        "div": lambda a, b: a / (b * b + 1.0), "gelu(a*b)": lambda a, b: (a * b).gelu(),
    }
    names = sorted(ops)
    passed, shape_failures, broadcasting_cases = 0, 0, 0
    with _fault(cfg):
        for i in range(n):
            sa, sb = _broadcast_pair(rng)
            op = names[int(rng.integers(len(names)))]
            a, b = Tensor(rng.uniform(-2, 2, size=sa)), Tensor(rng.uniform(-2, 2, size=sb))
            broadcasting_cases += int(sa != sb)
            try:
                ok = tensor_gradcheck(ops[op], [a, b], eps=1e-6, atol=1e-5, rtol=1e-4)
            except GradcheckError as err:
                ok = False
                shape_failures += int("shape" in str(err))
            except ValueError:
                ok = False
                shape_failures += 1
            passed += int(ok)
            rec.log(i, stage="cases", passed_so_far=passed)
            rec.progress(i + 1, n)

    # gradcheck error vs eps on a smooth tensor function: the U-shape
    x0 = np.random.default_rng(0).normal(size=(3, 4))
    xt = Tensor(x0.copy(), requires_grad=True)
    (xt.tanh() * xt).softmax(-1).max(axis=1).sum().backward()
    best_eps, best_err = 0.0, np.inf
    for k in range(1, 13):
        eps = 10.0**-k
        xx = x0.copy()
        with no_grad():
            num = numerical_grad(lambda xx=xx: float((Tensor(xx).tanh() * Tensor(xx)).softmax(-1).max(axis=1).sum().data), xx, eps)
        err = float(np.max(np.abs(num - xt.grad)))
        rec.log(k, stage="eps", eps=eps, abs_err=max(err, 1e-17))
        if err < best_err:
            best_eps, best_err = eps, err
    return {
        "n_cases": n,
        "n_passed": passed,
        "all_pass": passed == n,
        "broadcasting_cases": broadcasting_cases,
        "shape_failures": shape_failures,
        "best_eps": best_eps,
    }


def train_tense_classifier(cfg: dict, rec: Recorder) -> dict:
    """Lab 03: a 2-layer tensor MLP (raw tensors, inline SGD) tags the tense of a phrase."""
    data = phrase_dataset(cfg["seed"], val_fraction=float(cfg["val_fraction"]))
    rng = np.random.default_rng(cfg["seed"])
    d, h, k = data.x_train.shape[1], int(cfg["hidden"]), len(data.classes)
    w1 = Tensor(rng.uniform(-1, 1, size=(d, h)) / np.sqrt(d), requires_grad=True, dtype=np.float32)
    b1 = Tensor(np.zeros(h), requires_grad=True, dtype=np.float32)
    w2 = Tensor(rng.uniform(-1, 1, size=(h, k)) / np.sqrt(h), requires_grad=True, dtype=np.float32)
    b2 = Tensor(np.zeros(k), requires_grad=True, dtype=np.float32)
    params = [w1, b1, w2, b2]

    def forward(x: np.ndarray) -> Tensor:
        return ((Tensor(x) @ w1 + b1).gelu()) @ w2 + b2

    lr, epochs = float(cfg["lr"]), int(cfg["epochs"])

    def logged(epoch: int, loss: Tensor) -> None:
        if epoch % 5 == 0 or epoch == epochs - 1:
            with no_grad():
                val_acc = float((forward(data.x_val).data.argmax(1) == data.y_val).mean())
            rec.log(epoch, loss=loss.item(), val_acc=val_acc)
        rec.progress(epoch + 1, epochs)

    with _fault(cfg):
        last = descend(params, lambda: cross_entropy(forward(data.x_train), data.y_train), lr, epochs,
                       after=logged)
    loss = last if last is not None else Tensor(0.0)
    with no_grad():
        train_acc = float((forward(data.x_train).data.argmax(1) == data.y_train).mean())
        val_pred = forward(data.x_val).data.argmax(1)
    wrong = [f"{t} -> {data.classes[p]}" for t, p, y in zip(data.phrases_val, val_pred, data.y_val, strict=True) if p != y]
    return {
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "n_features": d,
        "final_loss": loss.item(),
        "train_acc": train_acc,
        "val_acc": float((val_pred == data.y_val).mean()),
        "val_errors": wrong[:10],
    }
