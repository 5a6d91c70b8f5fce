"""Phase 16 labs: permutation equivariance, sinusoidal encodings, RoPE's relative property, extrapolation.

The encodings live in engine.lm.models.positional and attention in engine.lm.models.attention_ref.
Fault `shuffled_pe` (the phase's break) permutes the rows of every sinusoidal table lab 01 builds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.run import Recorder
from engine.labs._heatmaps import heatmap_grid
from engine.labs.p15_attention import token_vectors
from engine.lm.models.attention_ref import MultiHeadAttention, row_entropy
from engine.lm.models.positional import (
    LearnedPositionalEmbedding,
    RoPE,
    precompute_rope,
    rope_frequencies,
    rope_rotate,
    sinusoidal_pe,
)

# Theory 01's worked table (T = 4, d = 8), row p = 1, as printed (two decimals).
WORKED_ROW_P1 = [0.84, 0.54, 0.10, 1.00, 0.01, 1.00, 0.00, 1.00]


def permutation_equivariance(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 00: permuting the inputs of attention only permutes its outputs, until positions are added."""
    d, h = int(cfg["d_model"]), int(cfg["n_heads"])
    tokens = list(cfg["tokens"])
    perm = np.array(cfg["permutation"])
    mha = MultiHeadAttention(d, h, seed=int(cfg["seed"]), dtype=np.float64)
    x = token_vectors(tokens, d, int(cfg["seed"])).astype(np.float64)
    pe = sinusoidal_pe(len(tokens), d).astype(np.float64)
    rope = RoPE(d // h)
    cases = {
        "without_pe": lambda a: mha(a).data,
        "with_pe": lambda a: mha(a + pe).data,
        "with_rope": lambda a: mha(a, rope=rope).data,
    }
    out: dict[str, Any] = {}
    for i, (name, f) in enumerate(cases.items()):
        diff = float(np.abs(f(x[perm]) - f(x)[perm]).max())
        out[f"{name}_equivariance_max_diff"] = diff
        rec.log(i, stage="equivariance", scheme=name, max_diff=diff)
    out["permuted_tokens"] = [tokens[i] for i in perm]
    return out


def _shift_matrix(d: int, base: float = 10000.0) -> np.ndarray:
    """Block-diagonal M with PE(p + 1) = M PE(p): per pair, [[cos w, sin w], [-sin w, cos w]] on (sin, cos)."""
    m = np.zeros((d, d))
    for k, w in enumerate(rope_frequencies(d, base)):
        c, s = np.cos(w), np.sin(w)
        m[2 * k:2 * k + 2, 2 * k:2 * k + 2] = [[c, s], [-s, c]]
    return m


def _mean_cosine(pe: np.ndarray, k: int) -> float:
    a, b = pe[:-k].astype(np.float64), pe[k:].astype(np.float64)
    return float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).mean())


def sinusoidal(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 01: heatmap, dot-product decay, the one-step rotation, the worked table, neighbour similarity."""
    shuffle = int(cfg["seed"]) if cfg.get("fault") == "shuffled_pe" else None
    th, dh = int(cfg["T_heatmap"]), int(cfg["d_heatmap"])
    td, dd = int(cfg["T_decay"]), int(cfg["d_decay"])
    heat = sinusoidal_pe(th, dh, shuffle_seed=shuffle)
    png = heatmap_grid([(f"sinusoidal PE, T = {th}, d = {dh}" + (" (rows shuffled)" if shuffle is not None else ""),
                         heat)], rec.out_dir / "pe_heatmap.png", ncols=1, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    rec.artifact(png, "chart")

    pe = sinusoidal_pe(td, dd, shuffle_seed=shuffle).astype(np.float64)
    dots = pe @ pe[0]
    for p, v in enumerate(dots):
        rec.log(p, stage="decay", p=p, dot=float(v))
    below = np.flatnonzero(dots <= 0)

    small = sinusoidal_pe(10, 8, shuffle_seed=shuffle).astype(np.float64)
    shift_diff = float(np.abs(small[1:] - small[:-1] @ _shift_matrix(8).T).max())
    worked = sinusoidal_pe(4, 8, shuffle_seed=shuffle)
    offset_diff = float(np.abs(sinusoidal_pe(5, 8, offset=7) - sinusoidal_pe(12, 8)[7:]).max())

    cosines = {k: _mean_cosine(heat, k) for k in cfg["neighbour_offsets"]}
    for k, c in cosines.items():
        rec.log(int(k), stage="neighbours", k=int(k), cosine=c)
    return {
        "linear_shift_max_diff": shift_diff, "offset_table_max_diff": offset_diff,
        "worked_row_p1_max_abs_diff": float(np.abs(worked[1] - WORKED_ROW_P1).max()),
        "decay_zero_crossing_at_p": int(below[0]) if below.size else None,
        "decay_min": float(dots.min()), "decay_min_at_p": int(dots.argmin()),
        "dot_at_p100": float(dots[100]) if td > 100 else None,
        "dot_at_p0": float(dots[0]),
        "adjacent_cosine_mean": cosines.get(1), **{f"cosine_k{k}": c for k, c in cosines.items()},
        "rows_unique": bool(len(np.unique(heat.round(6), axis=0)) == th),
    }


def _rotation_matrix(p: int, d: int, base: float) -> np.ndarray:
    """Block-diagonal R(p): pair k turned by p * base^(-2k/d) with [[cos, -sin], [sin, cos]] (written out, no tables)."""
    r = np.zeros((d, d))
    for k in range(d // 2):
        a = p * base ** (-2.0 * k / d)
        r[2 * k:2 * k + 2, 2 * k:2 * k + 2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return r


def _mha_rope_reference(mha: MultiHeadAttention, x: np.ndarray, dh: int, base: float, offset: int) -> np.ndarray:
    """Causal multi-head attention with RoPE written out: explicit R(p) on q and k only, never on v."""
    T, H = x.shape[0], mha.n_heads
    split = [(x @ w.data).reshape(T, H, dh).transpose(1, 0, 2) for w in (mha.W_q, mha.W_k, mha.W_v)]
    rot = np.stack([_rotation_matrix(offset + p, dh, base) for p in range(T)])  # (T, dh, dh)
    q, k = (np.einsum("pij,hpj->hpi", rot, a) for a in split[:2])
    s = q @ k.transpose(0, 2, 1) / np.sqrt(dh) + np.where(np.tri(T, dtype=bool), 0.0, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    return (w @ split[2]).transpose(1, 0, 2).reshape(T, H * dh) @ mha.W_o.data


def _rope_backward_err(dh: int, base: float, offset: int, rng: np.random.Generator) -> float:
    """d/dx of sum(g * rope(x)) at positions offset.. is R(p)^T g row by row."""
    from engine.scratch.autograd.tensor import Tensor

    x, g = Tensor(rng.standard_normal((4, dh)), requires_grad=True), rng.standard_normal((4, dh))
    (RoPE(dh, base=base)(x, offset=offset) * Tensor(g)).sum().backward()
    want = np.stack([_rotation_matrix(offset + p, dh, base).T @ g[p] for p in range(4)])
    return float(np.abs(x.grad - want).max())


def rope_relative(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 02: <R_m q, R_n k> = <q, R_(n-m) k>, norms preserved, and attention unchanged by a global shift."""
    dh, T, base = int(cfg["d_head"]), int(cfg["T"]), float(cfg["rope_base"])
    rng = np.random.default_rng(cfg["seed"])
    q, k = rng.standard_normal(dh), rng.standard_normal(dh)
    cos, sin = precompute_rope(max(T, 101), dh, base)

    def at(v: np.ndarray, p: int) -> np.ndarray:
        c, s = precompute_rope(1, dh, base, offset=p)  # p may be negative: the sine flips sign
        return rope_rotate(v[None], c, s)[0]

    pairs = [tuple(p) for p in cfg["pairs"]]
    diffs = [abs(at(q, m) @ at(k, n) - q @ at(k, n - m)) for m, n in pairs]
    grid = [abs(at(q, m) @ at(k, n) - q @ at(k, n - m)) for m in range(T) for n in range(T)]
    for n in range(T):
        rec.log(n, stage="relative", n=n, score_rotated=float(at(q, 0) @ at(k, n)), score_relative=float(q @ at(k, n)))
    norm_diff = max(abs(np.linalg.norm(rope_rotate(q[None], cos[p:p + 1], sin[p:p + 1])) - np.linalg.norm(q))
                    for p in cfg["norm_positions"])
    # module level: shifting every position by the same offset leaves the attention weights unchanged
    mha = MultiHeadAttention(dh * 2, 2, seed=int(cfg["seed"]), dtype=np.float64)
    rope = RoPE(dh, base=base)
    x = rng.standard_normal((T, dh * 2))
    mha(x, causal=True, rope=rope)
    w0 = mha.last_weights
    mha(x, causal=True, rope=rope, offset=int(cfg["shift"]))
    w1 = mha.last_weights
    assert w0 is not None and w1 is not None
    matrix_diff = max(float(np.abs(at(q, p) - _rotation_matrix(p, dh, base) @ q).max()) for p in (1, 3, 17, 100))
    shift = int(cfg["shift"])
    manual = max(float(np.abs(mha(x, causal=True, rope=rope, offset=o).data - _mha_rope_reference(mha, x, dh, base, o)).max())
                 for o in (0, shift))
    return {
        "mha_rope_vs_explicit_max_diff": manual,
        "rope_backward_vs_transpose_max_diff": _rope_backward_err(dh, base, shift, rng),
        "rotation_vs_matrix_max_diff": matrix_diff,
        "relative_position_max_diff": float(max(diffs)),
        "relative_position_grid_max_diff": float(max(grid)),
        "norm_preservation_max_diff": float(norm_diff),
        "shift_invariance_max_diff": float(np.abs(w0 - w1).max()),
        "score_depends_on_position": bool(abs(at(q, 0) @ at(k, 1) - q @ k) > 1e-3),
        "convention": "interleaved pairs (2i, 2i+1)",
    }


def extrapolation(cfg: dict[str, Any], rec: Recorder) -> dict[str, Any]:
    """Lab 03: untrained attention with three position schemes, row entropy of head 0 as T grows past 64."""
    d, h = int(cfg["d_model"]), int(cfg["n_heads"])
    sweep = [int(t) for t in cfg["T_sweep"]]
    t_max = int(cfg["learned_T_max"])
    rng = np.random.default_rng(cfg["seed"])
    mha = MultiHeadAttention(d, h, seed=int(cfg["seed"]))
    x_all = rng.standard_normal((max(sweep), d)).astype(np.float32)
    # an untrained table with the same per-entry variance (1/2) as the sinusoidal one
    learned = LearnedPositionalEmbedding(t_max, d, std=float(np.sqrt(0.5)), rng=rng)
    rope = RoPE(d // h)
    schemes = {
        "sinusoidal": lambda x: mha(x + sinusoidal_pe(len(x), d)),
        "learned": lambda x: mha(learned(x)),
        "rope": lambda x: mha(x, rope=rope),
    }
    out: dict[str, Any] = {}
    panels: list[tuple[str, np.ndarray]] = []
    finite = True
    for si, (name, f) in enumerate(schemes.items()):
        for ti, T in enumerate(sweep):
            f(x_all[:T])
            w = mha.last_weights
            assert w is not None
            ent = float(row_entropy(w[0]).mean())
            finite = finite and bool(np.isfinite(ent))
            rec.log(si * len(sweep) + ti, stage="sweep", scheme=name, T=T, mean_row_entropy=ent,
                    uniform_entropy=float(np.log(T)))
            out[f"{name}_entropy_T{T}"] = ent
            panels.append((f"{name}, T = {T}", w[0]))
        out[f"{name}_entropy_rise"] = out[f"{name}_entropy_T{sweep[-1]}"] - out[f"{name}_entropy_T{sweep[0]}"]
    png = heatmap_grid(panels, rec.out_dir / "attention_pattern_comparison.png", ncols=len(sweep))
    rec.artifact(png, "chart")
    out.update({
        "schemes_compared": len(schemes), "entropies_finite": finite,
        # max_len 64: positions 62.. at offset 62 are 62, 63, 63, 63 (the last row reused, never wrapped)
        "learned_positions_hand_case_ok": learned.positions(4, 62).tolist() == [62, 63, 63, 63]
        and learned.positions(3).tolist() == [0, 1, 2],
        "log_T_rise": float(np.log(sweep[-1]) - np.log(sweep[0])),
        "phase_17_recommendation": "rope_with_sinusoidal_fallback",
    })
    return out
