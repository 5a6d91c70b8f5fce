"""bk-scaling's layer sweep: what is timed at each N, and the numbers derived from the timings.

At each N the BK mixer (per channel count and backend) and its core are timed against causal SDPA
and a tensor copy in the same interleaved rounds (engine.labs.bk_timing.interleaved, called by the
lab), so every ratio compares two things measured under the same load. `point_ops` builds those
callables in a fixed order (the generator's draws, then the global RNG's module inits, are the same
on every run); `SweepTable` turns each N's medians into log rows and, at the end, one summary row
per (channels, backend) curve. The lab keeps the config, the timing call and the logging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from engine.lm.models.attention import SelfAttention
from engine.research.bk import flops
from engine.research.bk.compare import crossover_n, loglog_slope
from engine.research.bk.function import bk_features
from engine.research.bk.mixer import BKMixer
from engine.systems.hardware.device import synced


def train_step(fn: Callable[[], Tensor], leaf: Tensor, grad: Tensor | None = None) -> Callable[[], None]:
    """One forward+backward of `fn` with the leaf's gradient reset first (so it does not accumulate).

    The backward starts from `grad` when given (a dense incoming gradient, as a model hands the core),
    else from `.sum()`, whose gradient is one value expanded over the output: no bytes to read."""
    def run() -> None:
        leaf.grad = None
        if grad is None:
            fn().sum().backward()
        else:
            fn().backward(grad)
    return run


@dataclass(frozen=True)
class Grid:
    """The sweep's fixed shape: one (channels, backend) curve per pair, attention up to attention_max_n;
    the scan backend is skipped where batch * channels * N exceeds scan_max_sites (too slow)."""

    batch: int
    d_model: int
    heads: int
    channels: tuple[int, ...]
    backends: tuple[str, ...]
    attention_max_n: int
    scan_max_sites: int

    def layers(self, n: int) -> list[tuple[int, str]]:
        """The (channels, backend) points timed at N, in timing order."""
        return [(c, b) for c in self.channels for b in self.backends
                if not (b == "scan" and self.batch * c * n > self.scan_max_sites)]


Ops = dict[str, Callable[[], object]]


def _forward_sum(module: nn.Module, x: Tensor) -> Tensor:
    out: Tensor = module(x).sum()
    return out


def point_ops(grid: Grid, n: int, copy: Callable[[], object], device: str, gen: torch.Generator,
              saved_bytes: Callable[[Callable[[], Tensor]], int]) -> tuple[Ops, dict[str, int]]:
    """The callables timed at N (copy, attention, then per channel count and backend the layer and the
    core) and `saved_bytes` of each layer and of attention (the activation-memory estimate; the caller's
    counter, engine.labs.bk_timing.saved_bytes in bk-scaling)."""
    batch, d = grid.batch, grid.d_model
    x = torch.randn(batch, n, d, generator=gen).to(device).requires_grad_()
    fns: Ops = {"copy": synced(copy, device)}
    saved: dict[str, int] = {}
    if n <= grid.attention_max_n:
        attn = SelfAttention(d, grid.heads, causal=True).to(device)
        fns["attention"] = synced(train_step(partial(attn, x), x), device)
        saved["attention"] = saved_bytes(partial(_forward_sum, attn, x))
    for c in grid.channels:
        v = (0.5 * torch.randn(batch * c, n, generator=gen) - 2.0).to(device).requires_grad_()
        w = torch.randn(batch * c, n, 2, generator=gen).to(device)  # the core's bytes count this gradient's read
        for b in grid.backends:
            if (c, b) not in grid.layers(n):
                continue
            mixer = BKMixer(d, c, backend=b).to(device)
            fns[f"layer c{c} {b}"] = synced(train_step(partial(mixer, x), x), device)
            fns[f"core c{c} {b}"] = synced(train_step(partial(bk_features, v, causal=True, backend=b), v, w), device)
            saved[f"layer c{c} {b}"] = saved_bytes(partial(_forward_sum, mixer, x))
    return fns, saved


def memory_columns(key: str, ns: list[int], saved_mb: dict[str, dict[int, float]],
                   peak: dict[tuple[int, str], float]) -> dict[str, dict[str, float]]:
    """Per N: saved_mb (autograd's saved storages, the estimate) and peak_rss_mb (measured; NaN if not)."""
    return {"saved_mb": {str(n): saved_mb.get(key, {}).get(n, float("nan")) for n in ns},
            "peak_rss_mb": {str(n): peak.get((n, key), float("nan")) for n in ns}}


class SweepTable:
    """The sweep's medians, N by N, and what they add up to.

    The core's bandwidth fraction is its bytes over its time, over the copy bandwidth of the same
    rounds: against the op's own I/O (28 B/site, the strict bound) and against the 56 B/site the
    pivot-saving kernels moved. peak is the measured peak RSS per (N, timing name), empty if unmeasured.
    """

    def __init__(self, grid: Grid, ns: list[int], peak: dict[tuple[int, str], float], copy_bytes: int) -> None:
        self.grid, self.ns, self.peak, self.copy_bytes = grid, ns, peak, copy_bytes
        self.t_att: dict[int, float] = {}
        self.t_layer: dict[tuple[int, str], dict[int, float]] = {}
        self.frac: dict[tuple[int, str], dict[int, float]] = {}
        self.frac_piv: dict[tuple[int, str], dict[int, float]] = {}
        self.copy_bw: list[float] = []
        self.saved_mb: dict[str, dict[int, float]] = {}  # the estimate, per timing name and N

    def add(self, n: int, t: dict[str, float], saved: dict[str, int]) -> list[dict[str, Any]]:
        """Record N's medians (seconds per call, by timing name); returns the rows to log for N."""
        nan, batch = float("nan"), self.grid.batch
        for key, nbytes in saved.items():
            self.saved_mb.setdefault(key, {})[n] = nbytes / 2**20
        bw = self.copy_bytes / t["copy"]
        self.copy_bw.append(bw)
        rows: list[dict[str, Any]] = []
        if "attention" in t:
            self.t_att[n] = t["attention"]
            rows.append({"n": n, "op": "attention", "channels": self.grid.d_model, "backend": "sdpa",
                         "ms": 1e3 * t["attention"], "saved_mb": saved["attention"] / 2**20,
                         "peak_rss_mb": self.peak.get((n, "attention"), nan)})
        for c, b in self.grid.layers(n):
            key, t_core = f"layer c{c} {b}", t[f"core c{c} {b}"]
            core_bytes = flops.bk_core_cost(batch * c, n, causal=True, real_bytes=4, io_only=True).bytes
            piv_bytes = flops.bk_core_cost(batch * c, n, causal=True, real_bytes=4, minimal=True).bytes
            f = core_bytes / t_core / bw
            self.t_layer.setdefault((c, b), {})[n] = t[key]
            self.frac.setdefault((c, b), {})[n] = f
            self.frac_piv.setdefault((c, b), {})[n] = piv_bytes / t_core / bw
            vs = {"speedup_vs_attention": t["attention"] / t[key]} if "attention" in t else {}
            rows.append({"n": n, "op": f"bk C={c} {b}", "channels": c, "backend": b, "ms": 1e3 * t[key],
                         "core_ms": 1e3 * t_core, "saved_mb": saved[key] / 2**20,
                         "peak_rss_mb": self.peak.get((n, key), nan),
                         "core_ns_per_site": 1e9 * t_core / (batch * c * n),
                         "core_gbytes_s": core_bytes / t_core / 1e9, "bandwidth_fraction": f,
                         "bandwidth_fraction_pivot_bound": self.frac_piv[(c, b)][n], **vs})
        return rows

    def curve(self, c: int, b: str, ref_n: int) -> dict[str, Any]:
        """One (channels, backend) curve: its exponent, bandwidth, memory, and where it overtakes attention."""
        times, t_att, frac, frac_piv = self.t_layer[(c, b)], self.t_att, self.frac[(c, b)], self.frac_piv[(c, b)]
        ns, top = sorted(times), max(times)
        common = [n for n in self.ns if n in times and n in t_att]
        row: dict[str, Any] = {"slope": loglog_slope(ns, [times[n] for n in ns]),
                               "max_n": top, "bandwidth_fraction_at_max_n": frac[top],
                               "bandwidth_fraction_pivot_bound_at_max_n": frac_piv[top],
                               "bandwidth_fraction": {str(n): frac[n] for n in ns},
                               "ms": {str(n): 1e3 * times[n] for n in ns},
                               **memory_columns(f"layer c{c} {b}", ns, self.saved_mb, self.peak)}
        big_n = [n for n in times if n >= 8192]
        if big_n:
            row["min_bandwidth_fraction_n_ge_8192"] = min(frac[n] for n in big_n)
        if common:
            row["crossover_n"] = crossover_n(common, [times[n] for n in common], [t_att[n] for n in common])
            row["crossover_below_range"] = times[common[0]] < t_att[common[0]]  # then crossover_n is an upper bound
            row["speedup_at_max_common_n"] = t_att[common[-1]] / times[common[-1]]
            row["max_common_n"] = common[-1]
        if ref_n in times:
            row[f"speedup_at_{ref_n}"] = t_att[ref_n] / times[ref_n]
        return row

    def summary(self, headline_n: int) -> dict[str, Any]:
        """Per channel count and backend a curve row; attention's memory and exponent; the copy bandwidth.
        The speedups are quoted at the largest attention N up to headline_n (headline_ref_n)."""
        ref_n = max((n for n in self.t_att if n <= headline_n), default=0)
        per: dict[str, Any] = {}
        for c, b in self.t_layer:
            per.setdefault(str(c), {})[b] = self.curve(c, b, ref_n)
        att_ns = sorted(self.t_att)
        return {"per_channel": per, "attention_memory": memory_columns("attention", att_ns, self.saved_mb, self.peak),
                "peak_rss_measured": bool(self.peak), "headline_ref_n": ref_n,
                "slope_attention": loglog_slope(att_ns, [self.t_att[n] for n in att_ns]),
                "copy_gbytes_s": float(np.median(self.copy_bw)) / 1e9}


def headline(per: dict[str, Any], backends: list[str], matched: int, seed_channels: int) -> dict[str, Any]:
    """The sweep's flat numbers for the checks: per backend the speedup at the largest common N, the
    crossover and the exponent, at matched width and for the seed's mixer (seed_channels); then those
    of the fastest backend (backends[0]) under their short names, with its bandwidth fractions and gaps."""
    fast = backends[0]
    out: dict[str, Any] = {"matched_channels": matched, "fast_backend": fast}
    for label, c in (("matched", matched), ("1ch", seed_channels)):
        for b in backends:
            row = per.get(str(c), {}).get(b, {})
            out[f"speedup_{label}_{b}_at_max_n"] = row.get("speedup_at_max_common_n", float("nan"))
            out[f"crossover_n_{label}_{b}"] = row.get("crossover_n", float("nan"))
            out[f"slope_{label}_{b}"] = row.get("slope", float("nan"))
    out["speedup_layer_at_max_n"] = out[f"speedup_matched_{fast}_at_max_n"]
    out["speedup_seed_mixer_at_max_n"] = out[f"speedup_1ch_{fast}_at_max_n"]
    out["slope_bk_layer"] = out[f"slope_matched_{fast}"]
    out["crossover_n"] = out[f"crossover_n_matched_{fast}"]
    out["bandwidth_fraction_at_max_n"] = per[str(matched)][fast]["bandwidth_fraction_at_max_n"]
    out["bandwidth_gap_at_max_n"] = 1.0 / out["bandwidth_fraction_at_max_n"]
    out["bandwidth_fraction_pivot_bound_at_max_n"] = per[str(matched)][fast]["bandwidth_fraction_pivot_bound_at_max_n"]
    out["bandwidth_gap_pivot_bound_at_max_n"] = 1.0 / out["bandwidth_fraction_pivot_bound_at_max_n"]
    return out


def cost_figures(batch: int, n: int, d_model: int, heads: int, channels: int) -> dict[str, float]:
    """The closed-form costs next to the timings (engine.research.bk.flops): attention's FLOPs over the
    BK layer's at N, the attention core's forward FLOPs at N = 1024 (a fixed reference), and the
    arithmetic intensity of each, which says which one the memory bandwidth bounds."""
    return {"flop_ratio_at_max_n": (flops.attention_cost(batch, n, d_model, heads).flops
                                    / flops.bk_layer_cost(batch, n, d_model, channels, causal=True).flops),
            "attention_core_fwd_flops_n1024": flops.attention_cost(1, 1024, 64, 4, backward=False,
                                                                   projections=False).flops,
            "bk_core_intensity": flops.bk_core_cost(batch, n, real_bytes=4).intensity,
            "attention_intensity": flops.attention_cost(batch, n, d_model, heads).intensity}
