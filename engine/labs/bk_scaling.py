"""Experiment bk-scaling: BK-Core and the BK mixer against attention and the other baselines, like for like.

Four parts, every timing a median over interleaved rounds (engine.labs.bk_timing), so each
ratio compares two things measured under the same background load:

1. correctness, hard-checked: every backend's G_ii against a dense inverse and its exact
   gradient against the dense Jacobian (full and causal).
2. the layer sweep (engine.research.bk.sweep): N x channels x backend. Per point the BK mixer (v_proj d -> C, BK-Core,
   out_proj 2C -> d) forward+backward against causal SDPA at the same width and heads, the
   core alone, the bytes autograd saves (saved_mb, an estimate), the peak resident memory the
   step adds (peak_rss_mb, measured in a fresh worker process: engine.research.bk.peak_memory),
   and the core's achieved bytes/s as a fraction of a tensor copy timed in the same rounds. channels = d_model is the matched-width comparison
   (one potential per model dimension); channels = 1 is the seed's mixer (two numbers per
   token), which is where the old 44-143x headline came from.
3. the baselines for the diagonal of the inverse (forward only): plain Python, NumPy over the
   rows, scipy's banded solve, NumPy odd-even cyclic reduction (batched), the per-position torch
   loop, and the torch scan, each as a ratio to the C kernel, each also checked against it.
4. whole models: ResNet-BK against a Transformer with the same number of non-embedding
   parameters (the width is searched), tokens per second of a training step.

`_ops` (one op set at one point) is kept for the device-honesty test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.core.run import Recorder
from engine.labs.bk_timing import copy_fn, interleaved, saved_bytes
from engine.lm.models.attention import SelfAttention
from engine.research.bk import baselines, core, flops, native, peak_memory, sweep
from engine.research.bk.compare import body_params, matched_transformer
from engine.research.bk.function import bk_features, bk_resolvent
from engine.research.bk.gradcheck import dense_vjp
from engine.research.bk.mixer import BKMixer
from engine.research.bk.model import BKConfig, ResNetBK
from engine.systems.hardware.device import synced


def _ops(batch: int, n: int, d_model: int, heads: int, channels: int, gen: torch.Generator,
         device: str = "cpu") -> dict[str, Callable[[], None]]:
    """Inputs are drawn on the CPU generator (same numbers on every device), then moved."""
    v = (0.5 * torch.randn(batch * channels, n, generator=gen) - 2.0).to(device).requires_grad_()
    x = torch.randn(batch, n, d_model, generator=gen).to(device).requires_grad_()
    mixer, attn = BKMixer(d_model, channels).to(device), SelfAttention(d_model, heads, causal=True).to(device)
    return {
        "bk_core": sweep.train_step(lambda: bk_features(v), v),
        "bk_core_scan": sweep.train_step(lambda: bk_features(v, backend="scan"), v),
        "bk_core_c64": sweep.train_step(lambda: bk_features(v, precision="complex64"), v),
        "bk_layer": sweep.train_step(lambda: mixer(x), x),
        "attention": sweep.train_step(lambda: attn(x), x),
    }


def _register(name: str, cost: flops.OpCost, seconds: float) -> None:
    try:
        from engine.systems.hardware.roofline import register_op
    except ImportError:
        return
    register_op(name, flops=cost.flops, bytes_moved=cost.bytes, seconds=seconds, source="bk-scaling")


def _clock(cfg: dict[str, Any]) -> str:
    """The timing clock: the config's (cpu by default on CPU), always wall on an accelerator."""
    return "wall" if str(cfg["device"]) != "cpu" else str(cfg.get("clock", "cpu"))


def _backends(cfg: dict[str, Any], device: str) -> list[str]:
    want = [str(b) for b in cfg["backends"]]
    return [b for b in want if not b.startswith("native") or (device == "cpu" and native.available())]


# ---- 1. correctness ---------------------------------------------------------------------------

def _correctness(n: int, backends: list[str], gen: torch.Generator) -> dict[str, float]:
    diag = -2.0 + 3.0 * torch.rand(3, n, generator=gen, dtype=torch.float64) - 1.5
    w = torch.randn(3, n, 2, generator=gen, dtype=torch.float64)
    dense = core.dense_diag_inverse(diag, 1.0, 1.0, 1j)
    out: dict[str, float] = {}
    for b in backends:
        out[f"dense_err_{b}"] = float((bk_resolvent(diag, backend=b) - dense).abs().max())
        for causal in (False, True):
            x = diag.clone().requires_grad_()
            (bk_features(x, causal=causal, backend=b) * w).sum().backward()
            assert x.grad is not None
            want = dense_vjp(diag, torch.complex(w[..., 0], -w[..., 1]), 1j, causal)
            key = f"grad_err_{'causal_' if causal else ''}{b}"
            out[key] = float((x.grad - want).abs().max() / want.abs().max())
    out["max_dense_err"] = max(v for k, v in out.items() if k.startswith("dense_err_"))
    out["max_grad_rel_err"] = max(v for k, v in out.items() if k.startswith("grad_err_"))
    return out


def _float32_layouts(backends: list[str], gen: torch.Generator) -> dict[str, float]:
    """float32 in and out, in the two layouts the causal C kernel copies fastest (row-major, 64 rows;
    the mixer's channel-last (B, N, C), C = 32), 96 sites = three of its tiles: features and the
    gradient from a dense incoming one, against the float64 scan, relative to the largest value."""
    out: dict[str, float] = {}
    for name, shape in (("rows", (64, 96)), ("channels", (2, 96, 32))):
        def rows(t: Tensor, name: str = name) -> Tensor:  # (R, N) or (B, N, C) -> the core's (..., N) rows
            return t.transpose(-1, -2) if name == "channels" else t
        x64 = -2.0 + 0.5 * torch.randn(*shape, generator=gen, dtype=torch.float64)
        w = torch.randn(*rows(x64).shape, 2, generator=gen, dtype=torch.float64)
        res = {}
        for b, dtype in [("scan", torch.float64)] + [(b, torch.float32) for b in backends]:
            x = x64.to(dtype, copy=True).requires_grad_()
            f = bk_features(rows(x), causal=True, backend=b)
            f.backward(w.to(dtype))
            assert x.grad is not None
            res[(b, dtype)] = (f.detach().double(), x.grad.double())
        ref_f, ref_g = res[("scan", torch.float64)]
        for b in backends:
            f, g = res[(b, torch.float32)]
            out[f"float32_err_{name}_{b}"] = max(float((f - ref_f).abs().max() / ref_f.abs().max()),
                                                  float((g - ref_g).abs().max() / ref_g.abs().max()))
    out["max_float32_err"] = max(v for k, v in out.items() if k.startswith("float32_err_"))
    return out


# ---- 2. the layer sweep -----------------------------------------------------------------------

def _grid(cfg: dict[str, Any], backends: list[str]) -> sweep.Grid:
    return sweep.Grid(int(cfg["batch"]), int(cfg["d_model"]), int(cfg["heads"]),
                      tuple(int(c) for c in cfg["channels"]), tuple(backends),
                      int(cfg["attention_max_n"]), int(cfg["scan_max_sites"]))


def _sweep_points(cfg: dict[str, Any], backends: list[str]) -> list[dict[str, Any]]:
    """Every (N, op) the sweep times, as the memory worker's points (key = the timing's name)."""
    grid = _grid(cfg, backends)
    common = {"batch": grid.batch, "d_model": grid.d_model, "heads": grid.heads, "seed": int(cfg["seed"]),
              "threads": torch.get_num_threads()}
    points = []
    for n in [int(n) for n in cfg["sizes"]]:
        if n <= grid.attention_max_n:
            points.append({**common, "n": n, "op": "attention", "key": "attention"})
        for c, b in grid.layers(n):
            points.append({**common, "n": n, "op": "layer", "channels": c, "backend": b, "key": f"layer c{c} {b}"})
    return points


def _peak_rss(cfg: dict[str, Any], backends: list[str], device: str) -> dict[tuple[int, str], float]:
    """Measured peak resident MiB of each CPU point's forward+backward (engine.research.bk.peak_memory):
    one fresh worker process for the sweep, empty where it cannot measure (not Linux, an accelerator)."""
    if device != "cpu":
        return {}
    got = peak_memory.measure_in_fresh_process("engine.labs.bk_memory", _sweep_points(cfg, backends)) or []
    return {(int(p["n"]), str(p["key"])): float(p["peak_mib"]) for p in got if p.get("peak_mib") is not None}


def _layer_sweep(cfg: dict[str, Any], rec: Recorder, backends: list[str], device: str,
                 gen: torch.Generator) -> tuple[dict[str, Any], sweep.SweepTable]:
    """Times each N's ops in one set of interleaved rounds (engine.research.bk.sweep builds them and
    derives the rows); returns the summary and the table (its raw medians feed the headline)."""
    ns, grid = [int(n) for n in cfg["sizes"]], _grid(cfg, backends)
    copy, copy_bytes = copy_fn(int(cfg["copy_mib"]), device)
    table = sweep.SweepTable(grid, ns, _peak_rss(cfg, backends, device), copy_bytes)
    for step, n in enumerate(ns):
        fns, saved = sweep.point_ops(grid, n, copy, device, gen, saved_bytes)
        t = interleaved(fns, int(cfg["rounds"]), float(cfg["min_batch_s"]), _clock(cfg))
        for row in table.add(n, t, saved):
            rec.log(step, **row)
        rec.progress(step + 1, len(ns) + 2)
    return table.summary(int(cfg["headline_n"])), table


# ---- 3. baselines for the diagonal of the inverse ---------------------------------------------

def _baselines(cfg: dict[str, Any], rec: Recorder, gen: torch.Generator) -> dict[str, Any]:
    rows = int(cfg["baseline_rows"])
    limits = {"python_loop": int(cfg["python_max_n"]), "banded_solve": int(cfg["banded_max_n"]),
              "torch_loop": int(cfg["torch_loop_max_n"]), "numpy_loop": 1 << 30, "scan": 1 << 30,
              "cyclic_reduction": 1 << 30}
    out: dict[str, Any] = {}
    for n in [int(n) for n in cfg["baseline_sizes"]]:
        diag = -2.0 + 3.0 * torch.rand(rows, n, generator=gen, dtype=torch.float64) - 1.5
        arr, lst = diag.numpy(), diag.tolist()
        ref_backend = "native" if native.available() else "scan"
        cands: dict[str, Callable[[], Any]] = {
            "kernel": lambda diag=diag, rb=ref_backend: bk_features(diag, backend=rb),
            "scan": lambda diag=diag: bk_resolvent(diag, backend="scan"),
            "numpy_loop": lambda arr=arr: baselines.numpy_loop_diag(arr),
            "python_loop": lambda lst=lst: baselines.python_loop_diag(lst),
            "banded_solve": lambda arr=arr: baselines.banded_solve_diag(arr),
            "torch_loop": lambda diag=diag: baselines.torch_loop_diag(diag),
            "cyclic_reduction": lambda arr=arr: baselines.cyclic_reduction_diag(arr),
        }
        fns = {k: f for k, f in cands.items() if k == "kernel" or n <= limits[k]}
        with torch.no_grad():
            f = bk_features(diag, backend=ref_backend)
            ref = torch.complex(f[..., 0], f[..., 1])
            errs = {k: float((torch.as_tensor(np.asarray(f(), dtype=np.complex128)) - ref).abs().max())
                    for k, f in fns.items() if k != "kernel"}
            t = interleaved(fns, int(cfg["baseline_rounds"]), float(cfg["min_batch_s"]), _clock(cfg))
        for k in fns:
            if k == "kernel":
                continue
            ratio = t[k] / t["kernel"]
            out.setdefault(k, {})[str(n)] = {"ms": 1e3 * t[k], "kernel_speedup": ratio, "max_abs_err": errs[k]}
            rec.log(n, n=n, op=f"baseline {k}", baseline_ms=1e3 * t[k], kernel_speedup=ratio, max_abs_err=errs[k])
        rec.log(n, n=n, op=f"baseline kernel ({ref_backend})", baseline_ms=1e3 * t["kernel"], kernel_speedup=1.0, max_abs_err=0.0)
    return out


# ---- 4. whole models ----------------------------------------------------------------------------

def _models(cfg: dict[str, Any], rec: Recorder, device: str, gen: torch.Generator) -> dict[str, Any]:
    vocab, layers, heads = int(cfg["vocab"]), int(cfg["n_layers"]), int(cfg["heads"])
    batch, d = int(cfg["model_batch"]), int(cfg["d_model"])
    out: dict[str, Any] = {}
    for n in [int(n) for n in cfg["model_sizes"]]:
        torch.manual_seed(int(cfg["seed"]))
        bk = ResNetBK(BKConfig(vocab_size=vocab, n_seq=n, d_model=d, n_layers=layers, ffn=str(cfg["model_ffn"]),
                               channels=int(cfg["model_channels"]), check_finite=False)).to(device)
        tf = matched_transformer(body_params(bk), vocab, n, layers, heads).to(device)
        idx = torch.randint(0, vocab, (batch, n), generator=gen).to(device)

        def train_step(m: nn.Module, idx: Tensor = idx) -> Callable[[], None]:
            def run() -> None:
                m.zero_grad(set_to_none=True)
                F.cross_entropy(m(idx).flatten(0, 1), idx.flatten()).backward()
            return run

        t = interleaved({"resnet_bk": synced(train_step(bk), device), "transformer": synced(train_step(tf), device)},
                        int(cfg["rounds"]), float(cfg["min_batch_s"]), _clock(cfg))
        row = {"resnet_bk_tokens_s": batch * n / t["resnet_bk"], "transformer_tokens_s": batch * n / t["transformer"],
               "speedup": t["transformer"] / t["resnet_bk"], "resnet_bk_body_params": body_params(bk),
               "transformer_body_params": body_params(tf), "transformer_width": tf.tok.embedding_dim,
               "resnet_bk_saved_mb": saved_bytes(lambda bk=bk, idx=idx: bk(idx).sum()) / 2**20,
               "transformer_saved_mb": saved_bytes(lambda tf=tf, idx=idx: tf(idx).sum()) / 2**20}
        out[str(n)] = row
        for name in ("resnet_bk", "transformer"):
            rec.log(n, n=n, op=f"model {name}", tokens_s=row[f"{name}_tokens_s"], saved_mb=row[f"{name}_saved_mb"])
    return out


def _register_headline(table: sweep.SweepTable, matched: int, fast: str, big: int, batch: int, d: int,
                       heads: int) -> None:
    """The matched-width layer and attention at the largest N, as roofline points (when both were timed)."""
    t_att, t_layer = table.t_att, table.t_layer
    if t_att and (matched, fast) in t_layer and big in t_layer[(matched, fast)]:
        _register(f"bk_layer C={matched} fwd+bwd N={big}", flops.bk_layer_cost(batch, big, d, matched),
                  t_layer[(matched, fast)][big])
        _register(f"attention fwd+bwd N={big}", flops.attention_cost(batch, big, d, heads), t_att[big])


def scaling(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    device = str(cfg["device"])  # validated by the CLI: cuda only when usable
    backends = _backends(cfg, device)
    d, batch, heads = int(cfg["d_model"]), int(cfg["batch"]), int(cfg["heads"])
    out: dict[str, Any] = {"device": device, "backends": backends, "torch_threads": torch.get_num_threads(),
                           "kernel_threads": native.team_size(), "clock": _clock(cfg),
                           "native_available": native.available()}
    out.update(_correctness(int(cfg["check_n"]), backends, gen))
    out.update(_float32_layouts(backends, gen))
    summary, table = _layer_sweep(cfg, rec, backends, device, gen)
    out.update(summary)
    out["baselines"] = _baselines(cfg, rec, gen) if device == "cpu" else {}
    errs = [p["max_abs_err"] for per_n in out["baselines"].values() for p in per_n.values()]
    out["max_baseline_err"] = max(errs) if errs else float("nan")
    rec.progress(len(cfg["sizes"]) + 1, len(cfg["sizes"]) + 2)
    out["models"] = _models(cfg, rec, device, gen)
    rec.progress(len(cfg["sizes"]) + 2, len(cfg["sizes"]) + 2)

    # headline numbers, flat for the checks (engine.research.bk.sweep)
    chans = [int(c) for c in cfg["channels"]]
    matched = d if d in chans else max(chans)
    big = max(table.t_att) if table.t_att else max(int(n) for n in cfg["sizes"])
    out.update(sweep.headline(out["per_channel"], backends, matched, min(chans)))
    out.update(sweep.cost_figures(batch, big, d, heads, matched))
    models = out["models"]
    out["model_speedup_at_max_n"] = models[max(models, key=int)]["speedup"] if models else float("nan")
    _register_headline(table, matched, backends[0], big, batch, d, heads)
    rec.note(f"N={big}, d_model={d}: BK mixer at matched width (C={matched}, {backends[0]}) "
             f"{out['speedup_layer_at_max_n']:.1f}x attention; the seed's 1-channel mixer "
             f"{out['speedup_seed_mixer_at_max_n']:.1f}x; core at {100 * out['bandwidth_fraction_at_max_n']:.0f}% of copy "
             f"bandwidth for its own I/O (28 B/site; {100 * out['bandwidth_fraction_pivot_bound_at_max_n']:.0f}% against "
             f"the 56 B/site pivot-saving bound); whole model {out['model_speedup_at_max_n']:.2f}x the matched Transformer")
    return out
