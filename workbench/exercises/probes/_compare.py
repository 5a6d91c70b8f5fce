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
    if isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray):
            return [f"{head} expected {_kind(want)}, got {_kind(got)}"]
        if got.shape != want.shape:
            return [f"{head} expected shape {want.shape}, got {got.shape}"]
        if got.dtype != want.dtype:
            return [f"{head} expected dtype {want.dtype}, got {got.dtype}"]
        if want.dtype.kind in "biu" or want.dtype == bool:
            bad = np.argwhere(got != want)
            return [f"{head} differs at index {tuple(bad[0])}: got {got[tuple(bad[0])]!r}, expected {want[tuple(bad[0])]!r}"] if bad.size else []
        return _close(head, got.astype(np.float64), want.astype(np.float64), rtol, atol)
    if isinstance(want, (bool, np.bool_)):
        return [] if isinstance(got, (bool, np.bool_)) and bool(got) == bool(want) else [f"{head} expected {want!r}, got {got!r}"]
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
