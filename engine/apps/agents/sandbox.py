"""Run untrusted tool code in a jailed child: scrubbed environment, its own empty working
directory, no network, resource limits, and everything it spawned killed and reaped afterwards.

Where `unshare` works (root, or unprivileged user namespaces) the child runs in fresh PID, network
and mount namespaces inside a read-only tmpfs jail (see sandbox_init.py): it cannot see the host's
/tmp, /work, /root or /home (so no other workspace), has no network at all, and a grandchild that
calls setsid() still dies with the namespace. Without it ("process" mode) the same limits, scrubbed
environment and subreaper cleanup hold, but the network and filesystem are not isolated, so code
that could use them is refused unless the caller vouches that it is offline (the phase-31 grammar
tools are pure functions).

Limits (set in the child before it runs anything): CPU seconds, address space, number of
processes, file size, no core dumps, and a wall-clock timeout. RLIMIT_NPROC is ignored for root,
so as root the child drops to an unprivileged uid of its own: NPROC counts processes per uid
machine-wide, so a shared uid (nobody) let one run's fork bomb make another run's exec fail, and
let one sandboxed run signal another.

Why: a tool that loops, eats memory, forks, reads secrets or phones home must come back as an
error naming the limit, and never take the agent, the machine or a learner's data with it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

UID_BASE, UID_SPAN = 600_000, 100_000  # as root each run gets its own unprivileged uid (no passwd entry)
ENV_ALLOWLIST = ("LANG", "LC_ALL", "TZ")  # copied from the parent when set; nothing else is
BASE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
UNSHARE_FLAGS = ("--pid", "--fork", "--kill-child", "--net", "--mount", "--mount-proc", "--propagation", "private")
INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_init.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BACKSTOP_S = 10.0  # the init enforces timeout_s; this only catches a wedged init


class SandboxRefused(RuntimeError):
    """The code needs an isolation this machine cannot give (no network namespace)."""


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 5
    memory_mb: int = 256
    max_procs: int = 16
    fsize_mb: int = 10
    timeout_s: float = 5.0
    work_mb: int = 16  # the child's writable /work (namespace mode)


@dataclass
class SandboxResult:
    ok: bool
    stdout: str
    killed_by: str | None  # cpu | memory | nproc | fsize | timeout | signal | error, None when ok
    returncode: int
    seconds: float
    peak_rss_mb: float
    pid: int = 0  # the sandbox's first process (its process group and session)
    isolation: str = "process"  # namespaces | process
    left_behind_killed: int = 0  # processes the child left that the cleanup killed
    marker: str = ""  # LYNX_SANDBOX_RUN in the child's environment, to find survivors by
    pidns: str = ""  # the child's PID namespace (namespace mode)


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


def _proc_field(pid: str, name: str) -> str:
    with open(f"/proc/{pid}/{name}", "rb") as f:
        return f.read().decode(errors="replace")


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) whose process group is `pgid`, read from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = _proc_field(name, "stat").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(name))
    return found


def _pid_in_own_namespace(pid: str) -> int:
    """The process's PID inside its innermost PID namespace (the last NSpid field)."""
    line = next(ln for ln in _proc_field(pid, "status").splitlines() if ln.startswith("NSpid:"))
    return int(line.split()[-1])


def survivors(r: SandboxResult) -> list[int]:
    """Live processes left by one sandbox run, whatever session or group they moved to: anything
    still in its PID namespace, or carrying its marker in the environment it inherited.

    A namespace is named by an inode number, and the kernel hands a freed number to the next
    namespace it makes: with sandboxes running side by side, another run's namespace can carry
    this run's old name (seen: two phase-32 labs in parallel, 2 runs in 40, each counting the
    other's tool as an escape). This run's init (PID 1 there) has exited before survivors are
    counted, and its exit kills every process in the namespace, so a namespace of that name with
    a live PID 1 is a newer one: its processes are not this run's. The marker still finds this
    run's processes wherever they are."""
    found = set(group_members(r.pid)) if r.pid else set()
    in_ns, newer_namespace = [], False
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        with contextlib.suppress(OSError, StopIteration):
            if r.pidns and os.readlink(f"/proc/{name}/ns/pid") == r.pidns:
                in_ns.append(int(name))
                newer_namespace |= _pid_in_own_namespace(name) == 1
            if (r.marker and f"LYNX_SANDBOX_RUN={r.marker}" in _proc_field(name, "environ")
                    and _proc_field(name, "stat").rsplit(")", 1)[1].split()[0] != "Z"):
                found.add(int(name))
    if not newer_namespace:
        found.update(in_ns)
    return sorted(found)


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
        return os.path.realpath(sys.executable), False
    for cand in (sys.executable, shutil.which("python3", path="/usr/bin:/usr/local/bin") or ""):
        if cand and _others_can_run(cand):
            return os.path.realpath(cand), True
    return os.path.realpath(sys.executable), False  # still root: NPROC will not hold; the fork test is bounded


def _unshare_cmd() -> list[str]:
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, *UNSHARE_FLAGS, "--"]


@functools.lru_cache(maxsize=1)
def isolation() -> tuple[str, str]:
    """("namespaces" | "process", why). Probed once: can this machine make PID, network and
    mount namespaces and mount a tmpfs in them?"""
    if shutil.which("unshare") is None:
        return "process", "no unshare binary (util-linux)"
    try:
        p = subprocess.run([*_unshare_cmd(), "sh", "-c", "mount -t tmpfs none /mnt 2>/dev/null || "
                            "mount -t tmpfs none /tmp"], capture_output=True, timeout=15, env=BASE_ENV)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "process", f"unshare failed: {e}"
    if p.returncode != 0:
        return "process", f"unshare refused namespaces: {p.stderr.decode(errors='replace').strip()[:200]}"
    return "namespaces", "PID, network and mount namespaces via unshare"


def scrubbed_env() -> dict[str, str]:
    env = dict(BASE_ENV)
    env.update({k: os.environ[k] for k in ENV_ALLOWLIST if k in os.environ})
    return env


def _extra_ro(python: str) -> list[str]:
    """Directories the jail must show for `python` to start: its prefix when outside /usr."""
    prefix = os.path.dirname(os.path.dirname(python))
    return [] if prefix.startswith("/usr") or prefix in ("", "/") else [prefix]


def run_code(code: str, limits: Limits = Limits(), *, offline_vouched: bool = False, lib: bool = False,
             mode: str | None = None) -> SandboxResult:
    """Run `python -I -S -c code` under `limits`; stdout and stderr come back merged.

    `lib` exposes the engine package read-only (import it after
    `sys.path.insert(0, os.environ['LYNX_SANDBOX_LIB'])`). `mode` forces "process" (tests);
    without namespaces the call is refused unless `offline_vouched`."""
    auto, why = isolation()
    mode = mode or auto
    if mode == "namespaces" and auto != "namespaces":
        raise SandboxRefused(f"namespaces asked for but unavailable: {why}")
    if mode == "process" and not offline_vouched:
        raise SandboxRefused(f"no network namespace on this machine ({why}); refusing to run code that "
                             "could open sockets or read other workspaces")
    python, drop = interpreter()
    run_uid = UID_BASE + secrets.randbelow(UID_SPAN)
    uid, gid = (run_uid, run_uid) if drop else (os.getuid(), os.getgid())
    marker = secrets.token_hex(8)
    base = tempfile.mkdtemp(prefix="lynx-sandbox-")
    os.chmod(base, 0o711)  # the child may pass through to its own work dir, not list its siblings
    workdir = os.path.join(base, "work")
    os.mkdir(workdir, 0o700)
    os.chown(workdir, uid, gid)
    spec = {"mode": mode, "code": code, "python": python, "drop": drop, "uid": uid, "gid": gid,
            "env": scrubbed_env(), "marker": marker, "jail": base, "workdir": workdir,
            "lib": os.path.join(ROOT, "engine") if lib else "", "extra_ro": _extra_ro(python),
            "work_mb": limits.work_mb, "limits": {"cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb,
                                                  "max_procs": limits.max_procs, "fsize_mb": limits.fsize_mb,
                                                  "timeout_s": limits.timeout_s}}
    rfd, wfd = os.pipe()
    spec["status_fd"] = wfd
    cmd = [python, "-I", "-S", INIT, json.dumps(spec)]
    if mode == "namespaces":
        cmd = _unshare_cmd() + cmd
    try:
        with tempfile.TemporaryFile() as sink:  # a file, not a pipe: forked children cannot hold it open
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=base, env=scrubbed_env(), pass_fds=(wfd,))
            os.close(wfd)
            wfd = -1
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=limits.timeout_s + BACKSTOP_S)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the init's group; --kill-child takes the namespace
            proc.wait()
            seconds = time.perf_counter() - t0
            with os.fdopen(rfd, "rb") as status_pipe:
                rfd = -1
                raw = status_pipe.read()
            sink.seek(0)
            text = sink.read().decode(errors="replace")
    finally:
        for fd in (rfd, wfd):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(base, ignore_errors=True)
    status = json.loads(raw) if raw else None
    if status is None:
        return SandboxResult(False, text, "error", proc.returncode, seconds, float("nan"), proc.pid, mode,
                             0, marker)
    rc = status["returncode"]
    kind = "timeout" if status["timed_out"] else _classify(rc, text)
    return SandboxResult(kind is None, text, kind, rc, seconds, status["peak_rss_kb"] / 1024, proc.pid, mode,
                         status["left_behind_killed"], marker, status["pidns"])


# The phase-31 grammar tools: pure functions over built-in tables, no file or network access.
OFFLINE_TOOLS = frozenset({"conjugate", "lookup_irregular_verb", "lookup_spanish", "check_subject_verb_agreement"})
TOOL_LIMITS = Limits(cpu_s=5, timeout_s=30.0)  # a benign call takes ~0.1 s; the wall clock is only a backstop


def sandboxed_tool_call(name: str, args: dict, limits: Limits = TOOL_LIMITS) -> dict:
    """One phase-31 tool call in a sandboxed child (the tools need only the standard library).
    Arguments go in and the observation comes out as JSON; a crash or a refusal becomes {"error": ...}."""
    code = (f"import json, os, sys\nsys.path.insert(0, os.environ['LYNX_SANDBOX_LIB'])\n"
            f"from engine.apps.tools import grammar\nfrom engine.apps.agents.loop import call_tool\n"
            f"print('OBS ' + json.dumps(call_tool({name!r}, json.loads({json.dumps(args)!r}))))\n")
    try:
        r = run_code(code, limits, lib=True, offline_vouched=name in OFFLINE_TOOLS)
    except SandboxRefused as e:
        return {"error": f"tool {name!r} refused: {e}"}
    for line in r.stdout.splitlines():
        if line.startswith("OBS "):
            return json.loads(line[4:])
    return {"error": f"tool crashed in the sandbox ({r.killed_by}): {r.stdout.strip()[-200:]}"}
