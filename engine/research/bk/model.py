"""ResNet-BK: a language model whose token mixing is a resolvent diagonal, not attention.

    tokens -> embedding (+ positions) -> n_layers x [ x + BKLayer(LayerNorm(x)) ] -> LN -> LM head
    BKLayer(x):  f = FFN(x)                    (top-1 MoE or a dense MLP)
                 v = clamp(W_v f, +-v_max)      (one potential per channel and token)
                 F = BK-Core(h0_diag + v)       ([Re, Im] G_ii, per channel)
                 out = f + scale * W_o clamp(F, +-feature_clamp)

Token i talks to token j only through G: a potential change at j moves G_ii by
-G_ij G_ji, which decays with |i - j| at a rate set by Im z. The seed's G_ii reads both
directions, so as a next-token model it sees the future; `causal=True` (the default here)
uses the truncated resolvent 1/d_i instead. `channels` > 1 runs several independent
potentials per layer (the seed has one); all channels go through BK-Core in one batch.

Guards from the seed are config: v_max, feature_clamp; `check_finite` raises on the first
NaN/Inf with the name of the layer and stage that produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from engine.research.bk.function import bk_features
from engine.research.bk.moe import DenseMLP, SparseMoE


@dataclass
class BKConfig:
    vocab_size: int
    n_seq: int = 128
    d_model: int = 64
    n_layers: int = 4
    ffn: str = "moe"  # moe | mlp
    num_experts: int = 4
    tau: float = 1.0
    channels: int = 1
    h0_diag: float = -2.0
    h0_off: float = 1.0  # super- and sub-diagonal of the base Laplacian
    z_re: float = 0.0
    z_im: float = 1.0
    v_max: float = 3.0
    feature_clamp: float = 10.0
    causal: bool = True
    grad_mode: str = "exact"  # exact | hybrid
    grad_blend: float = 0.5
    precision: str = "complex128"
    check_finite: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class NonFiniteError(FloatingPointError):
    """A NaN or Inf appeared; the message names the layer and stage."""


def _guard(t: Tensor, where: str, enabled: bool) -> Tensor:
    if enabled and not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).sum().item()
        raise NonFiniteError(f"{bad} non-finite values in {where} (shape {tuple(t.shape)})")
    return t


class BKLayer(nn.Module):
    def __init__(self, cfg: BKConfig, name: str = "bk") -> None:
        super().__init__()
        self.cfg, self.name = cfg, name
        d, c = cfg.d_model, cfg.channels
        self.ffn: nn.Module = SparseMoE(d, cfg.num_experts, cfg.tau) if cfg.ffn == "moe" else DenseMLP(d)
        self.v_proj = nn.Linear(d, c)
        self.out_proj = nn.Linear(2 * c, d)
        self.bk_scale = nn.Parameter(torch.ones(()))
        self.last_v: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        cfg, chk = self.cfg, self.cfg.check_finite
        f = _guard(self.ffn(x), f"{self.name}.ffn", chk)
        v = self.v_proj(f).clamp(-cfg.v_max, cfg.v_max)  # (B, N, C)
        self.last_v = v.detach()
        diag = (cfg.h0_diag + v).transpose(-1, -2)  # (B, C, N): one tridiagonal system per channel
        feats = bk_features(
            diag, cfg.h0_off * cfg.h0_off, complex(cfg.z_re, cfg.z_im), causal=cfg.causal,
            grad_mode=cfg.grad_mode, blend=cfg.grad_blend, precision=cfg.precision,
        )  # (B, C, N, 2)
        feats = _guard(feats, f"{self.name}.bk_core", chk).clamp(-cfg.feature_clamp, cfg.feature_clamp)
        feats = feats.permute(0, 2, 1, 3).reshape(*x.shape[:-1], 2 * cfg.channels)
        return _guard(f + self.bk_scale * self.out_proj(feats), f"{self.name}.out", chk)


class ResNetBK(nn.Module):
    def __init__(self, cfg: BKConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.n_seq, cfg.d_model)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.d_model) for _ in range(cfg.n_layers))
        self.layers = nn.ModuleList(BKLayer(cfg, f"layers.{i}") for i in range(cfg.n_layers))
        self.norm_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, idx: Tensor) -> Tensor:
        n = idx.shape[-1]
        if n > self.cfg.n_seq:
            raise ValueError(f"sequence length {n} exceeds n_seq={self.cfg.n_seq}")
        x = self.tok(idx) + self.pos(torch.arange(n, device=idx.device))
        for i, (norm, layer) in enumerate(zip(self.norms, self.layers, strict=True)):
            x = _guard(x + layer(norm(x)), f"block {i}", self.cfg.check_finite)
        logits: Tensor = self.head(self.norm_f(x))
        return logits


def non_finite_grads(model: nn.Module) -> list[str]:
    """Names of parameters whose gradient holds a NaN or Inf (empty when all are finite)."""
    return [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def interpret(model: ResNetBK, idx: Tensor, layer: int = 0, channel: int = 0) -> dict[str, np.ndarray]:
    """What one BK layer computed on one sequence (idx shaped (1, N)), for plotting:

    v             the learned potential v_i (after the v_max clamp)
    abs_g_causal  |1/d_i|, the truncated resolvent the causal model reads
    abs_g_full    |G_ii| of the whole sequence's H (what the seed's non-causal model reads)
    spectrum      the eigenvalues of H = H0 + diag(v) (real symmetric tridiagonal, ascending)
    """
    from scipy.linalg import eigh_tridiagonal

    cfg = model.cfg
    was = model.training
    model.eval()
    model(idx[:1])
    model.train(was)
    v_t = model.layers[layer].last_v
    if v_t is None:
        raise RuntimeError(f"layer {layer} recorded no potential")
    v = v_t[0, :, channel].double().cpu()
    diag = (cfg.h0_diag + v)[None]
    z = complex(cfg.z_re, cfg.z_im)
    beta = cfg.h0_off * cfg.h0_off

    def absg(causal: bool) -> np.ndarray:
        f = bk_features(diag, beta, z, causal=causal, precision="complex128")[0]
        return np.asarray(torch.linalg.vector_norm(f, dim=-1))

    spectrum = eigh_tridiagonal(diag[0].numpy(), np.full(len(v) - 1, cfg.h0_off), eigvals_only=True)
    return {"v": v.numpy(), "abs_g_causal": absg(True), "abs_g_full": absg(False), "spectrum": np.sort(spectrum)}
