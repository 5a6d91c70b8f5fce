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
from engine.scratch.autograd.tensor import Tensor, cat, cross_entropy, linear, no_grad, set_unbroadcast, stack

FAULT = "skip_unbroadcast"


@contextlib.contextmanager
def _fault(cfg: dict) -> Iterator[None]:
    with set_unbroadcast(cfg.get("fault") != FAULT):
        yield


def _ops(torch: Any) -> dict[str, tuple[Callable[..., Any], Callable[..., Any], list[tuple[int, ...]]]]:
    F = torch.nn.functional if torch is not None else None
    y = np.array([0, 2, 1, 0])
    ty = torch.tensor(y) if torch is not None else None
    return {
        "add (3,)+(4,3)": (lambda a, b: a + b, lambda a, b: a + b, [(3,), (4, 3)]),
        "sub (4,1)-(1,5)": (lambda a, b: a - b, lambda a, b: a - b, [(4, 1), (1, 5)]),
        "mul (3,1)*(3,5)": (lambda a, b: a * b, lambda a, b: a * b, [(3, 1), (3, 5)]),
        "div (2,3)/(3,)": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0), [(2, 3), (3,)]),
        "neg": (lambda a: -a, lambda a: -a, [(3, 4)]),
        "pow": (lambda a: a**3, lambda a: a**3, [(3, 4)]),
        "exp": (lambda a: a.exp(), lambda a: a.exp(), [(3, 4)]),
        "log": (lambda a: (a * a + 0.5).log(), lambda a: (a * a + 0.5).log(), [(3, 4)]),
        "relu": (lambda a: a.relu(), lambda a: a.relu(), [(3, 4)]),
        "tanh": (lambda a: a.tanh(), lambda a: a.tanh(), [(3, 4)]),
        "gelu": (lambda a: a.gelu(), lambda a: F.gelu(a, approximate="tanh"), [(3, 4)]),
        "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid(), [(3, 4)]),
        "silu": (lambda a: a.silu(), lambda a: F.silu(a), [(3, 4)]),
        "sum(axis=0)": (lambda a: a.sum(axis=0), lambda a: a.sum(0), [(3, 4)]),
        "mean(keepdims)": (lambda a: a.mean(axis=1, keepdims=True), lambda a: a.mean(1, keepdim=True), [(3, 4)]),
        "max(axis=1)": (lambda a: a.max(axis=1), lambda a: a.amax(1), [(3, 4)]),
        "reshape": (lambda a: a.reshape(2, 6), lambda a: a.reshape(2, 6), [(3, 4)]),
        "transpose": (lambda a: a.transpose((2, 0, 1)), lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
        "getitem": (lambda a: a[np.array([0, 0, 2])], lambda a: a[torch.tensor([0, 0, 2])], [(3, 4)]),
        "cat": (lambda a, b: cat([a, b], axis=1), lambda a, b: torch.cat([a, b], 1), [(2, 3), (2, 5)]),
        "stack": (lambda a, b: stack([a, b], axis=0), lambda a, b: torch.stack([a, b], 0), [(2, 3), (2, 3)]),
        "matmul 2Dx2D": (lambda a, b: a @ b, lambda a, b: a @ b, [(3, 4), (4, 5)]),
        "matmul batched+broadcast": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
        "matmul 1D": (lambda a, b: a @ b, lambda a, b: a @ b, [(4,), (4, 5)]),
        "softmax": (lambda a: a.softmax(-1), lambda a: a.softmax(-1), [(3, 4)]),
        "log_softmax": (lambda a: a.log_softmax(0), lambda a: a.log_softmax(0), [(3, 4)]),
        "cross_entropy": (lambda a: cross_entropy(a, y), lambda a: F.cross_entropy(a, ty), [(4, 3)]),
        "linear (fused, 3-D x)": (lambda x, w, b: linear(x, w, b), lambda x, w, b: F.linear(x, w, b),
                                  [(2, 3, 4), (5, 4), (5,)]),
    }


def _max_ties_err(torch: Any) -> float:
    """max over rows with ties: the gradient is shared equally among tied maxima, as torch.amax does."""
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, 5.0, 1.0, 5.0]])
    w = np.array([0.7, 1.3, 2.0])
    x = Tensor(a.copy(), requires_grad=True)
    (x.max(axis=1) * Tensor(w)).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (t.amax(1) * torch.tensor(w)).sum().backward()
    return float(np.max(np.abs(x.grad - t.grad.numpy())))


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _ours(f: Callable[..., Tensor], arrays: list[np.ndarray], w_seed: int) -> tuple[np.ndarray, list[Any]]:
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = f(*xs)
    w = np.random.default_rng(w_seed).uniform(0.5, 1.5, size=out.shape)
    (out * Tensor(w)).sum().backward()
    return out.data, [x.grad for x in xs]


def tensor_ops_vs_torch(cfg: dict, rec: Recorder) -> dict:
    """Lab 01: each op's value and input gradients against torch float64 (or central differences)."""
    torch = _torch() if cfg["use_torch"] else None
    tol = float(cfg["tol"])
    rng = np.random.default_rng(cfg["seed"])
    ops = _ops(torch)
    agree, worst, shape_bugs = 0, 0.0, 0
    with _fault(cfg):
        for step, (name, (f, tf, shapes)) in enumerate(ops.items()):
            arrays = [rng.uniform(-2, 2, size=s) for s in shapes]
            try:
                value, grads = _ours(f, arrays, step)
            except ValueError:  # a wrong-shape gradient that numpy refuses to add
                grads, value = [None], None
            ok_shapes = all(g is not None and g.shape == a.shape for g, a in zip(grads, arrays, strict=False))
            if not ok_shapes:
                shape_bugs += 1
                err = float("inf")
            elif torch is not None:
                ts = [torch.tensor(a, requires_grad=True) for a in arrays]
                tout = tf(*ts)
                w = np.random.default_rng(step).uniform(0.5, 1.5, size=tuple(tout.shape))
                (tout * torch.tensor(w)).sum().backward()
                err = float(np.max(np.abs(value - tout.detach().numpy())))
                for g, t in zip(grads, ts, strict=True):
                    err = max(err, float(np.max(np.abs(g - t.grad.numpy()))))
            else:
                try:
                    tensor_gradcheck(f, [Tensor(a) for a in arrays], eps=1e-6, atol=1e-5, rtol=1e-4)
                    err = 0.0
                except GradcheckError:
                    err = float("inf")
            agree += int(err <= (tol if torch is not None else 1.0))
            worst = max(worst, err)
            rec.log(step, stage="ops", op=name, log10_err=float(np.log10(max(err, 1e-17))) if np.isfinite(err) else 3.0)

    # derivations checked numerically: dL/dz of mean CE is (softmax - onehot)/B; dA = dC @ B^T
    z = rng.normal(size=(4, 5))
    t = np.array([1, 0, 4, 2])
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    formula = (p - np.eye(5)[t]) / len(t)
    zz = z.copy()
    numeric = numerical_grad(lambda: float(cross_entropy(Tensor(zz), t).data), zz, 1e-6)
    ce_err = float(np.max(np.abs(formula - numeric)))
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    up = rng.normal(size=(3, 2))
    aa = a.copy()
    numeric_a = numerical_grad(lambda: float(np.sum((aa @ b) * up)), aa, 1e-6)
    mm_err = float(np.max(np.abs(up @ b.T - numeric_a)))
    return {
        "oracle": "torch-float64" if torch is not None else "gradcheck",
        "ops_checked": len(ops),
        "ops_agree": agree,
        "all_agree": agree == len(ops),
        "max_abs_err": worst if np.isfinite(worst) else "inf",
        "grad_shape_bugs": shape_bugs,
        "ce_formula_err": ce_err,
        "matmul_formula_err": mm_err,
        "max_ties_err": _max_ties_err(torch) if torch is not None else 0.0,
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
    loss = Tensor(0.0)
    with _fault(cfg):
        for epoch in range(epochs):
            for p in params:
                p.grad = None
            loss = cross_entropy(forward(data.x_train), data.y_train)
            loss.backward()
            for p in params:
                p.data -= lr * p.grad
            if epoch % 5 == 0 or epoch == epochs - 1:
                with no_grad():
                    val_acc = float((forward(data.x_val).data.argmax(1) == data.y_val).mean())
                rec.log(epoch, loss=loss.item(), val_acc=val_acc)
            rec.progress(epoch + 1, epochs)
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
