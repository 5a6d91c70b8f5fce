"""Run untrusted tool code in a child process with resource limits and a wall-clock backstop.

Limits (set in the child before it runs anything): CPU seconds, address space, number of
processes, file size, and no core dumps. The child gets its own session, so on return or
timeout the whole process group is killed and nothing is left behind. RLIMIT_NPROC is ignored
for root, so when this runs as root the child drops to an unprivileged uid (nobody).

Why: a tool that loops, eats memory or forks must come back as an error naming the limit, and
never take the agent (or the machine) down with it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 5
    memory_mb: int = 256
    max_procs: int = 16
    fsize_mb: int = 10
    timeout_s: float = 5.0


@dataclass
class SandboxResult:
    ok: bool
    stdout: str
    killed_by: str | None  # cpu | memory | nproc | timeout | signal | error, None when ok
    returncode: int
    seconds: float
    peak_rss_mb: float
    pid: int = 0  # also the process group id, for the lingering-process check


def _set_limits(lim: Limits) -> None:
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (lim.cpu_s, lim.cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (lim.memory_mb * mb, lim.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim.max_procs, lim.max_procs))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim.fsize_mb * mb, lim.fsize_mb * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _classify(rc: int, out: str) -> str | None:
    if rc == 0:
        return None
    if rc == -signal.SIGXCPU or rc == -signal.SIGKILL and "cpu" in out:
        return "cpu"
    if "MemoryError" in out:
        return "memory"
    if "BlockingIOError" in out or "Resource temporarily unavailable" in out:
        return "nproc"
    if "File too large" in out or rc == -signal.SIGXFSZ:
        return "fsize"
    return "signal" if rc < 0 else "error"


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) whose process group is `pgid`, read from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(name))
    return found


def _others_can_run(path: str) -> bool:
    """Can an unprivileged user execute `path` (every parent directory searchable)?"""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    dirs = [os.sep.join(parts[:i]) or os.sep for i in range(1, len(parts))]
    return all(os.stat(d).st_mode & stat.S_IXOTH for d in dirs) and bool(os.stat(real).st_mode & stat.S_IXOTH)


def interpreter() -> tuple[str, bool]:
    """(python to run the child with, whether the child drops root). Tool code needs only the
    standard library, so a system python that nobody can execute is preferred when root."""
    if os.geteuid() != 0:
        return sys.executable, False
    for cand in (sys.executable, shutil.which("python3", path="/usr/bin:/usr/local/bin") or ""):
        if cand and _others_can_run(cand):
            return cand, True
    return sys.executable, False  # still root: the NPROC limit will not hold, the fork test is bounded


def run_code(code: str, limits: Limits = Limits()) -> SandboxResult:
    """Run `python -I -S -c code` under `limits`; stdout and stderr come back merged."""
    python, drop = interpreter()
    with tempfile.TemporaryFile() as sink:  # a file, not a pipe: forked children cannot hold it open
        t0 = time.perf_counter()
        proc = subprocess.Popen([python, "-I", "-S", "-c", code], stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd="/tmp",
                                user=NOBODY if drop else None, group=NOBODY if drop else None,
                                extra_groups=[] if drop else None, preexec_fn=lambda: _set_limits(limits))
        timed_out = False
        try:
            proc.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        with contextlib.suppress(ProcessLookupError):  # the child and forked grandchildren share the group
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 2.0  # killed grandchildren are reparented and reaped by init
        while group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        sink.seek(0)
        out = sink.read()
    text = out.decode(errors="replace")
    rss = _peak_rss_mb(text)
    kind = "timeout" if timed_out else _classify(proc.returncode, text)
    return SandboxResult(kind is None, text, kind, proc.returncode, seconds, rss, proc.pid)


def _peak_rss_mb(text: str) -> float:
    """The child reports its own peak RSS on a PEAK_RSS_KB line when it gets the chance."""
    for line in text.splitlines():
        if line.startswith("PEAK_RSS_KB "):
            return int(line.split()[1]) / 1024
    return float("nan")


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sandboxed_tool_call(name: str, args: dict, limits: Limits = Limits()) -> dict:
    """One phase-31 tool call in a sandboxed child (the tools need only the standard library).
    Arguments go in and the observation comes out as JSON; a crash becomes {"error": ...}."""
    import json

    code = (f"import json, sys\nsys.path.insert(0, {ROOT!r})\nfrom engine.tools import grammar\n"
            f"from engine.agents.loop import call_tool\n"
            f"print('OBS ' + json.dumps(call_tool({name!r}, json.loads({json.dumps(args)!r}))))\n")
    r = run_code(code, limits)
    for line in r.stdout.splitlines():
        if line.startswith("OBS "):
            return json.loads(line[4:])
    return {"error": f"tool crashed in the sandbox ({r.killed_by}): {r.stdout.strip()[-200:]}"}
