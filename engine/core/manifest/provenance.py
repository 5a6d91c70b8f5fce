"""What a manifest records about where a run happened: git state, hardware, allowlisted env.

The hardware record is a summary of engine.systems.hardware's probes (profile.machine_profile for the
CPU and memory, gpu.smi_record for the GPU): there is one probe of the machine, and this is
what a manifest keeps of it. Read without importing torch. Only an allowlist of environment
variables is recorded — never os.environ as a whole.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from functools import cache
from pathlib import Path

from engine.systems.hardware.gpu import smi_record as gpu_info
from engine.systems.hardware.profile import machine_profile

ENV_ALLOWLIST = ("PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
REPO = Path(__file__).resolve().parents[3]

__all__ = ["ENV_ALLOWLIST", "git_state", "gpu_info", "hardware", "recorded_env", "thread_env"]


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(repo: Path | None = None) -> dict[str, object] | None:
    """{sha, dirty} of the workbench checkout, or None when it is not a git tree (an installed wheel)."""
    repo = repo or REPO
    if not (repo / ".git").exists() or not shutil.which("git"):
        return None
    sha = _run(["git", "rev-parse", "HEAD"], repo)
    if sha is None:
        return {"sha": None, "dirty": True}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], repo)
    return {"sha": sha, "dirty": bool(status)}


@cache
def hardware() -> dict[str, object]:
    """The manifest's `hardware` field: CPU model, logical cores, usable threads, RAM, GPU, OS."""
    prof = machine_profile()
    return {
        "cpu_model": prof["cpu_model"],
        "cores": prof["logical_cpus"],
        "threads": prof["usable_cpus"],
        "ram_gb": prof["ram_gb"],
        "gpu": gpu_info(),
        "os": platform.platform(terse=True),
        "kernel": prof["kernel"],
    }


def thread_env(threads: int | None) -> dict[str, str]:
    """Thread-count variables for the child. Set before its interpreter starts, so BLAS obeys them."""
    n = str(threads) if threads else os.environ.get("OMP_NUM_THREADS", "1")
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def recorded_env(env: dict[str, str]) -> dict[str, str | None]:
    return {key: env.get(key) for key in ENV_ALLOWLIST}
