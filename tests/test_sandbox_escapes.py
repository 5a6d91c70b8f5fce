"""Each escape a hostile tool tried against the phase-32 sandbox, replayed: a setsid()+fork
grandchild that acts after the run, planted cloud secrets, a listener on 127.0.0.1, another
workspace's database. Survivors are found independently of the sandbox, by a unique token in
/proc/*/cmdline. Namespace-only escapes are skipped with the reason where `unshare` cannot work;
there the sandbox must refuse the code instead."""

from __future__ import annotations

import os
import secrets
import socket
import time

import pytest

from engine.apps.agents.attacks import session_escape_code
from engine.apps.agents.sandbox import Limits, SandboxRefused, isolation, run_code

LIM = Limits(cpu_s=5, timeout_s=60.0)  # wide: a loaded machine must not turn a pass into a timeout
MODE, WHY = isolation()
MODES = ["process", pytest.param("namespaces", marks=pytest.mark.skipif(MODE != "namespaces", reason=WHY))]
needs_ns = pytest.mark.skipif(MODE != "namespaces", reason=f"no namespaces here: {WHY}")


def _alive_with(token: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmd and state != "Z" and int(pid) != os.getpid():
            found.append(int(pid))
    return found


def _session_escape(mode: str, tmp_path, delay_s: float) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    os.chmod(tmp_path, 0o777)
    os.chmod(drop, 0o777)  # writable by the child's uid, so only the kill can stop the write
    target = str(drop / "escaped")
    token = secrets.token_hex(6)
    r = run_code(f"# {token}\n" + session_escape_code(delay_s, target), LIM, offline_vouched=True, mode=mode)
    assert r.ok and "detached" in r.stdout, r.stdout
    assert _alive_with(token) == []
    time.sleep(delay_s + 1.5)
    assert not os.path.exists(target) and _alive_with(token) == []


@pytest.mark.parametrize("mode", MODES)
def test_setsid_grandchild_dies_with_the_run(mode: str, tmp_path) -> None:
    _session_escape(mode, tmp_path, delay_s=1.5)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_setsid_grandchild_cannot_write_ten_seconds_later(mode: str, tmp_path) -> None:
    _session_escape(mode, tmp_path, delay_s=10.0)


@pytest.mark.parametrize("mode", MODES)
def test_planted_secrets_do_not_reach_the_child(mode: str, monkeypatch) -> None:
    aws, hf = "aws-" + secrets.token_hex(8), "hf_" + secrets.token_hex(8)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", aws)
    monkeypatch.setenv("HF_TOKEN", hf)
    r = run_code("import os\nprint(sorted(os.environ.items()))\n", LIM, offline_vouched=True, mode=mode)
    assert r.ok and "PATH" in r.stdout
    assert aws not in r.stdout and hf not in r.stdout and "AWS_SECRET" not in r.stdout and "HF_TOKEN" not in r.stdout


@needs_ns
def test_loopback_listener_is_unreachable() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        r = run_code(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=5)\n"
                     "print('CONNECTED')\n", LIM)
        listener.settimeout(0)
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert not r.ok and "CONNECTED" not in r.stdout and "unreachable" in r.stdout


@needs_ns
def test_other_workspace_is_invisible(tmp_path) -> None:
    other = tmp_path / "other-workspace"
    other.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(other, 0o755)
    db = other / "workbench.db"
    db.write_text("learner-secret-row")
    os.chmod(db, 0o644)
    r = run_code(f"import os\nprint(os.path.exists({str(db)!r}), os.path.exists('/work/main'), os.listdir('/'), flush=True)\n"
                 f"print(open({str(db)!r}).read())\n", LIM)
    assert "learner-secret-row" not in r.stdout and "False False" in r.stdout


def test_without_namespaces_unvouched_code_is_refused() -> None:
    with pytest.raises(SandboxRefused, match="no network namespace"):
        run_code("print(1)", LIM, mode="process")


@pytest.mark.skipif(os.geteuid() != 0, reason="uid dropping only happens as root")
@pytest.mark.parametrize("mode", MODES)
def test_each_run_has_its_own_unprivileged_uid(mode: str) -> None:
    uids = [int(run_code("import os\nprint(os.getuid())", LIM, offline_vouched=True, mode=mode).stdout) for _ in range(2)]
    assert all(u not in (0, 65534) for u in uids) and uids[0] != uids[1]


@needs_ns
def test_a_newer_namespace_with_a_recycled_name_is_not_this_runs_survivor() -> None:
    """The kernel reuses a freed namespace inode: another live sandbox's namespace may carry a
    finished run's pidns name. Its processes (a live PID 1 among them) are not that run's
    survivors; the run's own marker still finds a process of its own anywhere."""
    import subprocess

    from engine.apps.agents.sandbox import SandboxResult, _unshare_cmd, survivors

    marker = secrets.token_hex(8)
    other = subprocess.Popen([*_unshare_cmd(), "sleep", "30"], start_new_session=True)
    mine = subprocess.Popen(["sleep", "30"], env={"LYNX_SANDBOX_RUN": marker, "PATH": os.environ["PATH"]})
    try:
        deadline = time.monotonic() + 30
        inner: list[str] = []
        while not inner and time.monotonic() < deadline:  # unshare forks the namespace's PID 1
            with open(f"/proc/{other.pid}/task/{other.pid}/children") as f:
                inner = f.read().split()
            time.sleep(0.05)
        recycled = os.readlink(f"/proc/{inner[0]}/ns/pid")
        finished = SandboxResult(True, "", None, 0, 0.0, 0.0, pid=0, isolation="namespaces", marker=marker,
                                 pidns=recycled)
        assert survivors(finished) == [mine.pid]
    finally:
        for p in (other, mine):
            p.kill()
            p.wait()
