"""Hessian curvature without forming the Hessian: HVPs, Hutchinson trace, power iteration, Lanczos.

Every estimator here touches H only through products H v, computed two ways:
- `hvp_double_backward`: grad of <grad f, v> (reverse-over-reverse), one vector at a time;
- `HVP`: forward-over-reverse (jvp of grad) vmapped over a block of probe vectors.
`exact_hessian` (torch.autograd.functional.hessian) is the ground truth for small models.

Fused attention kernels (flash / memory-efficient scaled_dot_product_attention) have no
second derivative and no forward-mode rule, so every second-order call here runs inside
`math_attention()`, which pins SDPA to its composite math backend: same values, all
derivatives. Models with hand-written attention are unaffected.

Hutchinson: for probes v with E[v v^T] = I, E[v^T H v] = tr H. Rademacher probes have the
smallest variance of such probes, 2(||H||_F^2 - sum_i H_ii^2) per probe; Gaussian probes
2||H||_F^2. Probes with E[v v^T] != I (e.g. uniform on [0, 1]) estimate something else.
The same products give the diagonal, E[v * Hv] = diag H, so one probe set yields the trace of
every diagonal block (per layer, per head) at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from torch.func import grad, jvp, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

Fn = Callable[[Tensor], Tensor]


@contextmanager
def math_attention() -> Iterator[None]:
    """Route F.scaled_dot_product_attention to the math backend (double-backward and jvp work there)."""
    with sdpa_kernel([SDPBackend.MATH]):
        yield


def hvp_double_backward(f: Fn, x: Tensor, v: Tensor) -> Tensor:
    x = x.detach().requires_grad_()
    with math_attention():
        (g,) = torch.autograd.grad(f(x), x, create_graph=True)
        (hv,) = torch.autograd.grad(g @ v, x)
    return hv


class HVP:
    """v -> H v at a fixed point x, for a single vector (n,) or a block (k, n).

    mode "reverse" (default) is reverse-over-reverse, grad of <grad f, v>; mode "forward" is
    forward-over-reverse, jvp of grad f. Both are exact; forward mode through LayerNorm makes torch
    script-compile a decomposition on first use (seconds on a busy CPU), so reverse is the default."""

    def __init__(self, f: Fn, x: Tensor, mode: str = "reverse") -> None:
        self.x, self.calls = x.detach(), 0
        g = grad(f)
        if mode == "forward":
            self._one = lambda v: jvp(g, (self.x,), (v,))[1]
        elif mode == "reverse":
            self._one = lambda v: grad(lambda t: (g(t) * v).sum())(self.x)
        else:
            raise ValueError(f"HVP mode must be 'reverse' or 'forward', not {mode!r}")

    def __call__(self, v: Tensor) -> Tensor:
        self.calls += 1 if v.ndim == 1 else v.shape[0]
        with math_attention():
            return self._one(v) if v.ndim == 1 else vmap(self._one)(v)


def exact_hessian(f: Fn, x: Tensor) -> Tensor:
    with math_attention():
        return torch.autograd.functional.hessian(f, x.detach(), vectorize=True)  # type: ignore[no-any-return]


def probes(kind: str, k: int, n: int, gen: torch.Generator, like: Tensor) -> Tensor:
    """k probe vectors. rademacher/gaussian have E[v v^T] = I; uniform (on [0,1]) does not."""
    opts = {"dtype": like.dtype, "device": gen.device, "generator": gen}
    if kind == "rademacher":
        v = torch.randint(0, 2, (k, n), **opts) * 2.0 - 1.0  # type: ignore[call-overload]
    elif kind == "gaussian":
        v = torch.randn(k, n, **opts)
    elif kind == "uniform":
        v = torch.rand(k, n, **opts)
    else:
        raise ValueError(f"unknown probe kind {kind!r}")
    return v.to(like.device, like.dtype)


def hutchinson(hvp: Callable[[Tensor], Tensor], like: Tensor, n_probes: int, gen: torch.Generator,
               kind: str = "rademacher", block: int = 64) -> tuple[Tensor, Tensor]:
    """Per-probe samples v^T H v (shape (n_probes,)) and the diagonal estimate mean(v * Hv)."""
    n, samples, diag = like.numel(), [], torch.zeros_like(like)
    for start in range(0, n_probes, block):
        v = probes(kind, min(block, n_probes - start), n, gen, like)
        hv = hvp(v)
        samples.append((v * hv).sum(1))
        diag += (v * hv).sum(0)
    return torch.cat(samples), diag / n_probes


def hutchinson_variance(h: Tensor, kind: str = "rademacher") -> float:
    """Exact per-probe variance of v^T H v for symmetric H (used to judge the estimate)."""
    fro2 = float((h * h).sum())
    return 2 * (fro2 - float((h.diagonal() ** 2).sum())) if kind == "rademacher" else 2 * fro2


def rademacher_variance_enumerated(h: Tensor) -> float:
    """Variance of v^T H v over all 2^n sign vectors of a small symmetric H (n <= 16).

    The population value by brute force, so the closed form hutchinson_variance (which sets the
    trace check's tolerance) is itself checked rather than trusted.
    """
    n = h.shape[0]
    if n > 16:
        raise ValueError(f"2^{n} sign vectors is too many to enumerate")
    bits = (torch.arange(2 ** n, device=h.device)[:, None] >> torch.arange(n, device=h.device)) & 1
    v = bits.to(h.dtype) * 2 - 1
    q = torch.einsum("ki,ij,kj->k", v, h, v)
    return float(q.var(unbiased=False))


def power_iteration(hvp: Callable[[Tensor], Tensor], like: Tensor, gen: torch.Generator,
                    iters: int = 500, tol: float = 1e-10) -> tuple[float, int]:
    """Eigenvalue of largest magnitude (Rayleigh quotient of the converged vector), iterations used."""
    v = probes("gaussian", 1, like.numel(), gen, like)[0]
    v, lam = v / v.norm(), 0.0
    for it in range(1, iters + 1):
        hv = hvp(v)
        new = float(v @ hv)
        v = hv / hv.norm()
        if abs(new - lam) <= tol * abs(new):
            return new, it
        lam = new
    return lam, iters


def lanczos_tridiag(hvp: Callable[[Tensor], Tensor], q0: Tensor, m: int) -> Tensor:
    """The m x m (or smaller, on breakdown) Lanczos tridiagonal T from start vector q0, full reorthogonalisation."""
    m = min(m, q0.numel())
    basis = [q0 / q0.norm()]
    alphas, betas = [], []
    for j in range(m):
        w = hvp(basis[j])
        alphas.append(float(basis[j] @ w))
        qs = torch.stack(basis)
        w = w - qs.T @ (qs @ w)
        w = w - qs.T @ (qs @ w)  # twice is enough (Kahan-Parlett)
        beta = float(w.norm())
        if j == m - 1 or beta < 1e-12 * max(1.0, abs(alphas[-1])):
            break
        betas.append(beta)
        basis.append(w / beta)
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas, dtype=torch.float64)
        t = t + torch.diag(off, 1) + torch.diag(off, -1)
    return t


def lanczos(hvp: Callable[[Tensor], Tensor], like: Tensor, gen: torch.Generator, m: int = 30) -> Tensor:
    """Ritz values (descending) after m Lanczos steps with full reorthogonalisation.

    Extreme eigenvalues converge first, so a few dozen HVPs give the top of the spectrum of a
    Hessian with thousands of directions; full reorthogonalisation keeps ghost copies away.
    """
    q = probes("gaussian", 1, like.numel(), gen, like)[0]
    return torch.linalg.eigvalsh(lanczos_tridiag(hvp, q, m)).flip(0)


def lanczos_tridiag_block(hvp: Callable[[Tensor], Tensor], q0: Tensor, m: int) -> list[Tensor]:
    """Lanczos from k start vectors q0 (k, n) in lockstep: one batched HVP per step (vmap), so k runs cost
    about as many calls as one. Returns each run's tridiagonal (shorter where a run broke down)."""
    k, n = q0.shape
    m = min(m, n)
    basis = [q0 / q0.norm(dim=1, keepdim=True)]
    alphas, betas = [], []
    length = [m] * k
    for j in range(m):
        w = hvp(basis[j])                                   # (k, n)
        alphas.append((basis[j] * w).sum(1))
        qs = torch.stack(basis, 1)                          # (k, j+1, n)
        for _ in range(2):                                  # full reorthogonalisation, twice
            w = w - torch.einsum("kjn,kj->kn", qs, torch.einsum("kjn,kn->kj", qs, w))
        beta = w.norm(dim=1)
        if j == m - 1:
            break
        for r in range(k):
            if length[r] == m and float(beta[r]) < 1e-12 * max(1.0, abs(float(alphas[-1][r]))):
                length[r] = j + 1
        betas.append(beta)
        basis.append(w / beta.clamp_min(1e-300)[:, None])
    out = []
    a, bt = torch.stack(alphas, 1).double(), (torch.stack(betas, 1).double() if betas else None)
    for r in range(k):
        t = torch.diag(a[r, : length[r]])
        if length[r] > 1 and bt is not None:
            off = bt[r, : length[r] - 1]
            t = t + torch.diag(off, 1) + torch.diag(off, -1)
        out.append(t)
    return out


def slq_from_tridiag(ts: list[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """Gauss nodes (Ritz values) and weights (first eigenvector components squared) of each tridiagonal."""
    out = []
    for t in ts:
        evals, evecs = torch.linalg.eigh(t)
        out.append((evals, evecs[0] ** 2))
    return out


def slq(hvp: Callable[[Tensor], Tensor], like: Tensor, gen: torch.Generator, n_probes: int = 4,
        m: int = 20) -> list[tuple[Tensor, Tensor]]:
    """Stochastic Lanczos quadrature: per probe, Gauss nodes (Ritz values) and weights (first components^2).

    With v a normalised Rademacher probe, sum_k w_k f(theta_k) is the m-point Gauss rule for
    v^T f(H) v, exact for polynomials f of degree < 2m; averaged over probes it estimates
    tr f(H) / n. The spectral density is sum_k w_k delta(lambda - theta_k), probe-averaged
    (Lin, Saad & Yang 2016; Ghorbani et al. 2019). `hvp` must accept a block (k, n).
    """
    v = probes("rademacher", n_probes, like.numel(), gen, like)
    return slq_from_tridiag(lanczos_tridiag_block(hvp, v, m))


def hutchpp(hvp: Callable[[Tensor], Tensor], like: Tensor, matvecs: int, gen: torch.Generator) -> float:
    """Hutch++ trace (Meyer, Musco, Musco & Woodruff 2021): exact trace on the span of a sketch H S, Hutchinson
    on the rest. Uses 3k products (k = matvecs // 3); its error falls like 1/matvecs, not 1/sqrt(matvecs),
    when the spectrum decays. With k >= n it is exact."""
    n, k = like.numel(), max(1, matvecs // 3)
    s = probes("rademacher", k, n, gen, like)
    g = probes("rademacher", k, n, gen, like)
    q = torch.linalg.qr(hvp(s).T).Q[:, : min(k, n)]            # (n, k) orthonormal
    top = float((q.T * hvp(q.T.contiguous())).sum())
    rest = g - (g @ q) @ q.T
    if float(rest.norm()) <= 1e-12 * float(g.norm()):
        return top
    return top + float((rest * hvp(rest)).sum()) / k
