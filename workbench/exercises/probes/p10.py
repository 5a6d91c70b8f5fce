"""Phase 10 probes: init scales, the fused LayerNorm/RMSNorm nodes, and the residual block."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.exercises.probes._compare import agree, compare


def init_scales(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out = agree(
        learner,
        reference,
        "_weight_std",
        [(f"{k} with n_in={n}", (k, n)) for k in ("uniform", "xavier", "kaiming") for n in (1, 16, 256, 1000)],
        rtol=1e-12,
    )
    out += agree(learner, reference, "fans", [(f"shape {s}", (s,)) for s in [(4, 3), (16, 8, 3, 3), (1, 1), (5, 7, 2)]])
    from engine.scratch.autograd.tensor import Tensor

    inits: list[tuple[str, dict[str, Any]]] = [("xavier_normal_", {}), ("xavier_normal_", {"gain": 2.0}), ("kaiming_normal_", {}),
        ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}), ("kaiming_normal_", {"a": 0.2})]
    for name, kw in inits:
        for shape in [(64, 32), (8, 4, 3, 3)]:
            seed = int(rng.integers(0, 2**31))
            got = getattr(learner, name)(Tensor(np.zeros(shape)), rng=np.random.default_rng(seed), **kw).data
            want = getattr(reference, name)(Tensor(np.zeros(shape)), rng=np.random.default_rng(seed), **kw).data
            out += compare(name, f"{name}({shape}, {kw}) seeded {seed}", got, want, rtol=1e-12)
            if out:
                return out
    return out


def _norm_grads(side: Any, fn: str, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, up: np.ndarray) -> list[Any]:
    from engine.scratch.autograd.tensor import Tensor

    tx, tw = Tensor(x.copy(), requires_grad=True), Tensor(w.copy(), requires_grad=True)
    args = [tx, tw] + ([Tensor(b.copy(), requires_grad=True)] if b is not None else [])
    y = getattr(side, fn)(*args)
    (y * Tensor(up)).sum().backward()
    return [y.data, tx.grad, tw.grad] + ([args[2].grad] if b is not None else [])


def norms(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    out: list[str] = []
    for shape, scale, shift in [
        ((4, 8), 1.0, 0.0),
        ((2, 3, 16), 5.0, 3.0),
        ((1, 5), 1.0, 100.0),
        ((6, 1), 1.0, 0.0),
        ((3, 64), 1e-3, 0.0),
    ]:
        x = rng.normal(size=shape) * scale + shift
        w, b = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
        up = rng.uniform(0.5, 1.5, size=shape)
        for fn, bias in (("layer_norm", b), ("rms_norm", None)):
            got, want = _norm_grads(learner, fn, x, w, bias, up), _norm_grads(reference, fn, x, w, bias, up)
            out += compare(
                fn,
                f"x {shape} (scale {scale:g}, mean {shift:g}): (y, dx, dw{', db' if bias is not None else ''})",
                got,
                want,
                rtol=1e-8,
                atol=1e-10,
            )
            if out:
                return out
    return out


def residual(learner: Any, reference: Any, rng: np.random.Generator) -> list[str]:
    from engine.scratch.autograd.tensor import Tensor
    from engine.scratch.nn import GELU, Linear, Residual, Sequential

    out: list[str] = []
    for enabled in (True, False):
        seed = int(rng.integers(0, 2**31))
        res = {}
        for name, side in (("mine", learner), ("ref", reference)):
            with side:
                block = Residual(
                    Sequential(Linear(6, 6, rng=np.random.default_rng(seed), dtype=np.float64), GELU()), enabled=enabled
                )
                x = Tensor(np.random.default_rng(seed + 1).normal(size=(3, 6)), requires_grad=True)
                y = block(x)
                y.sum().backward()
                res[name] = [y.data, x.grad]
        out += compare(
            "Residual.forward",
            f"Residual(Linear, GELU) enabled={enabled}: (y, dx)",
            res["mine"],
            res["ref"],
            rtol=1e-10,
        )
    return out
