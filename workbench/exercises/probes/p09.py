"""Phase 09 probes: the fused linear node and the Linear/Sequential modules, optimizer steps, GELU."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import compare


def _linear_grads(side: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, up: np.ndarray) -> list[Any]:
    from engine.scratch.autograd.tensor import Tensor

    tx, tw = Tensor(x.copy(), requires_grad=True), Tensor(w.copy(), requires_grad=True)
    tb = Tensor(b.copy(), requires_grad=True) if b is not None else None
    out = side.linear(tx, tw, tb)
    (out * Tensor(up)).sum().backward()
    return [out.data, tx.grad, tw.grad, tb.grad if tb is not None else None]


def modules(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for xs, n_out, bias in [
        ((4, 3), 2, True),
        ((3,), 5, True),
        ((2, 5, 3), 4, True),
        ((4, 3), 2, False),
        ((1, 1), 1, True),
    ]:
        x, w = rng.normal(size=xs), rng.normal(size=(n_out, xs[-1]))
        b = rng.normal(size=n_out) if bias else None
        up = rng.uniform(0.5, 1.5, size=(*xs[:-1], n_out))
        got, want = _linear_grads(learner, x, w, b, up), _linear_grads(reference, x, w, b, up)
        out += compare(
            "linear",
            f"x {xs} -> {n_out} features{'' if bias else ' (no bias)'}: (y, dx, dW, db)",
            got,
            want,
            rtol=1e-10,
            atol=1e-12,
        )
        if out:
            return out
    from engine.scratch.nn import ReLU
    from engine.scratch.nn.layers import Linear

    for n_in, n_out, bias, dtype in [(3, 4, True, np.float32), (5, 2, False, np.float64), (1, 1, True, np.float64)]:
        seed = int(rng.integers(0, 2**31))
        models = {}
        for name, side in (("mine", learner), ("ref", reference)):
            with side:
                lin = Linear(n_in, n_out, bias=bias, rng=np.random.default_rng(seed), dtype=dtype)
                names = [k for k, _ in lin.named_parameters()]
                seq = side.Sequential(lin, ReLU(), Linear(n_out, 2, rng=np.random.default_rng(seed + 1), dtype=dtype))
                x = np.random.default_rng(seed + 2).normal(size=(3, n_in)).astype(dtype)
                from engine.scratch.autograd.tensor import Tensor

                y = seq(Tensor(x)).data
                models[name] = (names, lin.weight.data, None if lin.bias is None else lin.bias.data, y)
        what = f"Linear({n_in}, {n_out}, bias={bias}, dtype={np.dtype(dtype).name}) seeded {seed}"
        out += compare("Linear.__init__", f"{what}: parameter names", models["mine"][0], models["ref"][0])
        out += compare(
            "Linear.__init__",
            f"{what}: (weight, bias)",
            list(models["mine"][1:3]),
            list(models["ref"][1:3]),
            rtol=0,
            atol=0,
        )
        out += compare(
            "Sequential.forward",
            f"Sequential({what}, ReLU, Linear): output",
            models["mine"][3],
            models["ref"][3],
            rtol=1e-6,
        )
        if out:
            return out
    return out


def optimizers(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    from engine.scratch.nn.module import Parameter
    from engine.scratch.optim import SGD, Adam, AdamW

    configs: list[tuple[type, dict[str, Any]]] = [
        (SGD, {"lr": 0.1}),
        (SGD, {"lr": 0.05, "momentum": 0.9}),
        (SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.9}),
        (SGD, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
        (Adam, {"lr": 0.01}),
        (Adam, {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1}),
        (AdamW, {"lr": 0.01, "weight_decay": 0.1}),
    ]
    out: list[str] = []
    for cls, kw in configs:
        init = [rng.normal(size=(3, 2)), rng.normal(size=4)]
        grads = [[rng.normal(size=a.shape) * (5.0 if t % 4 == 0 else 1.0) for a in init] for t in range(12)]
        final = {}
        for name, side in (("mine", learner), ("ref", reference)):
            with side:
                params = [Parameter(a.copy(), dtype=np.float64) for a in init]
                opt = cls(params, **kw)
                for t, gs in enumerate(grads):
                    for p, g in zip(params, gs, strict=True):
                        p.grad = g.copy() if not (t == 3 and p is params[1]) else None  # a step with no grad: skipped
                    opt.step()
                final[name] = [p.data.copy() for p in params]
        out += compare(
            f"{cls.__name__}.step" if cls is not AdamW else "Adam.step",
            f"{cls.__name__}({kw}) after 12 steps",
            final["mine"],
            final["ref"],
            rtol=1e-10,
            atol=1e-13,
        )
        if out:
            return out
    return out


def gelu(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    from engine.scratch.autograd.tensor import Tensor

    out: list[str] = []
    for x in [
        rng.normal(size=(4, 5)) * 3,
        np.array([0.0, -1e-3, 1e-3, 10.0, -10.0, 30.0]),
        rng.normal(size=7).astype(np.float32),
    ]:
        res = {}
        for name, side in (("mine", learner), ("ref", reference)):
            with side:
                t = Tensor(x.copy(), requires_grad=True)
                y = t.gelu()
                (y * Tensor(np.linspace(0.5, 1.5, x.size).reshape(x.shape).astype(x.dtype))).sum().backward()
                res[name] = [y.data, t.grad]
        out += compare(
            "Tensor.gelu",
            f"x of shape {x.shape} ({x.dtype}): (value, gradient)",
            res["mine"],
            res["ref"],
            rtol=1e-6,
            atol=1e-7,
        )
    return out
