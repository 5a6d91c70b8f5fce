"""The escapes a hostile tool tries, each with the observation that says whether the sandbox held.

Resource attacks (loop, memory, fork bomb) must be stopped by the limit they hit; escape attacks
must find nothing: no process that outlives the run (setsid + fork), no planted secret in the
environment, no connection to a listener on 127.0.0.1, no file of another workspace. Each attack
returns a row the phase-32 lab records; the lab only counts.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from engine.apps.agents.sandbox import Limits, SandboxRefused, run_code, survivors

_REPORT_RSS = "import resource\nprint('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)\n"
RESOURCE_ATTACKS = {
    "infinite_loop": ("cpu", "while True:\n    pass\n"),
    "memory_eater": ("memory", _REPORT_RSS + "x = bytearray(2 * 1024**3)\n"),
    # bounded: even if the process limit failed, at most 64 sleepers that the cleanup removes
    "fork_bomb": ("nproc", "import os, time\nfor _ in range(64):\n    if os.fork() == 0:\n"
                           "        time.sleep(30)\n        os._exit(0)\n"),
}
PLANTED = ("AWS_SECRET_ACCESS_KEY", "HF_TOKEN")


@dataclass
class AttackRow:
    name: str
    blocked: bool
    how: str  # the limit that stopped it, "refused", or what the child saw
    seconds: float
    left_behind: int


@contextmanager
def planted_secrets() -> Iterator[dict[str, str]]:
    """Fresh fake secrets in this process's environment for the duration; restored after."""
    values = {k: "planted-" + secrets.token_hex(8) for k in PLANTED}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield values
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def session_escape_code(delay_s: float, path: str) -> str:
    """A child that detaches a grandchild into its own session; the grandchild writes `path` later."""
    return (f"import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        time.sleep({delay_s})\n        open({path!r}, 'w').write('escaped')\n    os._exit(0)\n"
            f"print('detached')\n")


def _run(code: str, lim: Limits, offline: bool):
    try:
        return run_code(code, lim, offline_vouched=offline), None
    except SandboxRefused as e:
        return None, str(e)


def run_attacks(lim: Limits) -> list[AttackRow]:
    rows = []
    for name, (expected, code) in RESOURCE_ATTACKS.items():
        r, _ = _run(code, lim, offline=True)
        rows.append(AttackRow(name, (not r.ok) and r.killed_by == expected, r.killed_by or "none", r.seconds,
                              len(survivors(r))))
    marker = tempfile.mktemp(prefix="lynx-escape-")  # noqa: S306 - only a name the grandchild would write
    r, _ = _run(session_escape_code(2.0, marker), lim, offline=True)
    left = len(survivors(r))
    rows.append(AttackRow("session_escape", left == 0, f"{r.left_behind_killed} killed at cleanup", r.seconds, left))
    with planted_secrets() as planted:
        r, _ = _run("import os\nprint(sorted(os.environ.items()))\n", lim, offline=True)
    leaked = [k for k, v in planted.items() if v in r.stdout]
    rows.append(AttackRow("secret_reader", r.ok and not leaked, f"saw {len(leaked)} planted secrets", r.seconds, 0))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0)
        port = listener.getsockname()[1]
        r, refused = _run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                          "print('CONNECTED')\n", lim, offline=False)
        try:
            listener.accept()[0].close()
            accepted = True
        except BlockingIOError:
            accepted = False
    rows.append(AttackRow("loopback_connect", not accepted and (refused is not None or "CONNECTED" not in r.stdout),
                          "refused" if refused else _last_error(r.stdout), r.seconds if r else 0.0, 0))
    with tempfile.TemporaryDirectory(prefix="lynx-other-workspace-") as other:
        os.chmod(other, 0o755)
        db = os.path.join(other, "workbench.db")
        secret = "learner-data-" + secrets.token_hex(8)
        with open(db, "w") as f:
            f.write(secret)
        os.chmod(db, 0o644)
        r, refused = _run(f"print(open({db!r}).read())\n", lim, offline=False)
    rows.append(AttackRow("workspace_reader", refused is not None or secret not in r.stdout,
                          "refused" if refused else _last_error(r.stdout), r.seconds if r else 0.0, 0))
    return rows


def _last_error(out: str) -> str:
    lines = [ln for ln in out.strip().splitlines() if ln]
    return lines[-1][:80] if lines else "no output"
