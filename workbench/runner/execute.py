"""Spawn the lab process and stream its events until it ends, times out or is cancelled.

The child runs in its own session (process group), so a terminal Ctrl-C reaches only the
parent, which then interrupts the whole group: the lab gets KeyboardInterrupt, keeps the
metrics it already flushed, and exits; after a grace period the group is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

GRACE_SECONDS = float(os.environ.get("WORKBENCH_GRACE_S", "5"))  # SIGINT → SIGKILL wait for a stopped lab

Event = dict[str, Any]


@dataclass
class Outcome:
    status: str  # done | crashed | timed_out | cancelled
    result: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artifacts: list[dict[str, str]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    returncode: int | None = None


def child_env(seed: int, thread_vars: dict[str, str], hash_seed: bool = True) -> dict[str, str]:
    """The child's environment: ours, plus PYTHONHASHSEED and thread counts set before it starts."""
    env = dict(os.environ)
    env.update(thread_vars)
    if hash_seed:
        env["PYTHONHASHSEED"] = str(seed)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _pump(stream: IO[str], sink: queue.Queue[str | None]) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def _interrupt(proc: subprocess.Popen[str], kill_now: threading.Event | None = None) -> None:
    """SIGINT the child's group; SIGKILL it after the grace period, or at once when `kill_now` is set
    (a second Ctrl-C). Never raises KeyboardInterrupt out of the wait: the caller still writes the record."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while proc.poll() is None and time.monotonic() < deadline and not (kill_now is not None and kill_now.is_set()):
        try:
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:
            break
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def execute(
    run_dir: Path,
    env: dict[str, str],
    *,
    timeout: float | None = None,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    kill_now: threading.Event | None = None,
) -> Outcome:
    outcome = Outcome(status="crashed")
    stderr = open(run_dir / "stderr.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.runner", str(run_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        text=True,
        encoding="utf-8",
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + timeout if timeout else None
    stopped_as: str | None = None
    try:
        while True:
            if deadline and time.monotonic() > deadline and stopped_as is None:
                stopped_as = "timed_out"
                outcome.error = f"timed out after {timeout:g} s"
                _interrupt(proc, kill_now)
            if cancel is not None and cancel.is_set() and stopped_as is None:
                stopped_as = "cancelled"
                outcome.error = getattr(cancel, "reason", None)
                _interrupt(proc, kill_now)
            try:
                line = lines.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                break
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            _absorb(outcome, event)
            if on_event is not None:
                on_event(event)
    except KeyboardInterrupt:
        stopped_as = "cancelled"
        _interrupt(proc, kill_now)
        with contextlib.suppress(KeyboardInterrupt):
            while (late := _drain(lines)) is not None:
                _absorb(outcome, late)
    finally:
        while True:
            try:
                outcome.returncode = proc.wait()
                break
            except KeyboardInterrupt:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        stderr.close()
    if stopped_as:
        outcome.status = stopped_as
    elif outcome.returncode == 0 and (run_dir / "results.json").exists():
        outcome.status = "done"
    elif outcome.returncode is not None and outcome.returncode < 0:
        outcome.status = "crashed"
        outcome.error = outcome.error or f"killed by signal {-outcome.returncode}"
    elif outcome.returncode == 130:
        outcome.status = "cancelled"
    else:
        outcome.status = "crashed"
        outcome.error = outcome.error or f"lab process exited with code {outcome.returncode}"
    return outcome


def _drain(lines: queue.Queue[str | None]) -> Event | None:
    try:
        line = lines.get(timeout=GRACE_SECONDS)
    except queue.Empty:
        return None
    if line is None:
        return None
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return {}


def _absorb(outcome: Outcome, event: Event) -> None:
    kind = event.get("type")
    if kind == "metric":
        outcome.records.append({k: v for k, v in event.items() if k != "type"})
    elif kind == "note":
        outcome.notes.append(event.get("text", ""))
    elif kind == "artifact":
        outcome.artifacts.append({"path": event["path"], "role": event.get("role", "artifact")})
    elif kind == "checkpoint":
        outcome.checkpoints.append(event.get("record", {}))
    elif kind == "result":
        outcome.result = event.get("result", {})
    elif kind == "error":
        outcome.error = event.get("error")
