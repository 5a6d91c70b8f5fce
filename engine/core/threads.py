"""Thread pinning for tiny models: NumPy's OpenBLAS (`blas_threads`) and torch (`torch_threads`).

Pin NumPy's OpenBLAS to n threads for a block of code (no threadpoolctl dependency).

The Mini-GPT's matrices are tiny (at most 256 x 200): with two OpenBLAS threads on a busy
2-core box one such matmul measured 20-60 ms instead of 0.05 ms, a 6x slower training step.
The workbench runner already exports OPENBLAS_NUM_THREADS=1; this makes the same true when the
engine runs in-process (tests, notebooks). Linux only: elsewhere, or if the library is not
found, it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

_SET = ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_", "openblas_set_num_threads")
_GET = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads")
_lib: tuple[object, object] | None | bool = False


def _openblas() -> tuple[object, object] | None:
    global _lib
    if _lib is not False:
        return _lib  # type: ignore[return-value]
    _lib = None
    try:
        import numpy  # noqa: F401  (loads the library)

        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line and ".so" in line}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            setter = next((getattr(lib, s) for s in _SET if hasattr(lib, s)), None)
            getter = next((getattr(lib, g) for g in _GET if hasattr(lib, g)), None)
            if setter is not None and getter is not None:
                _lib = (setter, getter)
                break
    except OSError:
        _lib = None
    return _lib


@contextlib.contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    fns = _openblas()
    if fns is None:
        yield
        return
    setter, getter = fns
    before = int(getter())  # type: ignore[operator]
    setter(int(n))  # type: ignore[operator]
    try:
        yield
    finally:
        setter(before)  # type: ignore[operator]


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """torch's intra-op threads set to n for a block, then restored. Tiny models run faster on
    one thread, and far faster on a shared, loaded box (a 13 ms step measured 400 ms with two)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
