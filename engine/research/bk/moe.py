"""Top-1 sparse mixture of experts with Gumbel-softmax routing (the seed's Step 3).

Each token is sent to one expert (d -> 2d -> d MLP). In training the choice is a hard
Gumbel-softmax sample with a straight-through gradient, so the router learns (the
straight-through gradient is an estimator, not the derivative); in eval it is the argmax. Only the chosen expert runs on a token (dispatch by index), so the cost is
one expert's MLP per token whatever the number of experts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SparseMoE(nn.Module):
    def __init__(self, d_model: int, num_experts: int = 4, tau: float = 1.0) -> None:
        super().__init__()
        self.router = nn.Linear(d_model, num_experts)
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))
            for _ in range(num_experts)
        )
        self.tau = tau
        self.last_load: Tensor | None = None  # fraction of tokens per expert, for monitoring

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        logits = self.router(flat)
        if self.training:
            gates = F.gumbel_softmax(logits, tau=self.tau, hard=True)
        else:  # argmax routing; a constant gate, so the map is exactly differentiable in x
            gates = F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
        choice = gates.argmax(-1)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            idx = (choice == e).nonzero(as_tuple=True)[0]
            if idx.numel():
                out.index_copy_(0, idx, expert(flat[idx]) * gates[idx, e : e + 1])
        self.last_load = torch.bincount(choice, minlength=len(self.experts)).float() / max(len(choice), 1)
        return out.reshape(shape)


class DenseMLP(nn.Module):
    """The non-sparse alternative with the same shape as one expert."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out
