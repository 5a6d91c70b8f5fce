"""Start and stop the tutor server (engine.systems.serve.run) as a child process on 127.0.0.1.

`with ServerProcess(spec, workdir) as srv:` writes the spec, starts the child in its own session,
waits for its port file and a 200 from /healthz (bounded), and on exit sends SIGTERM, then SIGKILL
to the whole group if it has not gone within the grace period.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.systems.serve.client import call

ROOT = Path(__file__).resolve().parents[3]
# One BLAS thread per server: its decode worker is the only compute thread, and a multi-threaded
# BLAS on a busy machine waits for cores it does not get (a 32x128 by 128x512 sgemm measured
# 0.05 ms with one thread and 66 ms with two, on this 2-core box under load).
ONE_BLAS_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class ServerProcess:
    def __init__(self, spec: dict[str, Any], workdir: str | Path, start_timeout_s: float = 60.0,
                 grace_s: float = 10.0) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.spec = {**spec, "port_file": str(self.dir / "port")}
        self.start_timeout_s, self.grace_s = start_timeout_s, grace_s
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.healthz_s = float("nan")  # start to first 200 from /healthz

    def __enter__(self) -> ServerProcess:
        spec_path = self.dir / "server.json"
        spec_path.write_text(json.dumps(self.spec), encoding="utf-8")
        Path(self.spec["port_file"]).unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **ONE_BLAS_THREAD}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.systems.serve.run", str(spec_path)], cwd=ROOT, env=env,
                                     start_new_session=True, stdout=(self.dir / "server.out").open("wb"),
                                     stderr=subprocess.STDOUT)
        deadline = t0 + self.start_timeout_s
        port_file = Path(self.spec["port_file"])
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                self._fail(f"server exited with {self.proc.returncode}")
            if port_file.exists():
                self.port = int(port_file.read_text())
                try:
                    if call(self.port, "GET", "/healthz", timeout_s=5).status == 200:
                        self.healthz_s = time.perf_counter() - t0
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        self._fail(f"no healthy server within {self.start_timeout_s:.0f} s")
        return self

    def _fail(self, why: str) -> None:
        self.__exit__()
        tail = (self.dir / "server.out").read_text(errors="replace")[-800:]
        raise RuntimeError(f"{why}; server output: {tail}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(self.grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (all its threads), from /proc."""
        with open(f"/proc/{self.proc.pid}/stat") as f:  # type: ignore[union-attr]
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, float]:
        return call(self.port, "GET", "/v1/stats").json()
