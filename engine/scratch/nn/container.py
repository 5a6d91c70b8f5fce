"""Containers: Sequential (chain in order) and Residual (y = x + f(x))."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from engine.scratch.autograd.tensor import Tensor
from engine.scratch.nn.module import Module


class Sequential(Module):
    """Apply modules in order; they are registered under the names "0", "1", ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


class Residual(Module):
    """y = x + f(x). With `enabled=False` it returns f(x) alone: the phase-10 break."""

    def __init__(self, f: Module | Callable[[Tensor], Tensor], enabled: bool = True) -> None:
        super().__init__()
        self.f = f
        self.enabled = enabled

    def forward(self, x: Tensor) -> Tensor:
        h = self.f(x)
        return x + h if self.enabled else h
