"""Parameters as one flat vector: the space in which the Hessian, its trace and its eigenvalues live.

`loss_of_flat` turns "a module and a batch" into a pure function f(theta) -> loss, which
torch.func (grad, jvp, vmap) and torch.autograd.functional.hessian can differentiate twice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call


def param_dict(model: nn.Module) -> dict[str, Tensor]:
    """Detached copies of the trainable parameters, in registration order."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def flatten(params: dict[str, Tensor]) -> Tensor:
    return torch.cat([p.reshape(-1) for p in params.values()])


def unflatten(flat: Tensor, template: dict[str, Tensor]) -> dict[str, Tensor]:
    out, i = {}, 0
    for name, p in template.items():
        out[name] = flat[i : i + p.numel()].view_as(p)
        i += p.numel()
    return out


def offsets(template: dict[str, Tensor]) -> dict[str, slice]:
    """Where each named parameter sits in the flat vector."""
    out, i = {}, 0
    for name, p in template.items():
        out[name] = slice(i, i + p.numel())
        i += p.numel()
    return out


def loss_of_flat(model: nn.Module, template: dict[str, Tensor],
                 loss: Callable[[nn.Module, dict[str, Tensor]], Tensor]) -> Callable[[Tensor], Tensor]:
    """f(theta) = loss(model with parameters theta). `loss(model, params)` must call
    `functional_call(model, params, ...)` itself; this wrapper only unflattens."""

    def f(flat: Tensor) -> Tensor:
        return loss(model, unflatten(flat, template))

    return f


def call(model: nn.Module, params: dict[str, Tensor], *args: Tensor, **kwargs: object) -> Tensor:
    """functional_call with the module's own buffers unless `params` overrides them (e.g. head_gate)."""
    return functional_call(model, params, args, kwargs, strict=False)  # type: ignore[no-any-return]
