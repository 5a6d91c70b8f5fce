"""Run an exercise's probe: learner and reference side by side on seeded random inputs.

A probe is `probe(learner, reference, rng) -> list[str]` (docs/EXERCISES.md). The sides give
the slot symbols by name; a call through a side, or code under `with side:`, runs with that
side's slots installed. Anything the learner's code raises inside a probe is one failure
message naming the innermost learner frame, never a traceback.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from workbench.exercises.substitute import Binding, Loaded, learner_frame


class Side:
    """The learner's or the reference's implementation of an exercise's slots."""

    def __init__(self, name: str, symbols: dict[str, Any], binding: Binding | None) -> None:
        self._name, self._symbols, self._binding = name, symbols, binding

    def _context(self) -> AbstractContextManager[Any]:
        return self._binding if self._binding is not None else nullcontext()

    def __enter__(self) -> Side:
        self._context().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._binding is not None:
            self._binding.uninstall()

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        with self._context():
            return fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_name", "_symbols", "_binding"):
            raise AttributeError(name)
        try:
            obj = self._symbols[name]
        except KeyError:
            raise AttributeError(f"{self._name} side has no slot {name!r} (have {', '.join(self._symbols)})") from None
        if inspect.isclass(obj) or not callable(obj):
            return obj

        @functools.wraps(obj)
        def through_side(*args: Any, **kwargs: Any) -> Any:
            return self.call(obj, *args, **kwargs)

        return through_side

    def __repr__(self) -> str:
        return f"<{self._name} side: {', '.join(self._symbols)}>"


def sides(loaded: Loaded) -> tuple[Side, Side]:
    mine: dict[str, Any] = {}
    ref: dict[str, Any] = {}
    for sb in loaded.main.slots:
        if sb.slot.method is None:
            mine[sb.slot.name], ref[sb.slot.name] = sb.learner, sb.reference
        else:
            mine[sb.slot.name] = ref[sb.slot.name] = sb.owner
    return Side("learner", mine, loaded.main), Side("reference", ref, None)


def probe_function(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def run_probes(loaded: Loaded, seed: int) -> list[str]:
    """The probe's failure messages ([] when it passes or the exercise has none)."""
    if not loaded.probes:
        return []
    learner, reference = sides(loaded)
    probe = probe_function(loaded.probes)
    try:
        with np.errstate(all="ignore"):
            out = list(probe(learner, reference, np.random.default_rng(seed)))
    except NotImplementedError as exc:
        return [f"{_where(exc, loaded)}not implemented yet ({exc})"]
    except Exception as exc:  # noqa: BLE001 - a crash in the learner's code is a verdict
        return [f"{_where(exc, loaded)}raised {type(exc).__name__}: {exc}"]
    finally:
        while loaded.main._depth > 0:  # a probe that left a `with learner:` open
            loaded.main.uninstall()
    return [str(m) for m in out]


def _where(exc: BaseException, loaded: Loaded) -> str:
    frame = learner_frame(exc.__traceback__, loaded.paths)
    if frame is None:
        return ""
    path, line, func = frame
    return f"{path}:{line} in {func}: "
