"""Phase 25 labs: the dispatcher's view of linear, hand-written linear gradients against
.backward(), and a custom softmax operator under gradcheck and torch.compile.

Fault `inplace_residual` (the phase's break, on lab-01): a small pre-norm block writes its
residual as h.add_(attn(ln1(h))); LayerNorm saved h for its backward, the in-place add bumps h's
version counter, and backward raises the "modified by an inplace operation" error.
"""

from __future__ import annotations

import statistics
from collections import Counter

import torch
import torch.nn.functional as F

from engine.core.run import Recorder
from engine.torchstack.internals.dispatch import dispatch_keys, profiled_ops, trace_ops
from engine.torchstack.internals.linear_grad import grad_fn_census, grad_fn_walk, linear_backward

FAULT = "inplace_residual"


# ---------------------------------------------------------------------- lab 00: dispatcher
def trace_linear(cfg: dict, rec: Recorder) -> dict:
    torch.manual_seed(cfg["seed"])
    n_in, n_out, batch = cfg["in_features"], cfg["out_features"], cfg["batch"]
    x = torch.randn(batch, n_in, requires_grad=True)
    W = torch.randn(n_out, n_in, requires_grad=True)
    b = torch.randn(n_out, requires_grad=True)

    linear_ops, y = trace_ops(lambda: F.linear(x, W, b))
    addmm_ops, y_direct = trace_ops(lambda: torch.addmm(b, x, W.t()))
    backward_ops, _ = trace_ops(lambda: y.sum().backward())
    for i, (name, ops) in enumerate((("linear", linear_ops), ("addmm", addmm_ops), ("backward", backward_ops))):
        rec.log(i, stage="ops", call=name, n_ops=len(ops))
    rec.note(f"forward ops of linear: {', '.join(linear_ops)}")
    rec.note(f"backward ops: {', '.join(backward_ops)}")

    def fwd_bwd() -> None:
        F.linear(x, W, b).sum().backward()

    prof_ops, table = profiled_ops(fwd_bwd)
    rec.artifact("profile_linear.txt", "profiler table, forward + backward, by shape").write_text(table)
    rec.note(f"grad_fn of y: {type(y.grad_fn).__name__}")
    return {
        "grad_fn": type(y.grad_fn).__name__,
        "forward_ops": linear_ops,
        "direct_addmm_ops": addmm_ops,
        "backward_ops": backward_ops,
        "addmm_in_trace": "addmm" in linear_ops,
        "linear_in_dispatch_trace": "linear" in linear_ops,
        "linear_in_profiler": "aten::linear" in prof_ops,
        "direct_addmm_ops_fewer_or_equal": len(addmm_ops) <= len(linear_ops),
        "same_output_as_addmm": bool(torch.equal(y, y_direct)),
        "dispatch_keys_fp32": dispatch_keys(x),
        "dispatch_keys_fp16": dispatch_keys(x.detach().half().requires_grad_()),
        "dispatch_keys_no_grad": dispatch_keys(x.detach()),
        "profiler_ops": prof_ops,
    }


# ---------------------------------------------------------------------- lab 01: hand gradients
def _seed_errors(seed: int, n_in: int, n_out: int, batch: int, dtype: torch.dtype) -> float:
    """Max |manual − autograd| over dx, dW, db for one seeded run in `dtype`."""
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=g) / n_in**0.5)
        layer.bias.copy_(torch.randn(n_out, generator=g) * 0.1)
    layer = layer.to(dtype)
    x = torch.randn(batch, n_in, generator=g).to(dtype).requires_grad_()
    t = torch.randn(batch, n_out, generator=g).to(dtype)
    y = layer(x)
    loss = 0.5 * ((y - t) ** 2).sum()
    loss.backward()
    # manual gradients in float64 from the same (rounded) inputs: the exact answer for this data
    x64, W64, y64 = x.detach().double(), layer.weight.detach().double(), y.detach().double()
    dx, dW, db = linear_backward(x64, W64, y64 - t.double())
    errs = [(a - g_.double()).abs().max().item() for a, g_ in ((dx, x.grad), (dW, layer.weight.grad), (db, layer.bias.grad))]
    return max(errs)


def _fp32_errors(seed: int, n_in: int, n_out: int, batch: int) -> float:
    """Max |manual − .grad| with the manual formulas evaluated in fp32, as the course does."""
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(n_in, n_out)
    x = torch.randn(batch, n_in, generator=g, requires_grad=True)
    t = torch.randn(batch, n_out, generator=g)
    y = layer(x)
    (0.5 * ((y - t) ** 2).sum()).backward()
    dx, dW, db = linear_backward(x.detach(), layer.weight.detach(), (y - t).detach())
    return max((a - b).abs().max().item() for a, b in ((dx, x.grad), (dW, layer.weight.grad), (db, layer.bias.grad)))


def _residual_block_backward(fault: bool, seed: int, d: int = 64, T: int = 8) -> tuple[bool, str]:
    """Pre-norm block h = h + attn(ln1(h)); returns (backward raised the in-place error, message)."""
    torch.manual_seed(seed)
    ln1 = torch.nn.LayerNorm(d)
    qkv, proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
    embed = torch.nn.Linear(d, d)

    def attn(z: torch.Tensor) -> torch.Tensor:
        q, k, v = qkv(z).chunk(3, dim=-1)
        return proj(F.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0])

    h = embed(torch.randn(T, d))
    if fault:
        h.add_(attn(ln1(h)))
    else:
        h = h + attn(ln1(h))
    try:
        h.pow(2).mean().backward()
    except RuntimeError as err:
        return "modified by an inplace operation" in str(err), str(err).splitlines()[0]
    return False, ""


def hand_gradients(cfg: dict, rec: Recorder) -> dict:
    n_in, n_out, batch = cfg["in_features"], cfg["out_features"], cfg["batch"]
    errs = []
    for i in range(cfg["runs"]):
        seed = cfg["seed"] + i
        e = _fp32_errors(seed, n_in, n_out, batch)
        errs.append(e)
        rec.log(i, stage="seeds", seed=seed, max_abs_err=e)
    half = torch.float16
    try:
        half_err = _seed_errors(cfg["seed"], n_in, n_out, batch, half)
    except RuntimeError:  # an old CPU build without fp16 addmm
        half, half_err = torch.bfloat16, _seed_errors(cfg["seed"], n_in, n_out, batch, torch.bfloat16)
    fp32_exact_err = _seed_errors(cfg["seed"], n_in, n_out, batch, torch.float32)

    torch.manual_seed(cfg["seed"])
    layer = torch.nn.Linear(n_in, n_out)
    x, t = torch.randn(batch, n_in, requires_grad=True), torch.randn(batch, n_out)
    loss = 0.5 * ((layer(x) - t) ** 2).sum()
    nodes = grad_fn_walk(loss.grad_fn)
    census = grad_fn_census(loss.grad_fn)
    rec.note("grad_fn walk: " + " -> ".join(nodes))

    raised, message = _residual_block_backward(cfg.get("fault") == FAULT, cfg["seed"])
    if message:
        rec.note(f"backward error: {message}")
    return {
        "max_abs_err": max(errs),
        "median_abs_err": statistics.median(errs),
        "fp32_vs_float64_max_err": fp32_exact_err,
        "half_precision_dtype": str(half).removeprefix("torch."),
        "half_precision_max_err": half_err,
        "grad_fn_nodes": nodes,
        "grad_fn_has_addmm_backward": "AddmmBackward0" in nodes,
        "grad_fn_has_mul_backward_for_half": "MulBackward0" in nodes,
        "grad_fn_walk_matches_census": Counter(nodes) == census,
        "grad_fn_accumulate_grad_nodes": nodes.count("AccumulateGrad"),
        "backward_raised_inplace_error": raised,
    }


# ---------------------------------------------------------------------- lab 02: custom op
def custom_op(cfg: dict, rec: Recorder) -> dict:
    from engine.torchstack.internals.custom_softmax import (
        SoftmaxHead,
        against_torch,
        aten_forward_graph,
        compiled_vs_eager,
        softmax,
    )

    torch.manual_seed(cfg["seed"])
    rows, cols = cfg["shape"]
    x64 = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    gradcheck_ok = bool(torch.autograd.gradcheck(softmax, (x64,), eps=cfg["gradcheck_eps"], atol=cfg["gradcheck_atol"]))
    fwd, bwd = against_torch(rows, cols)
    head = SoftmaxHead(cfg["d_in"], cols)
    h_in = torch.randn(rows, cfg["d_in"])
    aten_graph = aten_forward_graph(head, h_in)
    opaque = "lynx.softmax" in aten_graph and "aten.exp" not in aten_graph
    rec.note("forward ATen graph under AOTAutograd:\n" + aten_graph)
    compiled_ok, compiled_diff = compiled_vs_eager(head, h_in, cfg["backend"])
    return {
        "gradcheck_ok": gradcheck_ok,
        "forward_max_abs_diff": fwd,
        "backward_max_abs_diff": bwd,
        "custom_op_opaque_in_graph": opaque,
        "compiled_runs": compiled_ok,
        "compiled_max_abs_diff": compiled_diff,
        "compile_backend": cfg["backend"],
    }

