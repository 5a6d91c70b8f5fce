"""Where Triton kernels run: compiled on a CUDA device, or under Triton's interpreter on the CPU.

Triton reads TRITON_INTERPRET when a function is decorated: its own library helpers when
triton is imported, our kernels when a kernel module is imported. `prepare(device)` therefore
has to run first (if triton was already imported in the other mode, it is imported afresh): a lab entry calls it with its
`cfg["device"]` and only then imports engine.systems.kernels.softmax (or flash, layernorm, bk_scan).
On "cpu" it sets TRITON_INTERPRET=1, so the same @triton.jit code runs on CPU tensors (slowly,
at small sizes: good for correctness, meaningless for speed). On "cuda" it leaves it unset.
A process whose kernels were already decorated in the other mode reports the mode it has.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

INSTALL = "pip install -e '.[gpu]'"
# the modules whose @triton.jit functions are decorated at import (the mode is fixed from then on)
KERNEL_MODULES = ("engine.systems.kernels.softmax", "engine.systems.kernels.layernorm", "engine.systems.kernels.flash", "engine.systems.kernels.bk_core")


def available() -> bool:
    return importlib.util.find_spec("triton") is not None


def prepare(device: str = "cpu") -> dict[str, Any]:
    """Choose the mode for this process before any kernel module is imported; returns what was chosen."""
    if not available():
        raise ImportError(f"triton is not installed: {INSTALL}")
    decorated = any(m in sys.modules for m in KERNEL_MODULES)
    if not decorated:
        if device == "cuda":
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = "1"
        if "triton" in sys.modules and _library_interpreting() != interpreting():
            _forget_triton()  # imported earlier in the other mode: its own @jit helpers (tl.max ...) must match
    import triton

    return {"triton": triton.__version__, "mode": mode(), "device": kernel_device()}


def _library_interpreting() -> bool:
    """Whether the imported triton decorated its own library functions for the interpreter."""
    import triton.language.standard as std
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(std.max, InterpretedFunction)


def _forget_triton() -> None:
    """Drop triton's Python modules (not its C extension, which cannot load twice) from sys.modules
    so that the next import reads TRITON_INTERPRET afresh."""
    for name in [m for m in sys.modules if (m == "triton" or m.startswith("triton.")) and not m.startswith("triton._C")]:
        del sys.modules[name]


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def mode() -> str:
    return "interpreter" if interpreting() else "compiled"


def kernel_device() -> str:
    """Where kernel inputs must live: CPU tensors under the interpreter, CUDA tensors otherwise."""
    return "cpu" if interpreting() else "cuda"
