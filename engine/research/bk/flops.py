"""FLOP and byte counts for BK-Core and softmax attention, per op, for a roofline.

Counting convention (real floating-point operations): complex add 2, complex multiply 6,
real x complex 2, complex square 5, complex reciprocal 6 (|x|^2: 3, one divide, two
multiplies), real part of a complex product 3. Counts are for the sequential algorithm
(the minimum work); the odd-even scan that runs it does about twice the combines, which
`scan_overhead` reports separately. Bytes are compulsory traffic: every input read once,
every output and saved tensor written once, nothing re-read from cache misses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

CADD, CMUL, RCMUL, CSQ, CRECIP, REPROD = 2, 6, 2, 5, 6, 3

# per site of one tridiagonal system
BK_FWD = 1 + 2 * (CRECIP + RCMUL + CADD) + 2 * CADD + CRECIP  # shift, d and e pivots, G = 1/(d+e-alpha)
BK_FWD_CAUSAL = 1 + (CRECIP + RCMUL + CADD) + CRECIP  # shift, d pivots, g = 1/d
BK_BWD = 2 * (CSQ + CRECIP + RCMUL) + 2 * (CADD + CMUL) + 2 * CADD + CSQ + REPROD  # r, s, L, R, sum, G^2 * t
BK_BWD_CAUSAL = (CSQ + CRECIP + RCMUL) + (CSQ + CMUL) + (CMUL + CADD)  # r, w g^2, U
BK_BWD_HYBRID = CSQ + 4 + 2 * REPROD + CRECIP + 3  # G^2, |G^2|, two real parts, 1/G^2, blend


@dataclass(frozen=True)
class OpCost:
    name: str
    flops: float
    bytes: float

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else float("inf")

    def as_dict(self) -> dict[str, float | str]:
        return {**asdict(self), "intensity": self.intensity}


def bk_core_cost(rows: int, n: int, *, backward: bool = True, causal: bool = False, real_bytes: int = 4,
                 complex_bytes: int = 16, grad_mode: str = "exact", minimal: bool = False,
                 io_only: bool = False) -> OpCost:
    """BK-Core on `rows` independent systems (batch x channels) of n sites.

    By default g, d (and e) count as saved for the backward; minimal=True saves only the pivots
    d (and e) and recomputes g from them (56 B/site causal with float32 I/O: the bound the
    pivot-saving kernels were measured against). io_only=True is the op's own traffic and nothing
    else: read v, write the features; read the incoming gradient, read v again, write dL/dv
    (28 B/site causal). A kernel that recomputes its pivots from sparse checkpoints (the causal
    C kernel) moves about that; no implementation of a forward and a separate backward moves less.
    """
    sites = rows * n
    if io_only:
        traffic = sites * (3 * real_bytes + (4 * real_bytes if backward else 0))
        fl = (BK_FWD_CAUSAL if causal else BK_FWD) * sites
        if backward:
            fl += (BK_BWD_CAUSAL if causal else BK_BWD) * sites
        return OpCost(f"bk_core{'_causal' if causal else ''}{'_fwd_bwd' if backward else '_fwd'}_io", float(fl),
                      float(traffic))
    fwd = BK_FWD_CAUSAL if causal else BK_FWD
    saved = (2 if causal else 3) - (1 if minimal else 0)  # g, d (and e) kept for the backward pass
    flops = fwd * sites
    traffic = sites * (real_bytes + 2 * real_bytes + saved * complex_bytes)
    if backward:
        bwd = BK_BWD_HYBRID if grad_mode == "hybrid" else (BK_BWD_CAUSAL if causal else BK_BWD)
        flops += bwd * sites
        traffic += sites * (2 * real_bytes + saved * complex_bytes + real_bytes)
    name = f"bk_core{'_causal' if causal else ''}{'_fwd_bwd' if backward else '_fwd'}"
    return OpCost(name, float(flops), float(traffic))


def scan_overhead(n: int) -> float:
    """Combines done by the odd-even scan per combine of the sequential loop (-> 2 as n grows)."""
    total, m = 0, n
    while m > 1:
        total += m // 2 + (m - m // 2 - 1)
        m //= 2
    return total / max(n - 1, 1)


def bk_layer_cost(batch: int, n: int, d_model: int, channels: int = 1, *, backward: bool = True,
                  causal: bool = True, real_bytes: int = 4) -> OpCost:
    """The BK mixing step at width d_model: v_proj (d -> C), BK-Core, out_proj (2C -> d)."""
    tokens = batch * n
    proj = 2 * tokens * d_model * channels + 2 * tokens * 2 * channels * d_model
    core = bk_core_cost(batch * channels, n, backward=backward, causal=causal, real_bytes=real_bytes)
    mult = 3 if backward else 1  # a linear layer's backward is two matmuls of the forward's size
    traffic = core.bytes + mult * 2 * tokens * d_model * real_bytes
    return OpCost("bk_layer" + ("_fwd_bwd" if backward else "_fwd"), float(mult * proj + core.flops), float(traffic))


def attention_cost(batch: int, n: int, d_model: int, n_heads: int = 4, *, backward: bool = True,
                   materialized: bool = True, causal_skip: bool = False, real_bytes: int = 4,
                   projections: bool = True) -> OpCost:
    """Softmax attention at width d_model (QK^T, softmax, PV; with projections by default).

    materialized=True counts the N x N score and probability matrices going through memory
    (the CPU math path); False is the fused/flash lower bound (Q, K, V, O only).
    causal_skip=True halves the N^2 work, as kernels that skip masked tiles do.
    """
    quad = 2 * batch * n * n * d_model * 2 + 5 * batch * n_heads * n * n  # QK^T, PV, softmax
    if causal_skip:
        quad //= 2
    proj = 2 * batch * n * d_model * 4 * d_model if projections else 0
    flops = quad + proj
    traffic = 4 * batch * n * d_model * real_bytes
    if materialized:
        traffic += 4 * batch * n_heads * n * n * real_bytes  # write S, read S, write P, read P
    if backward:
        flops += 2 * quad + 2 * proj
        traffic += 8 * batch * n * d_model * real_bytes  # read Q, K, V, O, dO; write dQ, dK, dV
        if materialized:
            traffic += 4 * batch * n_heads * n * n * real_bytes  # read P, write and read dP, write dS
    return OpCost("attention" + ("_fwd_bwd" if backward else "_fwd"), float(flops), float(traffic))
