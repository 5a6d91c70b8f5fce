"""One way to compare a learner's value with the reference's, so every probe message reads alike."""

from __future__ import annotations

from typing import Any

import numpy as np


def _kind(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"ndarray {x.dtype} shape {x.shape}"
    return type(x).__name__


def compare(slot: str, what: str, got: Any, want: Any, rtol: float = 1e-9, atol: float = 1e-12) -> list[str]:
    """[] when `got` matches `want` (type, shape, dtype, values incl. NaN/inf positions), else one message."""
    head = f"{slot}: {what}:"
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return [f"{head} expected a {type(want).__name__} of {len(want)}, got {_kind(got)}"]
        out: list[str] = []
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            out += compare(slot, f"{what}[{i}]", g, w, rtol, atol)
        return out[:1]
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return [
                f"{head} expected a dict with keys {sorted(want)},"
                f" got {sorted(got) if isinstance(got, dict) else _kind(got)}"
            ]
        for key in want:
            msg = compare(slot, f"{what}[{key!r}]", got[key], want[key], rtol, atol)
            if msg:
                return msg
        return []
    if want is None:
        return [] if got is None else [f"{head} expected None, got {got!r}"]
    if isinstance(want, np.generic) and isinstance(got, (np.ndarray, np.generic)):  # a NumPy scalar is a 0-d array
        want, got = np.asarray(want), np.asarray(got)
    if isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray):
            return [f"{head} expected {_kind(want)}, got {_kind(got)}"]
        if got.shape != want.shape:
            return [f"{head} expected shape {want.shape}, got {got.shape}"]
        if got.dtype != want.dtype:
            return [f"{head} expected dtype {want.dtype}, got {got.dtype}"]
        if want.dtype.kind in "biu" or want.dtype == bool:
            bad = [tuple(int(i) for i in b) for b in np.argwhere(got != want)[:1]]
            return [f"{head} differs at index {bad[0]}: got {got[bad[0]]!r}, expected {want[bad[0]]!r}"] if bad else []
        return _close(head, got.astype(np.float64), want.astype(np.float64), rtol, atol)
    if isinstance(want, (bool, np.bool_)):
        return (
            []
            if isinstance(got, (bool, np.bool_)) and bool(got) == bool(want)
            else [f"{head} expected {want!r}, got {got!r}"]
        )
    if isinstance(want, (int, np.integer)) and isinstance(got, (int, np.integer)) and not isinstance(got, bool):
        return [] if int(got) == int(want) else [f"{head} expected {int(want)}, got {int(got)}"]
    if isinstance(want, (int, float, np.floating, np.integer)):
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.floating, np.integer)):
            return [f"{head} expected a number, got {_kind(got)}"]
        return _close(head, np.float64(got), np.float64(want), rtol, atol)
    return [] if got == want else [f"{head} expected {want!r}, got {got!r}"]


def _close(head: str, got: Any, want: Any, rtol: float, atol: float) -> list[str]:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    with np.errstate(all="ignore"):
        both_finite = np.isfinite(got) & np.isfinite(want)
        ok = (np.isnan(got) == np.isnan(want)) & (np.isfinite(got) == np.isfinite(want))
        ok &= np.where(np.isinf(want), got == want, True)
        ok &= ~both_finite | (np.abs(got - want) <= atol + rtol * np.abs(want))
    if ok.all():
        return []
    idx = tuple(int(i) for i in np.argwhere(~ok)[0]) if got.ndim else ()
    g, w = got[idx], want[idx]
    where = f" at index {idx}" if idx else ""
    return [f"{head}{where} got {g:.10g}, expected {w:.10g} (rtol {rtol:g}, atol {atol:g})"]


def agree(learner: Any, reference: Any, name: str, cases: list[tuple[str, tuple[Any, ...]]],
          rtol: float = 1e-9, atol: float = 1e-12, **kwargs: Any) -> list[str]:
    """Call slot `name` on both sides for each (description, args) case; the first mismatch, or [].

    Arguments are deep-copied for each side, so a slot that mutates its input cannot hide a bug
    behind the reference's result (or the other way round). `kwargs` go to every call.
    """
    import copy

    for what, args in cases:
        want = getattr(reference, name)(*copy.deepcopy(args), **kwargs)
        got = getattr(learner, name)(*copy.deepcopy(args), **kwargs)
        out = compare(name, what, got, want, rtol, atol)
        if out:
            return out
    return []
