"""`workbench doctor`: the parts of the course's Lab 00 environment checklist a program can check.

Each item is PASS, FAIL, N/A (cannot apply here, e.g. no GPU) or OPTIONAL (a developer
tool such as `just` that the labs do not need: reported, never a failure), with what was
seen. Editor, shell and OS-distribution items of the course's list are manual and not shown.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from engine.core.manifest import provenance


def _cmd(args: list[str]) -> str | None:
    if not shutil.which(args[0]):
        return None
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else None


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info  # optional, ships with scikit-learn setups

        libs = [f"{i['internal_api']} ({i.get('num_threads')} threads)" for i in threadpool_info()]
        return ", ".join(libs) or "none loaded"
    except ImportError:
        import numpy as np

        # numpy's stub says None, but mode="dicts" returns the build configuration
        cfg = cast(Any, np.show_config)(mode="dicts")
        return cfg.get("Build Dependencies", {}).get("blas", {}).get("name", "unknown")


def checks() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def add(item: str, ok: bool | None, seen: str, optional: bool = False) -> None:
        result = "N/A" if ok is None else ("PASS" if ok else ("OPTIONAL" if optional else "FAIL"))
        rows.append({"item": item, "result": result, "seen": seen})

    add("python >= 3.11", sys.version_info >= (3, 11), platform.python_version())
    in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
    add("running inside a virtual environment", in_venv, sys.prefix)
    git = _cmd(["git", "--version"])
    add("git installed", git is not None, git or "not found")
    state = provenance.git_state()
    if state is None:
        add("workbench checkout is clean (runs not quarantined)", None, "not a git checkout (installed package)")
    else:
        add("workbench checkout is clean (runs not quarantined)", not state["dirty"], f"{state['sha']} dirty={state['dirty']}")
    just = _cmd(["just", "--version"])
    add("just installed (developer tool, optional)", just is not None,
        just or "not found; only `just lint/test` need it (pip install rust-just)", optional=True)
    for name in ("numpy", "torch", "scipy", "textual", "plotext", "safetensors"):
        try:
            module = __import__(name)
            add(f"{name} importable", True, getattr(module, "__version__", "ok"))
        except ImportError as exc:
            add(f"{name} importable", False, str(exc))
    add("BLAS library", True, _blas())
    threads = os.environ.get("OMP_NUM_THREADS")
    add("OMP_NUM_THREADS set for deterministic CPU runs", None if threads is None else True, threads or "unset (the runner sets 1 for labs)")
    hw: dict[str, Any] = provenance.hardware()
    add("CPU cores", (hw["cores"] or 0) >= 2, f"{hw['cpu_model']}, {hw['cores']} cores")
    add("RAM >= 8 GiB", (hw["ram_gb"] or 0) >= 8, f"{hw['ram_gb']} GiB")
    gpu = hw["gpu"]
    add("CUDA GPU", True if gpu else None, f"{gpu['name']} ({gpu['memory_gb']} GiB)" if gpu else "none (GPU labs will be skipped)")
    home = Path(os.environ.get("WORKBENCH_HOME") or Path.cwd())
    add("workspace writable", os.access(home, os.W_OK), str(home))
    return rows


def print_doctor(as_json: bool) -> int:
    rows = checks()
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table = Table(title="workbench doctor")
        for col in ("item", "result", "seen"):
            table.add_column(col)
        style = {"PASS": "green", "FAIL": "red", "N/A": "dim", "OPTIONAL": "yellow"}
        for r in rows:
            table.add_row(r["item"], f"[{style[r['result']]}]{r['result']}[/]", r["seen"])
        Console(highlight=False).print(table)
    return 1 if any(r["result"] == "FAIL" for r in rows) else 0
