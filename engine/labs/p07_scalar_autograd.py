"""Phase 07 labs: scalar autograd ops and the diamond, a scalar MLP on tense identity, gradcheck.

Fault `overwrite_grad` (the phase's break): every backward rule writes `=` instead of `+=`
(`Value.backward(accumulate=False)`). Single-path graphs stay right; the diamond's a.grad
becomes -6 and c.grad -2, and both the torch comparison and gradcheck catch it.
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.run import Recorder
from engine.labs._tense_data import identity_task
from engine.scratch.autograd.gradcheck import GradcheckError, eps_sweep, rejects_wrong_gradient, scalar_gradcheck
from engine.scratch.autograd.graph import to_dot, to_text_tree
from engine.scratch.autograd.scalar import Value
from engine.scratch.optim.plain import descend

FAULT = "overwrite_grad"

# name -> (an expression that runs on Values and, through _TorchScalar, on torch tensors; inputs)
OPS: dict[str, tuple[Callable[..., Any], tuple[float, ...]]] = {
    "add": (lambda a, b: a + b, (2.0, -3.0)),
    "radd": (lambda a, b: 1.5 + a, (2.0, -3.0)),
    "sub": (lambda a, b: a - b, (2.0, -3.0)),
    "rsub": (lambda a, b: 1.5 - a, (2.0, -3.0)),
    "mul": (lambda a, b: a * b, (2.0, -3.0)),
    "rmul": (lambda a, b: 1.5 * a, (2.0, -3.0)),
    "div": (lambda a, b: a / b, (2.0, -3.0)),
    "rdiv": (lambda a, b: 1.5 / a, (2.0, -3.0)),
    "neg": (lambda a, b: -a, (2.0, -3.0)),
    "pow3": (lambda a, b: a**3, (2.0, -3.0)),
    "pow0.5": (lambda a, b: a**0.5, (2.0, -3.0)),
    "exp": (lambda a, b: a.exp(), (0.5, -3.0)),
    "log": (lambda a, b: a.log(), (2.0, -3.0)),
    "relu+": (lambda a, b: a.relu(), (2.0, -3.0)),
    "relu0": (lambda a, b: a.relu(), (0.0, -3.0)),
    "tanh": (lambda a, b: a.tanh(), (0.7, -3.0)),
    "diamond": (lambda a, b, c: (a * b + c) * (a - c), (2.0, 3.0, 4.0)),
}


def _torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _grads(f: Callable[..., Any], xs: tuple[float, ...], accumulate: bool) -> tuple[float, list[float]]:
    vals = [Value(x) for x in xs]
    out = f(*vals)
    out.backward(accumulate=accumulate)
    return out.data, [v.grad for v in vals]


def _oracle(f: Callable[..., Any], xs: tuple[float, ...], torch: Any | None) -> tuple[float, list[float]]:
    """torch float64 autograd when installed, else central differences (eps 1e-6) on our forward."""
    if torch is not None:
        ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        out = f(*[_TorchScalar(t) for t in ts]).t
        out.backward()
        return out.item(), [0.0 if t.grad is None else t.grad.item() for t in ts]
    base = f(*[Value(x) for x in xs]).data
    grads = []
    for i in range(len(xs)):
        up = [Value(x + (1e-6 if j == i else 0.0)) for j, x in enumerate(xs)]
        dn = [Value(x - (1e-6 if j == i else 0.0)) for j, x in enumerate(xs)]
        grads.append((f(*up).data - f(*dn).data) / 2e-6)
    return base, grads


class _TorchScalar:
    """Lets one lambda drive both a Value and a torch tensor (exp/log/relu/tanh as methods)."""

    def __init__(self, t: Any) -> None:
        self.t = t

    @staticmethod
    def _u(o: Any) -> Any:
        return o.t if isinstance(o, _TorchScalar) else o

    def __add__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(self.t + self._u(o))

    def __radd__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(o + self.t)

    def __sub__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(self.t - self._u(o))

    def __rsub__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(o - self.t)

    def __mul__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(self.t * self._u(o))

    def __rmul__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(o * self.t)

    def __truediv__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(self.t / self._u(o))

    def __rtruediv__(self, o: Any) -> _TorchScalar:
        return _TorchScalar(o / self.t)

    def __neg__(self) -> _TorchScalar:
        return _TorchScalar(-self.t)

    def __pow__(self, n: float) -> _TorchScalar:
        return _TorchScalar(self.t**n)

    def exp(self) -> _TorchScalar:
        return _TorchScalar(self.t.exp())

    def log(self) -> _TorchScalar:
        return _TorchScalar(self.t.log())

    def relu(self) -> _TorchScalar:
        return _TorchScalar(self.t.relu())

    def tanh(self) -> _TorchScalar:
        return _TorchScalar(self.t.tanh())


def _render_svg(dot_path: Path) -> Path | None:
    """graph.svg through the Graphviz `dot` binary when it is installed; None otherwise."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    svg = dot_path.with_suffix(".svg")
    done = subprocess.run([exe, "-Tsvg", str(dot_path), "-o", str(svg)], capture_output=True, check=False, timeout=30)
    return svg if done.returncode == 0 and svg.exists() else None


def _second_backward_doubles(accumulate: bool) -> bool:
    """z = x*y, backward twice without zeroing: gradients accumulate, so x.grad = 2y, y.grad = 2x.

    Both leaves sit directly under the root, so the doubling is exact; it fails if a second call
    reseeds the root with anything but 1 or overwrites instead of adding.
    """
    x, y = Value(2.0, label="x"), Value(3.0, label="y")
    z = x * y
    z.backward(accumulate=accumulate)
    z.backward(accumulate=accumulate)
    return (x.grad, y.grad) == (6.0, 4.0)


def ops_and_diamond(cfg: dict, rec: Recorder) -> dict:
    """Lab 01: every op's value and gradients against an oracle, then the diamond, drawn."""
    accumulate = cfg.get("fault") != FAULT
    torch = _torch() if cfg["use_torch"] else None
    worst = 0.0
    for step, (name, (f, xs)) in enumerate(OPS.items()):
        val, grads = _grads(f, xs, accumulate)
        ref_val, ref_grads = _oracle(f, xs, torch)
        err = max([abs(val - ref_val)] + [abs(g - r) for g, r in zip(grads, ref_grads, strict=True)])
        worst = max(worst, err)
        rec.log(step, stage="ops", op=name, abs_err=err)

    a, b, c = Value(2.0, label="a"), Value(3.0, label="b"), Value(4.0, label="c")
    e = a * b + c
    e.label = "e = a*b + c"
    d = a - c
    d.label = "d = a - c"
    loss = e * d
    loss.label = "L"
    loss.backward(accumulate=accumulate)
    expected = {"a": 4.0, "b": -4.0, "c": -12.0}
    for i, v in enumerate((a, b, c)):
        rec.log(i, stage="diamond", param=v.label, grad=v.grad, expected=expected[v.label])
    dot_path = rec.artifact("diamond.dot", "graph")
    dot_path.write_text(to_dot(loss, "diamond"), encoding="utf-8")
    svg = _render_svg(dot_path)
    if svg is not None:
        rec.artifact(svg, "graph-svg")
    tree = to_text_tree(loss)
    tree_path = rec.artifact("diamond.txt", "graph-text")
    tree_path.write_text(tree + "\n", encoding="utf-8")
    rec.note("Diamond graph (render diamond.dot with `dot -Tsvg`):\n" + tree)
    tol = float(cfg["tol"])
    return {
        "second_backward_doubles_grad": _second_backward_doubles(accumulate),
        "oracle": "torch-float64" if torch is not None else "finite-differences",
        "ops_checked": len(OPS),
        "max_abs_err": worst,
        "oracle_agrees": worst < (tol if torch is not None else 1e-6),
        "diamond_loss": loss.data,
        "diamond_a_grad": a.grad,
        "diamond_b_grad": b.grad,
        "diamond_c_grad": c.grad,
    }


class Neuron:
    """tanh(w . x + b), weights U(-1, 1), bias 0."""

    def __init__(self, n_in: int, rng: random.Random) -> None:
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(n_in)]
        self.b = Value(0.0)

    def __call__(self, xs: list[Value] | list[float]) -> Value:
        act = self.b
        for wi, xi in zip(self.w, xs, strict=True):
            act = act + wi * xi
        return act.tanh()

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]


class MLP:
    """Layers of tanh neurons: MLP(5, [4, 5]) is 5 -> 4 -> 5."""

    def __init__(self, n_in: int, sizes: list[int], rng: random.Random) -> None:
        dims = [n_in, *sizes]
        self.layers = [[Neuron(dims[i], rng) for _ in range(dims[i + 1])] for i in range(len(sizes))]

    def __call__(self, xs: list[float]) -> list[Value]:
        h: list[Any] = xs
        for layer in self.layers:
            h = [n(h) for n in layer]
        return h

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for n in layer for p in n.parameters()]


def train_tense_mlp(cfg: dict, rec: Recorder) -> dict:
    """Lab 02: tense identity (one-hot tense -> +-1 targets) with a scalar MLP, SSE, plain SGD."""
    accumulate = cfg.get("fault") != FAULT
    verb = cfg["verb"]
    xs, ys, forms = identity_task(verb)
    rng = random.Random(cfg["seed"])
    model = MLP(len(xs[0]), list(cfg["layer_sizes"]), rng)
    params = model.parameters()
    lr, epochs = float(cfg["lr"]), int(cfg["epochs"])

    def sse() -> Value:
        loss = Value(0.0)
        for x, y in zip(xs, ys, strict=True):
            for out, target in zip(model(x), y, strict=True):
                loss = loss + (out - target) ** 2
        return loss

    def logged(epoch: int, loss: Value) -> None:
        rec.log(epoch, loss=loss.data)
        rec.progress(epoch + 1, epochs)

    last = descend(params, sse, lr, epochs, reset=0.0, backward=lambda v: v.backward(accumulate=accumulate),
                   after=logged)
    loss = last if last is not None else Value(0.0)
    outputs = [[o.data for o in model(x)] for x in xs]
    preds = [max(range(len(out)), key=out.__getitem__) for out in outputs]
    correct = sum(int(p == i) for i, p in enumerate(preds))
    return {
        "verb": verb,
        "forms": forms,
        "n_params": len(params),
        "final_loss": loss.data,
        "argmax_correct": correct,
        "acc": correct / len(xs),
        "predictions": preds,
    }


def gradcheck_lab(cfg: dict, rec: Recorder) -> dict:
    """Lab 03: gradcheck every op and three composites; sweep eps to show the U-shaped error."""
    accumulate = cfg.get("fault") != FAULT
    checks: dict[str, tuple[Callable[..., Value], tuple[float, ...]]] = {
        name: (f, xs) for name, (f, xs) in OPS.items() if name != "relu0"  # kink: no derivative at 0
    }
    checks["relu(a*b + c)"] = (lambda a, b, c: (a * b + c).relu(), (2.0, 3.0, -1.0))
    checks["a / (b + 1)"] = (lambda a, b: a / (b + 1.0), (2.0, 3.0))
    failures: list[str] = []
    for i, (name, (f, xs)) in enumerate(checks.items()):
        try:
            ok = scalar_gradcheck(f, [Value(x) for x in xs], eps=float(cfg["eps"]),
                                  atol=float(cfg["atol"]), rtol=float(cfg["rtol"]),
                                  accumulate=accumulate)
        except GradcheckError as err:
            ok = False
            failures.append(name)
            rec.note(f"{name}: {err}")
        rec.log(i, stage="checks", check=name, passed=int(ok))

    # eps sweep on a smooth composite: error = truncation (eps^2) + rounding (1/eps)
    def f(a: Value, b: Value) -> Value:
        return (a * b).tanh() + (a / b).exp()

    _, (ga, _) = _grads(f, (0.7, 1.3), True)
    best_eps, best_err = 0.0, math.inf
    for k, (eps, err) in enumerate(eps_sweep(f, (0.7, 1.3), ga), start=1):
        rec.log(k, stage="eps", eps=eps, abs_err=max(err, 1e-17))
        if err < best_err:
            best_eps, best_err = eps, err
    # a gradient wrong by 1 % (d(a^2)/da = 2.02a) must be rejected at the tolerances used above
    rejects_wrong = rejects_wrong_gradient(float(cfg["eps"]), float(cfg["atol"]), float(cfg["rtol"]))
    return {
        "rejects_1pct_wrong_gradient": rejects_wrong,
        "checks_total": len(checks),
        "checks_passed": len(checks) - len(failures),
        "gradcheck_ok": not failures,
        "failed": failures,
        "best_eps": best_eps,
        "best_eps_err": best_err,
    }
