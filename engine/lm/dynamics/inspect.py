"""Removable hooks on engine Modules, and an Inspector that turns them into plain-float snapshots.

engine.scratch.nn Modules have no hook API, so a forward hook here wraps one module *instance*'s
`forward` (set on the instance, so the class and every other instance are untouched);
`HookHandle.remove()` deletes the wrapper and the class method shows through again.
A "backward hook" on a parameter is read after `backward()`: the Tensor autograd keeps
leaf gradients on `.grad`, so `Inspector.after_backward()` folds each registered
parameter's gradient into its statistics.

Statistics are Welford states (engine.lm.dynamics.stats) per name, reset by `reset()`;
`snapshot()` returns only Python floats and ints, so it can go straight into JSON.
The Inspector holds no global state: two Inspectors on two models never interact.
`recording` switches the statistics on and off without touching the hooks, so a loop can
pay for them only on the steps it logs (the course samples its layer panels every 50 steps).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.lm.dynamics.stats import Welford, dead_units
from engine.scratch.nn import Module, Parameter

HookFn = Callable[[Module, tuple, Any], None]


class HookHandle:
    """One registered hook; `remove()` is idempotent and restores the target exactly."""

    def __init__(self, target: Any, hook_fn: Callable, kind: str) -> None:
        if kind not in ("forward", "backward"):
            raise ValueError(f"kind must be forward|backward, got {kind!r}")
        self.target, self.hook_fn, self.kind = target, hook_fn, kind
        self.active = True
        if kind == "forward":
            if "forward" in target.__dict__:
                raise RuntimeError(f"{type(target).__name__} already has a forward hook")
            original = type(target).forward

            def wrapped(*args: Any, **kwargs: Any) -> Any:
                out = original(target, *args, **kwargs)
                hook_fn(target, args, out)
                return out

            object.__setattr__(target, "forward", wrapped)

    def remove(self) -> None:
        if not self.active:
            return
        if self.kind == "forward":
            del self.target.__dict__["forward"]
        self.active = False


class Inspector:
    """Forward statistics per named module, gradient statistics per named parameter."""

    def __init__(self, model: Module) -> None:
        self.model = model
        self.handles: list[HookHandle] = []
        self.acts: dict[str, Welford] = {}
        self.abs_acts: dict[str, Welford] = {}
        self.dead: dict[str, int] = {}
        self.grads: dict[str, Welford] = {}
        self._params: dict[str, Parameter] = {}
        self.track_dead: set[str] = set()
        self.recording = True

    def register_forward(self, name: str, module: Module, dead: bool = False) -> HookHandle:
        """Record Welford stats of the module's output (and of |output|); with `dead`, count dead units."""
        if dead:
            self.track_dead.add(name)

        def hook(_m: Module, _args: tuple, out: Any) -> None:
            if not self.recording:
                return
            a = out.data if hasattr(out, "data") else np.asarray(out)
            self.acts.setdefault(name, Welford()).update(a)
            self.abs_acts.setdefault(name, Welford()).update(np.abs(a))
            if name in self.track_dead:
                self.dead[name] = dead_units(a)

        h = HookHandle(module, hook, "forward")
        self.handles.append(h)
        return h

    def register_backward(self, name: str, param: Parameter) -> HookHandle:
        h = HookHandle(param, lambda g: self.grads.setdefault(name, Welford()).update(g), "backward")
        self._params[name] = param
        self.handles.append(h)
        return h

    def after_backward(self) -> None:
        """Fold every registered parameter's current `.grad` into its statistics."""
        if not self.recording:
            return
        for h in self.handles:
            if h.kind == "backward" and h.active and h.target.grad is not None:
                h.hook_fn(h.target.grad)

    def snapshot(self) -> dict[str, Any]:
        return {
            "activations": {k: {**w.as_dict(), "mean_abs": self.abs_acts[k].mean} for k, w in self.acts.items()},
            "dead_neurons": {k: int(v) for k, v in self.dead.items()},
            "grads": {k: w.as_dict() for k, w in self.grads.items()},
        }

    def reset(self) -> None:
        self.acts.clear()
        self.abs_acts.clear()
        self.dead.clear()
        self.grads.clear()

    def remove_all(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()
