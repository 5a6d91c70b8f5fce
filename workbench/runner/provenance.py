"""What a manifest records about where a run happened: git state, hardware, allowlisted env.

Read without importing torch: the GPU comes from `nvidia-smi` when it exists. Only an
allowlist of environment variables is recorded — never os.environ as a whole.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from functools import cache
from pathlib import Path

ENV_ALLOWLIST = ("PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(repo: Path | None = None) -> dict[str, object] | None:
    """{sha, dirty} of the workbench checkout, or None when it is not a git tree (an installed wheel)."""
    repo = repo or Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists() or not shutil.which("git"):
        return None
    sha = _run(["git", "rev-parse", "HEAD"], repo)
    if sha is None:
        return {"sha": None, "dirty": True}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], repo)
    return {"sha": sha, "dirty": bool(status)}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _torch_cuda_runtime() -> str | None:
    """torch's CUDA runtime version, read from torch/version.py without importing torch."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text()
    except OSError:
        return None
    m = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return m.group(1) if m else None


def gpu_info() -> dict[str, object] | None:
    """GPU 0 as nvidia-smi reports it (name, capability, memory, driver) plus torch's CUDA runtime."""
    if not shutil.which("nvidia-smi"):
        return None
    out = _run(["nvidia-smi", "--query-gpu=name,compute_cap,memory.total,driver_version", "--format=csv,noheader,nounits"])
    if not out:
        return None
    name, cap, mem, driver = (part.strip() for part in out.splitlines()[0].split(","))
    return {"name": name, "capability": cap, "memory_gb": round(float(mem) / 1024, 1), "driver_version": driver,
            "cuda_runtime": _torch_cuda_runtime(), "count": len(out.splitlines())}


@cache
def hardware() -> dict[str, object]:
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": _ram_gb(),
        "gpu": gpu_info(),
        "os": platform.platform(terse=True),
        "kernel": platform.release(),
    }


def thread_env(threads: int | None) -> dict[str, str]:
    """Thread-count variables for the child. Set before its interpreter starts, so BLAS obeys them."""
    n = str(threads) if threads else os.environ.get("OMP_NUM_THREADS", "1")
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


def recorded_env(env: dict[str, str]) -> dict[str, str | None]:
    return {key: env.get(key) for key in ENV_ALLOWLIST}
