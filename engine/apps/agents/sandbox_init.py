"""The sandbox's first process: builds the jail, runs the untrusted child, then kills and reaps
everything the child left behind. Standard library only; run as `python -I -S sandbox_init.py SPEC`.

Two modes (chosen by engine/apps/agents/sandbox.py):
- "namespaces": started by `unshare --pid --net --mount --fork`, so this process is PID 1 of a
  fresh PID namespace with no network (only a loopback that is down). It mounts a tmpfs jail that
  holds read-only binds of the system directories and the interpreter, an empty writable /work,
  and nothing else: no /tmp of the host, no /work, /root or /home, so no other workspace. After the
  child returns, kill(-1) from PID 1 reaches every process in the namespace, whatever session it
  made for itself, and the namespace dies with this process.
- "process": no namespaces here. This process makes itself a child subreaper, so a grandchild that
  calls setsid() and whose parent exits is re-parented to us, not to init; afterwards every child
  we have is killed and reaped until none is left. The network is not isolated in this mode, and
  the caller refuses code that needs that.

Why a separate process: the cleanup must outlive the child's tricks, and the parent (the agent)
must never become PID 1 or a subreaper itself.
"""

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import time

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER = 36
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
LIB_IN_JAIL = "/opt/lynx"

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(src, target, fstype, flags, data=None):
    if _libc.mount(src and src.encode(), target.encode(), fstype and fstype.encode(), ctypes.c_ulong(flags),
                   data and data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def _bind_ro(src, target):
    _mount(src, target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC)


def _place(jail, path, is_dir):
    target = jail + path
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if is_dir:
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        open(target, "w").close()
    return target


def build_jail(spec):
    """Mount the jail on spec['jail'] and chroot into it; returns the child's working dir."""
    jail = spec["jail"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("none", jail, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    binds = [d for d in SYSTEM_DIRS if os.path.lexists(d)] + spec["extra_ro"]
    for path in binds:
        if os.path.islink(path) and path in SYSTEM_DIRS:  # /bin -> usr/bin: keep it a link
            os.symlink(os.readlink(path), jail + path)
            continue
        _bind_ro(path, _place(jail, path, True))
    for dev in DEVICES:
        if os.path.exists(dev):
            _mount(dev, _place(jail, dev, False), None, MS_BIND)
    if spec["lib"]:
        _bind_ro(spec["lib"], _place(jail, LIB_IN_JAIL + "/" + os.path.basename(spec["lib"]), True))
    work = _place(jail, "/work", True)
    _mount("none", work, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec['work_mb']}m,mode=0700")
    os.chown(work, spec["uid"], spec["gid"])
    os.symlink("/work", jail + "/tmp")
    _mount(None, jail, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chroot(jail)
    os.chdir("/")
    return "/work"


def _limits(lim):
    mb = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory_mb"] * mb, lim["memory_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["max_procs"], lim["max_procs"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["fsize_mb"] * mb, lim["fsize_mb"] * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _start_child(spec, workdir, lib):
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()  # the child's own session; init stays out of its signals
        if spec["drop"]:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
        os.chdir(workdir)
        _limits(spec["limits"])
        env = dict(spec["env"], HOME=workdir, TMPDIR=workdir, PWD=workdir, LYNX_SANDBOX_RUN=spec["marker"])
        if lib:
            env["LYNX_SANDBOX_LIB"] = lib
        os.execve(spec["python"], [spec["python"], "-I", "-S", "-c", spec["code"]], env)
    except BaseException as e:  # noqa: BLE001 - anything here is a setup failure, reported as such
        os.write(2, f"sandbox setup failed: {e!r}\n".encode())
    os._exit(127)


def _children(me):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                        kids.append(int(name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _kill_all(namespaces):
    """SIGKILL everything the child left and reap it; returns how many processes were killed."""
    killed, me = 0, os.getpid()
    while True:
        if namespaces:
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)  # from PID 1: every other process in the namespace
        else:
            for pid in _children(me):  # orphans come to us: we are their subreaper
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        try:
            pid, _ = os.waitpid(-1, 0)
            killed += 1
        except ChildProcessError:
            return killed


def main():
    spec = json.loads(sys.argv[1])
    status_fd = spec["status_fd"]
    os.set_inheritable(status_fd, False)
    namespaces = spec["mode"] == "namespaces"
    pidns = os.readlink("/proc/self/ns/pid") if namespaces else ""
    if namespaces:
        workdir, lib = build_jail(spec), (LIB_IN_JAIL if spec["lib"] else "")
    else:
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        workdir, lib = spec["workdir"], spec["lib"] and os.path.dirname(spec["lib"])
    deadline = time.monotonic() + spec["limits"]["timeout_s"]
    child = _start_child(spec, workdir, lib)
    status, rusage, timed_out = None, None, False
    while status is None:
        pid, st, ru = os.wait4(-1, os.WNOHANG)
        if pid == child:
            status, rusage = st, ru
        elif pid == 0:
            if time.monotonic() >= deadline:
                timed_out = True
                os.kill(child, signal.SIGKILL)
                _, status, rusage = os.wait4(child, 0)
            else:
                time.sleep(0.005)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    left_behind = _kill_all(namespaces)
    report = {"returncode": rc, "timed_out": timed_out, "left_behind_killed": left_behind,
              "peak_rss_kb": rusage.ru_maxrss, "pidns": pidns}
    os.write(status_fd, json.dumps(report).encode())
    os.close(status_fd)


if __name__ == "__main__":
    main()
