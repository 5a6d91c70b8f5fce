"""Compile a small C source into a shared library once, cached by a hash of its text, and load it.

Used by the labs that need compiled loops (BK-Core's recursions, the loop-order matmul, the
STREAM triad): Python loops would measure the interpreter, not the memory system. The
library lands under engine.core.cachefile.cache_root()/<group>/ and is renamed into place atomically,
so concurrent builders never load a half-written file. No compiler, or a failed build: None.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from engine.core.cachefile import cache_root


def cache_dir(group: str) -> Path:
    """Built libraries live in the one cache root (engine.core.cachefile.cache_root) under `group`."""
    return cache_root() / group


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build(source: str, name: str, group: str, flags: tuple[str, ...] = ("-O2",)) -> ctypes.CDLL | None:
    """The loaded library for `source`, compiling it on first use; None without a working compiler."""
    cc = compiler()
    if cc is None:
        return None
    key = hashlib.sha256((source + " ".join(flags) + platform.machine() + platform.system()).encode()).hexdigest()[:16]
    lib = cache_dir(group) / f"{name}_{key}.so"
    if not lib.exists():
        lib.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / f"{name}.c"
            src.write_text(source)
            out = Path(tmp) / lib.name
            cmd = [cc, *flags, "-fPIC", "-shared", "-std=c99", str(src), "-o", str(out), "-lm"]
            try:
                if subprocess.run(cmd, capture_output=True, timeout=120).returncode != 0:
                    return None
            except (OSError, subprocess.SubprocessError):
                return None
            os.replace(out, lib)
    return ctypes.CDLL(str(lib))
