"""`Parameter` and `Module`: the PyTorch-shaped layer API over `Tensor` (phase 09).

A Module registers, in assignment order, every `Parameter` and sub-`Module` set as an
attribute (plus named buffers: non-trainable arrays such as BatchNorm's running stats).
`parameters()` yields its own parameters first, then each submodule's, depth first; a
parameter shared by two modules is yielded twice (tied weights, as in the course's test).
State goes to disk as safetensors, never pickle.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from engine.scratch.autograd.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: `requires_grad` is True by default."""

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)


class Module:
    """Base class: subclasses set Parameters/Modules as attributes and define `forward`."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        params: dict[str, Parameter] = self.__dict__["_parameters"]  # KeyError if super().__init__ skipped
        mods: dict[str, Module] = self.__dict__["_modules"]
        params.pop(name, None)
        mods.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            mods[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """A named array saved in state_dict but not trained (e.g. running statistics)."""
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def _set_buffer(self, name: str, value: np.ndarray) -> None:
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ traversal
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def modules(self) -> Iterator[Module]:
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def num_parameters(self) -> int:
        seen: dict[int, int] = {id(p): p.numel() for p in self.parameters()}
        return sum(seen.values())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    # ------------------------------------------------------------------ state
    def state_dict(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flat dotted names -> copies of the arrays (parameters, then buffers, per module)."""
        out: dict[str, np.ndarray] = {}
        for name, p in self._parameters.items():
            out[prefix + name] = p.data.copy()
        for name, b in self._buffers.items():
            out[prefix + name] = np.array(b, copy=True)
        for name, m in self._modules.items():
            out.update(m.state_dict(prefix + name + "."))
        return out

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> None:
        """Copy arrays in place (parameter objects keep their identity); shapes must match."""
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict mismatch: missing {missing}, unexpected {unexpected}")
        for m_name, module in self._named_modules():
            for name, p in module._parameters.items():
                key = m_name + name
                if key in state:
                    arr = np.asarray(state[key])
                    if arr.shape != p.shape:
                        raise ValueError(f"{key}: shape {arr.shape} != parameter shape {p.shape}")
                    p.data[...] = arr
            for name in list(module._buffers):
                key = m_name + name
                if key in state:
                    module._set_buffer(name, np.array(state[key], copy=True))

    def _named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, m in self._modules.items():
            yield from m._named_modules(prefix + name + ".")

    def save(self, path: str | Path) -> Path:
        """Write the state_dict as a .safetensors file."""
        from engine.core import tensorfile

        return tensorfile.save({k: np.ascontiguousarray(v) for k, v in self.state_dict().items()}, path)

    def load(self, path: str | Path) -> None:
        from safetensors.numpy import load_file

        self.load_state_dict(load_file(str(path)))

    # ------------------------------------------------------------------ call
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, p in self._parameters.items():
            lines.append(f"  ({name}): Parameter(shape={p.shape})")
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        if len(lines) == 1:
            return lines[0] + ")"
        return "\n".join(lines) + "\n)"
