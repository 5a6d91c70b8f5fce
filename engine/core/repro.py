"""Reproducibility: seed every RNG we can, and say which versions produced a number.

`seed_everything` covers Python's `random`, NumPy's legacy global RNG and torch (CPU and
CUDA). It cannot make `hash()` of strings reproducible: PYTHONHASHSEED is read once when
the interpreter starts, so it must be set by whoever launches the process (the workbench
runner does). Setting it here only affects child processes — Phase 00's break shows why.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys

PACKAGES = ("numpy", "torch", "scipy", "matplotlib", "safetensors")


def seed_everything(
    seed: int, *, set_hash_seed: bool = True, deterministic_torch: bool = True, torch: bool | None = None
) -> int:
    """Seed random, numpy and torch. Returns the seed.

    `torch=None` seeds torch when it is importable (importing it costs about a second);
    `torch=False` skips it, `torch=True` requires it. The workbench runner passes
    `torch="torch" in sys.modules` after importing the lab module, so a lab that uses torch
    imports it at module level.

    `set_hash_seed=False` is Phase 00's fault: the children this process starts then get a
    random hash seed, and string-set iteration order differs between them.
    """
    if set_hash_seed:
        os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    if torch is None:
        torch = "torch" in sys.modules or _importable("torch")
    if torch:
        import torch as th

        th.manual_seed(seed)
        if th.cuda.is_available():
            th.cuda.manual_seed_all(seed)
            if deterministic_torch:
                th.backends.cudnn.deterministic = True
                th.backends.cudnn.benchmark = False
    return seed


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def log_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Versions of Python and the numeric stack, read from package metadata (no heavy imports)."""
    versions = {"python": platform.python_version()}
    versions.update({name: package_version(name) for name in packages})
    return versions

