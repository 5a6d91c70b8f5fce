"""Helper processes the TUI starts (e.g. a roofline measurement), killed when the app quits.

A thread cannot be stopped, and a 30-second measurement on a worker thread would keep the
process alive after the learner quits. So long measurements run as a child process whose
handle the app keeps; quitting (key, SIGHUP) kills it, and the workspace keeps whatever the
child wrote atomically before that (nothing half-written).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

ERROR_TAIL = 400


def run_helper(
    app: Any, argv: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run `argv` to the end (blocking: call it on a worker thread). Returns (exit code, stderr tail).

    `env` adds variables to the child's environment (e.g. thread counts)."""
    root = str(Path(__file__).resolve().parents[2])  # so the child imports this workbench, installed or not
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    app.helpers.add(proc)
    try:
        _, err = proc.communicate()
    finally:
        app.helpers.discard(proc)
    return proc.returncode, (err or "").strip()[-ERROR_TAIL:]


def kill_helpers(app: Any, wait: float = 2.0) -> None:
    """Terminate every helper process still running, then make sure it is gone."""
    for proc in list(app.helpers):
        if proc.poll() is None:
            proc.terminate()
    for proc in list(app.helpers):
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
